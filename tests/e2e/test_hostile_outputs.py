"""Outputs under the hostile run of 2026-12-04: a refused run loses nothing, snapshots keep the newest files and
never collide with the other outputs or the input.

Each test runs the real `python -m edge` on real files, as a user would.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from edge.cli import build_parser
from tests.conftest import ROOT, run_module
from tests.e2e.test_edge_stops import edge, one_error_line
from tests.live import EdgeProcess, wait_for

ASTRONAUT = ROOT / "edge" / "assets" / "astronaut.jpg"


def test_a_refused_run_leaves_an_existing_jsonl_as_it_was(tmp_path: Path) -> None:
    """D2: a check that fails after the JSONL sink is made (--snapshots onto a file, --show without a display) used
    to empty the old results; now they are kept, and a missing JSONL is not created."""
    results, not_a_folder, missing = tmp_path / "results.jsonl", tmp_path / "notadir", tmp_path / "new.jsonl"
    old = '{"frame": 1}\n{"frame": 2}\n'
    results.write_text(old)
    not_a_folder.touch()
    result = edge("--source", "demo", "--jsonl", str(results), "--snapshots", str(not_a_folder))
    assert "is a file; snapshots need a folder" in one_error_line(result)
    assert results.read_text() == old
    result = edge("--source", "demo", "--jsonl", str(missing), "--snapshots", str(not_a_folder))
    one_error_line(result)
    assert not missing.exists()
    ok = edge("--source", "demo", "--demo-frames", "2", "--quiet", "--jsonl", str(results))  # a real run starts anew
    assert ok.returncode == 0, ok.stderr
    assert [line.startswith('{"source": "demo"') for line in results.read_text().splitlines()] == [True, True]


def face_folder(folder: Path, count: int) -> Path:
    """`count` copies of the astronaut: a folder source detects each image on its own, so a face appears
    `count` times and earns `count` snapshots."""
    folder.mkdir()
    for index in range(count):
        shutil.copy(ASTRONAUT, folder / f"{index:02d}.jpg")
    return folder


def snapshot_run(photos: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    result = run_module("edge", "--source", str(photos), "--quiet", "--snapshots", str(out), *args, env=env,
                        timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "written 6, dropped 0" in result.stdout
    return {p.name for p in out.iterdir()}


def test_snapshots_keep_the_newest_after_the_time_zone_goes_back(tmp_path: Path) -> None:
    """D3: the names were local time and pruning sorted by name, so a run after the zone moved back (a Pi set to
    its zone after its first boot in UTC, or DST ending) deleted each new snapshot as soon as it was written. Now
    the newest --keep are this run's, whatever the zone."""
    photos, out = face_folder(tmp_path / "photos", 6), tmp_path / "snaps"
    first = snapshot_run(photos, out, "--keep", "4", "--device-name", "hall", env={"TZ": "Asia/Tokyo"})
    assert len(first) == 4
    second = snapshot_run(photos, out, "--keep", "4", "--device-name", "hall", env={"TZ": "America/New_York"})
    assert len(second) == 4 and not second & first  # the second run's four, none of the first run's


def test_two_cameras_in_one_snapshot_folder_keep_their_own_files(tmp_path: Path) -> None:
    """D41: names carried no device, so two cameras writing one folder pruned each other's files and could not be
    told apart. Now each keeps its own newest --keep, named by --device-name."""
    photos, out = face_folder(tmp_path / "photos", 6), tmp_path / "snaps"
    hall = snapshot_run(photos, out, "--keep", "3", "--device-name", "hall")
    both = snapshot_run(photos, out, "--keep", "3", "--device-name", "door")
    assert len(hall) == 3 and all(name.startswith("hall_") for name in hall)
    assert hall < both and len(both) == 6 and sum(name.startswith("door_") for name in both) == 3


def test_a_folder_named_like_a_snapshot_does_not_stop_pruning(tmp_path: Path) -> None:
    """E10 (hostile run 2026-12-07): a folder named like the oldest snapshot could not be deleted, so pruning gave up
    on every write (--keep never honoured again), the counters called written files dropped, and the run ended
    with exit 2 on an error naming no option."""
    photos, out = face_folder(tmp_path / "photos", 6), tmp_path / "snaps"
    planted = out / "hall_000001_20261201-000000-000Z_1_Happy.jpg"
    planted.mkdir(parents=True)
    names = snapshot_run(photos, out, "--keep", "3", "--device-name", "hall")  # exit 0, "written 6, dropped 0"
    assert planted.is_dir()
    assert len([name for name in names if name.startswith("hall_")]) == 3 + 1  # the newest 3, and the folder


def test_two_runs_of_one_device_into_one_folder_are_refused(tmp_path: Path) -> None:
    """E11 (hostile run 2026-12-07): two cameras on one host without --device-name both named their snapshots by
    the host name, so they shared numbers and pruned each other's files. The second run is now refused."""
    out = tmp_path / "snaps"
    first = EdgeProcess("--source", "demo", "--loop", "--quiet", "--snapshots", str(out))
    try:
        wait_for(lambda: any(out.glob(".*.lock")), 120, "the first run's lock")
        second = run_module("edge", "--source", "demo", "--demo-frames", "2", "--quiet", "--snapshots", str(out),
                            timeout=120)  # fmt: skip
        line = one_error_line(second)
        assert "snapshots here, and each would prune the other's; give each camera its own --device-name" in line
        other = run_module("edge", "--source", "demo", "--demo-frames", "2", "--quiet", "--snapshots", str(out),
                           "--device-name", "door", timeout=120)  # fmt: skip
        assert other.returncode == 0, other.stderr
    finally:
        first.stop()


def test_snapshots_onto_the_summary_or_the_source_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    """D4: `--summary-json X --snapshots X` did the whole run, then could not write the summary. D5: `--snapshots`
    into the `--source` folder read its own face crops back in as inputs (with --loop, most frames were its own).
    Both are now refused in one line before the first frame, like the other outputs."""
    out = tmp_path / "out"
    result = edge("--source", "demo", "--quiet", "--summary-json", str(out), "--snapshots", str(out))
    assert one_error_line(result) == (
        f"edge: error: {out}: --snapshots and --summary-json name the same file; give --snapshots another path"
    )
    assert not out.exists()
    photos = face_folder(tmp_path / "photos", 3)
    result = edge("--source", str(photos), "--loop", "--max-frames", "12", "--quiet", "--snapshots", str(photos))
    assert one_error_line(result) == (
        f"edge: error: {photos}: --snapshots and --source name the same folder; give --snapshots another path"
    )
    assert sorted(p.name for p in photos.iterdir()) == ["00.jpg", "01.jpg", "02.jpg"]


def test_a_file_name_with_escape_sequences_is_shown_escaped(tmp_path: Path) -> None:
    """D15: terminal lines carry names from outside (an image's file name, a label); their control characters are
    shown as escapes, so a name cannot retitle the terminal or clear the screen."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(ASTRONAUT, photos / "a\x1b]2;owned\x07\x1b[2Jb.jpg")
    result = edge("--source", str(photos))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "a\\x1b]2;owned\\x07\\x1b[2Jb.jpg: Happy" in result.stdout


def test_save_with_a_suffix_that_is_no_video_is_refused_not_made_a_folder(tmp_path: Path) -> None:
    """D39: `--save out.txt`, or a typo such as `--save clip.mp`, silently made a folder of JPEGs by that name. Any
    suffix but a video's is now refused in one line (a folder is a name without a suffix, or an existing folder)."""
    for name in ("out.txt", "clip.mp"):
        target = tmp_path / name
        result = edge("--source", "demo", "--demo-frames", "2", "--save", str(target))
        assert one_error_line(result).startswith(f"edge: error: {target}: --save cannot write {target.suffix} files;")
        assert not target.exists()
    existing = tmp_path / "frames.v2"
    existing.mkdir()
    assert edge("--source", "demo", "--demo-frames", "2", "--quiet", "--save", str(existing)).returncode == 0
    assert len(list(existing.iterdir())) == 2


def test_a_failed_snapshot_write_is_said_once(tmp_path: Path) -> None:
    """D35: a snapshot that could not be written (a full disk) was said twice: `edge: snapshots: …` and then the
    run's final `edge: error: …`. The run still goes on, finishes the summary and exits 2, with one line."""
    photos, out, summary = face_folder(tmp_path / "photos", 2), tmp_path / "snaps", tmp_path / "summary.json"
    result = run_module("edge", "--source", str(photos), "--quiet", "--snapshots", str(out), "--summary-json",
                        str(summary), max_file_bytes=5000, timeout=300)  # fmt: skip  # the 4 KB probe fits, a face not
    line = one_error_line(result)
    assert line.startswith(f"edge: error: --snapshots {out}/") and line.endswith("cannot write (File too large)"), line
    assert json.loads(summary.read_text())["outputs"]["snapshots"]["written"] == 0


def test_keep_without_snapshots_is_refused() -> None:
    """D36: `--keep 5` without `--snapshots` was silently ignored, while `--mqtt-password-file` without `--mqtt` is
    refused."""
    result = edge("--source", "demo", "--demo-frames", "2", "--keep", "5")
    assert one_error_line(result) == "edge: error: --keep needs --snapshots (it is how many snapshot files to keep)"


def test_snapshot_folder_messages_name_the_folder_given(tmp_path: Path) -> None:
    """D37: messages named a probe file the user never gave (`DIR/snapshot.jpg: cannot write the snapshots here`),
    and a folder holding a subfolder named snapshot.jpg was refused as `is a folder`."""
    afile = tmp_path / "afile"
    afile.touch()
    result = edge("--source", "demo", "--demo-frames", "2", "--snapshots", str(afile / "sub"))
    assert one_error_line(result) == (
        f"edge: error: --snapshots {afile / 'sub'}: cannot write the snapshots here (Not a directory)"
    )
    out = tmp_path / "snaps"
    (out / "snapshot.jpg").mkdir(parents=True)
    ok = edge("--source", "demo", "--demo-frames", "2", "--quiet", "--snapshots", str(out))
    assert ok.returncode == 0, ok.stderr


def test_the_options_table_lists_every_option() -> None:
    """D38: docs/edge.md's options table (the README says "every option") did not list --snapshots or --keep."""
    table = (ROOT / "docs" / "edge.md").read_text().split("## Options", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(--[a-z0-9-]+)", table))
    options = {s for action in build_parser()._actions for s in action.option_strings if s.startswith("--")}
    assert options - {"--help"} <= listed, sorted(options - listed - {"--help"})

"""The run loop and the file outputs under hostile use: nothing lost, nothing crashes, one line says what failed.

Each test runs the real `python -m edge` as a user would (a subprocess, real files, pipes and signals) and checks
the promise: one line and exit 2 for bad input or a failed output, every other output finished, nothing broken
renamed into place, nothing on stderr but our own lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.common.limits import OPENCV_CAP
from edge.sources.images import demo_frames
from tests.conftest import ROOT, run_module, subprocess_env
from tests.e2e.test_edge_stops import EDGE, count_frames, edge, edge_into_fifo, hidden, one_error_line

FULL_DISK = 20_000  # RLIMIT_FSIZE in bytes: a disk that fills after a few frames of video


def test_a_video_cut_short_by_a_full_disk_is_kept_as_partial_and_exit_2(tmp_path: Path) -> None:
    """A video cut short by a full disk (FFmpeg only logs its failed writes) is kept as v.partial.mp4, never renamed
    into place as whole; one line, exit 2, and the summary is still written."""
    video, summary = tmp_path / "v.mp4", tmp_path / "s.json"
    result = run_module(
        "edge", "--source", "demo", "--demo-frames", "12", "--width", "320", "--height", "240", "--quiet",
        "--save", str(video),
        "--summary-json", str(summary), max_file_bytes=FULL_DISK, timeout=300,
    )  # fmt: skip
    partial = tmp_path / "v.partial.mp4"
    line = one_error_line(result)
    assert line == f"edge: error: {video}: the video is incomplete (File too large); kept what was written as {partial}"
    assert not video.exists() and partial.stat().st_size > 0 and hidden(tmp_path) == []
    assert "12 frames, " in result.stdout  # the summary is still printed and written
    assert json.loads(summary.read_text())["errors"] == [line.removeprefix("edge: error: ")]


def test_sighup_stops_like_sigterm_keeping_the_video_and_the_summary(tmp_path: Path) -> None:
    """SIGHUP (an SSH session closing) stops a run like SIGTERM: the video is finished and the summary written."""
    video, summary = tmp_path / "x.mp4", tmp_path / "s.json"
    process = subprocess.Popen(
        [*EDGE, "--source", "demo", "--demo-frames", "100000", "--width", "320", "--height", "240",
         "--save", str(video), "--summary-json", str(summary)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for _ in range(3):
        assert process.stdout.readline().startswith("frame ")
    process.send_signal(signal.SIGHUP)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    data = json.loads(summary.read_text())
    assert data["stopped"] == "interrupted" and f"{data['frames']} frames, " in stdout
    assert count_frames(video) == data["frames"] and hidden(tmp_path) == []


@pytest.mark.slow
def test_an_output_that_is_the_input_or_another_output_is_refused(tmp_path: Path) -> None:
    """An output naming the input (`--jsonl v.mp4 --source v.mp4`) or another output is refused before the first
    frame, by path, symlink or hard link, and the input is untouched; a device such as /dev/null may be named twice."""
    clip = tmp_path / "v.mp4"
    assert edge("--source", "demo", "--demo-frames", "3", "--quiet", "--save", str(clip)).returncode == 0
    size = clip.stat().st_size
    link, hard = tmp_path / "link.mp4", tmp_path / "hard.mp4"
    link.symlink_to(clip.name)
    hard.hardlink_to(clip)
    for jsonl in (clip, link, hard):
        result = edge("--source", str(clip), "--jsonl", str(jsonl))
        assert (
            one_error_line(result)
            == f"edge: error: {jsonl}: --jsonl and --source name the same file; give --jsonl another path"
        )
        assert "frame " not in result.stdout and clip.stat().st_size == size
    summary = tmp_path / "s.json"
    result = edge("--source", "demo", "--demo-frames", "2", "--jsonl", str(summary), "--summary-json", str(summary))
    assert one_error_line(result).startswith(f"edge: error: {summary}: --summary-json and --jsonl name the same file")
    assert not summary.exists()
    devnull = edge("--source", "demo", "--demo-frames", "2", "--jsonl", "/dev/null", "--summary-json", "/dev/null")
    assert devnull.returncode == 0, devnull.stderr  # a device is written in place: naming it twice is fine


def test_saved_frames_of_images_with_one_stem_do_not_collide(tmp_path: Path) -> None:
    """a.png, a.jpg and a.JPG are saved as three files, each named after the whole image name."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for name, image in zip(("a.png", "a.jpg", "a.JPG"), demo_frames(3, (160, 120)), strict=True):
        assert cv2.imwrite(str(photos / name), image)
    result = edge("--source", str(photos), "--quiet", "--save", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.JPG.jpg", "a.jpg.jpg", "a.png.jpg"]


def test_a_full_disk_under_jsonl_still_finishes_the_summary_then_exit_2(tmp_path: Path) -> None:
    """A full disk under --jsonl keeps the lines before, writes the summary (stopped: output failed), and exits 2."""
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "s.json"
    result = run_module(
        "edge", "--source", "demo", "--demo-frames", "50", "--width", "320", "--height", "240", "--quiet",
        "--jsonl", str(jsonl), "--summary-json", str(summary), max_file_bytes=2500, timeout=300,
    )  # fmt: skip
    line = one_error_line(result)
    assert line == f"edge: error: {jsonl}: cannot write JSONL (File too large); kept the lines before"
    data = json.loads(summary.read_text())
    assert data["stopped"] == "output failed" and data["errors"] == [line.removeprefix("edge: error: ")]
    assert f"{data['frames']} frames, " in result.stdout and "[output failed]" in result.stdout
    lines = jsonl.read_text().splitlines()
    assert 0 < len(lines) == data["frames"] - 1 and all(json.loads(x)["source"] == "demo" for x in lines)


def test_jsonl_into_a_fifo_or_a_pipe_is_written_as_it_comes(tmp_path: Path) -> None:
    """--jsonl into a FIFO or a pipe is written as lines come; --jsonl-max-mb on one is refused without blocking."""
    fifo = tmp_path / "out.fifo"
    result, received = edge_into_fifo(fifo, "--source", "demo", "--demo-frames", "3", "--quiet", "--jsonl", str(fifo))
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["frame"] for x in received.splitlines()] == [0, 1, 2]

    piped = edge("--source", "demo", "--demo-frames", "3", "--quiet", "--jsonl", "/dev/stdout")  # stdout is a pipe
    assert piped.returncode == 0, piped.stderr
    assert [json.loads(x)["frame"] for x in piped.stdout.splitlines() if x.startswith("{")] == [0, 1, 2]

    for target in (str(fifo), "/dev/stdout"):  # no reader on the FIFO: refused without blocking on its open
        result = edge("--source", "demo", "--jsonl", target, "--jsonl-max-mb", "1")
        assert one_error_line(result) == (
            f"edge: error: {target}: --jsonl-max-mb rotates a file, this is a pipe or device; give a file or no"
            " --jsonl-max-mb"
        )


def test_jsonl_to_a_file_that_cannot_be_a_log_is_refused_before_the_first_frame() -> None:
    """`--jsonl /proc/version` is one line naming the file, before the first frame."""
    result = edge("--source", "demo", "--demo-frames", "3", "--jsonl", "/proc/version")
    assert one_error_line(result).startswith("edge: error: /proc/version: cannot write JSONL (")
    assert "frame " not in result.stdout


@pytest.mark.parametrize(
    ("option", "value", "wanted"),
    [
        ("--detect-width", "1", "'1' is not 0 or an integer >= 64"),  # under YuNet's smallest input
        ("--detect-width", "32", "'32' is not 0 or an integer >= 64"),
        ("--scale-factor", "1.00001", "'1.00001' is not a number from 1.01 to 2"),  # so fine a pyramid it needs ~41 GB
        ("--scale-factor", "3", "'3' is not a number from 1.01 to 2"),
        ("--threads", "100000", "'100000' is not an integer from 1 to 64"),  # far past any core count
        ("--serve", "١٢٣٤", "'١٢٣٤': the port must be a number from 1 to 65535"),  # Arabic-Indic digits
    ],
)
def test_out_of_range_values_are_refused_at_parse_time(option: str, value: str, wanted: str) -> None:
    result = edge("--source", "demo", "--demo-frames", "2", "--detector", "yunet", option, value)
    assert (
        one_error_line(result, prog="python -m edge")
        == f"python -m edge: error: argument {option}: {wanted} (see --help)"
    )


def test_the_bounds_themselves_are_accepted() -> None:
    result = edge("--source", "demo", "--demo-frames", "2", "--quiet", "--detector", "yunet", "--detect-width", "64",
                  "--threads", "64")  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = edge("--source", "demo", "--demo-frames", "2", "--quiet", "--scale-factor", "1.01")
    assert result.returncode == 0, result.stderr


SETPRIV = shutil.which("setpriv")
as_nobody = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to run edge as user nobody"
)


def edge_as_nobody(*args: str) -> subprocess.CompletedProcess:
    """`python -m edge ARGS` as the unprivileged user nobody (root reads and writes every folder)."""
    command = [SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *EDGE, *args]
    return subprocess.run(command, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder user nobody can reach (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="fer-edge-19-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@as_nobody
def test_a_folder_or_image_the_user_cannot_read_is_one_line(shared_folder: Path) -> None:
    """A folder or an image the user cannot read is one line naming it (Permission denied)."""
    photos = shared_folder / "photos"
    photos.mkdir()
    image = photos / "a.png"
    assert cv2.imwrite(str(image), next(demo_frames(1, (64, 48))))
    photos.chmod(0o000)
    assert one_error_line(edge_as_nobody("--source", str(photos))) == (
        f"edge: error: {photos}: cannot read this folder (Permission denied)"
    )
    photos.chmod(0o755)
    image.chmod(0o000)
    assert one_error_line(edge_as_nobody("--source", str(image))) == (
        f"edge: error: {image}: cannot be read (Permission denied)"
    )


@as_nobody
def test_save_into_a_read_only_folder_is_refused_before_the_first_frame(shared_folder: Path) -> None:
    """--save into a folder the user cannot write is refused before the first frame."""
    out = shared_folder / "out"
    out.mkdir(mode=0o555)
    out.chmod(0o555)
    result = edge_as_nobody("--source", "demo", "--demo-frames", "3", "--save", str(out))
    assert (
        one_error_line(result)
        == f"edge: error: {out}: cannot write annotated images into this folder (Permission denied)"
    )
    assert "frame " not in result.stdout


def test_a_full_disk_under_save_dir_names_the_real_reason_and_finishes(tmp_path: Path) -> None:
    """A full disk under --save DIR names the image and the real reason (File too large); the summary is written."""
    out, summary = tmp_path / "out", tmp_path / "s.json"
    result = run_module(
        "edge", "--source", "demo", "--demo-frames", "5", "--quiet", "--save", str(out),
        "--summary-json", str(summary), max_file_bytes=5000, timeout=300,
    )  # fmt: skip
    line = one_error_line(result)
    assert line == f"edge: error: {out / 'demo_000000.jpg'}: cannot write (File too large)"
    data = json.loads(summary.read_text())
    assert data["stopped"] == "output failed" and data["errors"] == [line.removeprefix("edge: error: ")]
    assert "[output failed]" in result.stdout and list(out.iterdir()) == []


def test_async_detect_on_with_still_images_is_refused(tmp_path: Path) -> None:
    """--async-detect on with still images is refused in one line: a worker's detection lands frames later, and
    each image is its own scene; --async-detect auto runs them."""
    photos = tmp_path / "photos"
    photos.mkdir()
    assert cv2.imwrite(str(photos / "a.png"), next(demo_frames(1)))
    for source in (photos, photos / "a.png"):
        result = edge("--source", str(source), "--async-detect", "on")
        assert one_error_line(result) == (
            f"edge: error: --async-detect on follows faces from frame to frame; {source} is unrelated still images,"
            " each detected on its own (use --async-detect auto or off)"
        )
    assert edge("--source", str(photos), "--async-detect", "auto").returncode == 0


def test_odd_images_leave_stderr_empty(tmp_path: Path) -> None:
    """Cut or odd images are skipped and named in the summary; libjpeg, libpng and OpenCV print nothing on stderr."""
    photos = tmp_path / "photos"
    photos.mkdir()
    image = next(demo_frames(1, (160, 120)))
    assert cv2.imwrite(str(photos / "a.png"), image) and cv2.imwrite(str(photos / "b.jpg"), image)
    for name, source in (("c.jpg", "b.jpg"), ("d.png", "a.png"), ("e.jpg", "a.png")):
        data = (photos / source).read_bytes()
        (photos / name).write_bytes(data[: len(data) // 2])
    (photos / "f.tif").write_bytes(b"II*\x00" + bytes(20))
    result = edge("--source", str(photos), "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    assert "skipped 3 unreadable: d.png, e.jpg, f.tif" in result.stdout


def huge_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A PNG whose header says WIDTHxHEIGHT, with a few bytes of data: decoding it would allocate it all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(64))))
    return path


def test_an_image_over_the_size_cap_is_refused_from_its_header(tmp_path: Path) -> None:
    """The size cap: a 20000x20000 PNG (400 MP, 1.2 GB decoded) is refused before it is decoded."""
    photos = tmp_path / "photos"
    photos.mkdir()
    big = huge_png(photos / "big.png")
    assert one_error_line(edge("--source", str(big))) == (
        f"edge: error: {big}: not read: over the 50-megapixel limit for an image"
    )
    assert cv2.imwrite(str(photos / "small.png"), next(demo_frames(1, (160, 120))))
    result = edge("--source", str(photos), "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    assert "1 frames, " in result.stdout and "skipped 1 unreadable: big.png" in result.stdout


def test_a_one_pixel_high_strip_in_a_folder_costs_no_other_image(tmp_path: Path) -> None:
    """D17: a 4000x1 image crashed every detector with a traceback, losing the folder's run and its summary."""
    photos, summary = tmp_path / "photos", tmp_path / "summary.json"
    photos.mkdir()
    assert cv2.imwrite(str(photos / "a_strip.png"), np.zeros((1, 4000, 3), np.uint8))
    shutil.copy(ROOT / "edge" / "assets" / "astronaut.jpg", photos / "b_photo.jpg")
    result = edge("--source", str(photos), "--quiet", "--summary-json", str(summary))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    written = json.loads(summary.read_text())
    assert written["frames"] == 2 and written["faces"] == 1


def test_the_image_size_cap_holds_in_a_shell_that_never_set_opencvs_variable(tmp_path: Path) -> None:
    """D16: OpenCV reads OPENCV_IO_MAX_IMAGE_PIXELS once, when cv2 loads; edge sets it before its first cv2
    import, so a user's shell (which lacks the variable this test process inherited) gets the cap too."""
    big = huge_png(tmp_path / "big.png")
    result = run_module("edge", "--source", str(big), timeout=300, unset=(OPENCV_CAP,))
    assert one_error_line(result) == f"edge: error: {big}: not read: over the 50-megapixel limit for an image"


def test_a_video_over_the_size_cap_is_refused_before_a_frame_is_decoded(tmp_path: Path) -> None:
    """The size cap for videos: one black 8200x6200 frame (51 MP) makes a small file whose frames are refused from
    the container's header, in one line, while a video just under the cap plays."""
    big, under = tmp_path / "big.avi", tmp_path / "under.avi"
    for path, size in ((big, (8200, 6200)), (under, (8000, 6200))):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 1, size)
        writer.write(np.zeros((size[1], size[0], 3), np.uint8))
        writer.release()
    assert one_error_line(edge("--source", str(big))) == (
        f"edge: error: {big}: 8200x6200 frames are over the 50-megapixel limit"
    )
    result = edge("--source", str(under), "--quiet", "--detector", "haar")
    assert result.returncode == 0, result.stderr

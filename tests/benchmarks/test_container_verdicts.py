"""The container's verdicts from measured rounds (no podman: the figures are given), and its section of results.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.container import container_markdown, container_verdicts
from tests.conftest import error_lines, run_module

MACHINE = {"cpu": "a CPU", "cores": 2, "date": "2026-12-07T00:00:00"}


def section(size_mb: float, first: list[float], inside: list[float], outside: list[float]) -> dict:
    return {"image": "localhost/fer-edge:latest", "base": "b", "size_mb": size_mb, "first_frame_s": first,
            "fps_inside": inside, "fps_outside": outside, "frames": 300, "options": ["--quiet"]}  # fmt: skip


def test_the_fps_verdict_takes_each_rounds_pair_so_a_busy_round_weighs_on_both() -> None:
    # round 2 ran on a busy machine: both its runs are slow, its pair is even
    measured = section(417, [0.8, 0.9, 6.0], inside=[60.0, 30.0, 57.0], outside=[60.0, 30.0, 60.0])
    size, first, fps = container_verdicts(measured)
    assert size["met"] and first["met"] and first["value"] == "0.90 s"  # the median, one slow start aside
    assert fps["met"] and fps["value"].startswith("+0.0%")
    slower = section(451, [5.5, 6.0, 6.5], inside=[50.0, 25.0, 50.0], outside=[60.0, 30.0, 60.0])
    assert [v["met"] for v in container_verdicts(slower)] == [False, False, False]


def test_the_markdown_has_each_round_and_the_verdicts() -> None:
    measured = section(417, [0.8], inside=[57.0], outside=[60.0])
    results = {"container": measured, "machine": MACHINE, "command": "python -m benchmarks --container"}
    results["verdicts"] = container_verdicts(measured)
    text = container_markdown(results)
    assert "| 1 | 0.80 s | 57.0 | 60.0 | -5.0% |" in text
    assert "| image size <= 450 MB (uncompressed) | 417 MB | yes |" in text
    assert container_markdown({"container": {"skipped": "podman is not installed"}, "machine": MACHINE}) == (
        "Container: not measured (podman is not installed)."
    )


def test_container_with_another_run_or_the_readme_is_refused_before_any_work(tmp_path: Path) -> None:
    zoo = (["--zoo"], "--zoo and --container: choose one")
    readme = (
        ["--readme", "docs/performance.md"],
        "--container and --readme: the container's figures belong in docs/container.md; choose one",
    )
    for extra, line in (zoo, readme):
        result = run_module("benchmarks", "--container", *extra, "--out", str(tmp_path / "b"))
        assert result.returncode == 2
        assert error_lines(result.stderr) == [f"benchmarks: error: {line}"]
    assert not (tmp_path / "b").exists()

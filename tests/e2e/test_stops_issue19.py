"""Issue #19, the run loop and the file outputs: data loss, crashes and messages.

Each test runs the real `python -m edge` as a user would (a subprocess, real files, pipes and signals) and checks
the promise: one line and exit 2 for bad input or a failed output, every other output finished, nothing broken
renamed into place, nothing on stderr but our own lines.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from tests.conftest import ROOT, run_module
from tests.e2e.test_edge_stops import EDGE, count_frames, hidden, one_error_line

FULL_DISK = 20_000  # RLIMIT_FSIZE in bytes: a disk that fills after a few frames of video


def test_a_video_cut_short_by_a_full_disk_is_kept_as_partial_and_exit_2(tmp_path: Path) -> None:
    """Case 5: FFmpeg only logs its failed writes; the cut video must not be renamed into place as whole."""
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
    """Case 6: an SSH session that closes sends SIGHUP; it used to kill the run with the video a temporary."""
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

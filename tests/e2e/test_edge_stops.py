"""The edge runtime under misuse: bad options, bad outputs, closed pipes, signals, corrupt inputs and odd images.

Each test runs the real `python -m edge` (or the real Pipeline) with the shipped model, as a user would, and
checks the promise: one line and exit 2 for bad input, and nothing lost however a run stops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import Pipeline
from edge.common.boxes import iou
from edge.sources.images import demo_frames
from tests.conftest import ROOT, error_lines, run_module

EDGE = [sys.executable, "-m", "edge"]


def edge(*args: str) -> subprocess.CompletedProcess:
    return run_module("edge", *args, timeout=300)


def one_error_line(result: subprocess.CompletedProcess, prog: str = "edge") -> str:
    """The run failed with exit 2 and printed one `prog: error:` line, nothing else."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result.stderr
    return lines[0]


def count_frames(video: Path) -> int:
    capture = cv2.VideoCapture(str(video))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames


def edge_into_fifo(fifo: Path, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    """`edge ARGS` writing into the new FIFO `fifo` (named in ARGS), and what a reader on it received."""
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    result = edge(*args)
    reader.join(timeout=60)
    return result, received[0] if received else ""


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("option", "value", "wanted"),
    [
        ("--threads", "0", "an integer from 1 to 64"),
        ("--threads", "-1", "an integer from 1 to 64"),
        ("--scale-factor", "1.0", "a number from 1.01 to 2"),
        ("--detect-width", "-1", "0 or an integer >= 64"),
        ("--detect-every", "0", "a positive integer"),
        ("--max-frames", "-5", "an integer >= 0"),
        ("--width", "0", "a positive integer"),
        ("--height", "-480", "a positive integer"),
        ("--fps", "0", "a positive number"),
        ("--jsonl-keep", "0", "a positive integer"),
        ("--jsonl-max-mb", "-1", "a number >= 0"),
        ("--min-neighbors", "-1", "an integer >= 0"),
        ("--min-face", "0", "a positive integer"),
        ("--demo-frames", "0", "a positive integer"),
        ("--smooth", "1.0", "a number in [0, 1)"),
        ("--smooth", "nan", "a number in [0, 1)"),
    ],
)
def test_bad_option_values_are_refused_at_parse_time(option: str, value: str, wanted: str) -> None:
    line = one_error_line(edge("--source", "demo", option, value), prog="python -m edge")
    assert line == f"python -m edge: error: argument {option}: {value!r} is not {wanted} (see --help)"


def test_zero_keeps_its_meaning_for_detect_width_and_max_frames() -> None:
    result = edge("--source", "demo", "--demo-frames", "2", "--detect-width", "0", "--max-frames", "0", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "2 frames, " in result.stdout and "(2 frames with a face)" in result.stdout


def test_version() -> None:
    result = edge("--version")
    assert result.returncode == 0 and result.stdout.startswith("python -m edge (fer-edge) ")


@pytest.mark.parametrize("case", ["summary-is-a-folder", "save-under-proc", "save-folder-is-a-file", "save-gif"])
def test_outputs_are_checked_before_the_run(tmp_path: Path, case: str) -> None:
    target = tmp_path / "out"
    option, value, message = {
        "summary-is-a-folder": ("--summary-json", str(target), "is a folder; the summary needs a file name"),
        "save-under-proc": ("--save", "/proc/x/o.mp4", "cannot write the video here (No such file or directory)"),
        "save-folder-is-a-file": ("--save", str(target), "exists and is not a folder"),
        "save-gif": ("--save", str(tmp_path / "out.gif"), "--save cannot write .gif files; give a video (.mp4,"),
    }[case]
    if case == "summary-is-a-folder":
        target.mkdir()
    if case == "save-folder-is-a-file":
        target.write_text("x")
    result = edge("--source", "demo", "--demo-frames", "3", option, value)
    assert one_error_line(result).startswith(f"edge: error: {value}: {message}")
    assert "frame " not in result.stdout  # refused before any frame was processed


def test_closed_pipe_ends_the_run_quietly_and_finishes_the_outputs(tmp_path: Path) -> None:
    """`python -m edge | head -2`: exit 0, no traceback, and the summary of what was done is written."""
    summary, jsonl = tmp_path / "summary.json", tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [*EDGE, "--source", "demo", "--demo-frames", "500", "--summary-json", str(summary), "--jsonl", str(jsonl)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0, stderr
    assert all(line.startswith("frame ") for line in lines)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    data = json.loads(summary.read_text())
    assert data["stopped"] == "output closed" and 2 <= data["frames"] < 500
    assert len(jsonl.read_text().splitlines()) == data["frames"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("jsonl", [[], ["--jsonl", "-"]], ids=["lines", "jsonl"])
def test_stdout_to_a_full_device_is_one_line(jsonl: list[str]) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*EDGE, "--source", "demo", "--demo-frames", "3", *jsonl],
            cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert one_error_line(result) == "edge: error: stdout: cannot write (No space left on device)"


def test_summary_through_a_symlink_and_into_a_fifo(tmp_path: Path) -> None:
    """A symlink's real target is written and the link kept; a FIFO is written in place, not replaced."""
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    link.symlink_to(real.name)
    assert edge("--source", "demo", "--demo-frames", "2", "--quiet", "--summary-json", str(link)).returncode == 0
    assert link.is_symlink() and json.loads(real.read_text())["frames"] == 2

    fifo = tmp_path / "summary.fifo"
    result, received = edge_into_fifo(
        fifo, "--source", "demo", "--demo-frames", "2", "--quiet", "--summary-json", str(fifo)
    )
    assert result.returncode == 0, result.stderr
    assert fifo.is_fifo() and json.loads(received)["frames"] == 2
    assert hidden(tmp_path) == []


def write_clip(path: Path, frames: int, fourcc: str = "MJPG") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30, (160, 120))
    for frame in demo_frames(frames, (160, 120)):
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.parametrize("gap", [0.03, 0.08])
def test_two_quick_ctrl_c_keep_the_video_and_the_summary(tmp_path: Path, gap: float) -> None:
    """A video source: closing its reader thread takes long enough for the second Ctrl-C to land in it."""
    clip = write_clip(tmp_path / "clip.avi", 2000)
    out = tmp_path / "out"
    out.mkdir()
    video, summary = out / "x.mp4", out / "s.json"
    process = subprocess.Popen(
        [*EDGE, "--source", str(clip), "--save", str(video), "--summary-json", str(summary)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for _ in range(5):
        assert process.stdout.readline().startswith("frame ")
    process.send_signal(signal.SIGINT)
    time.sleep(gap)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    data = json.loads(summary.read_text())
    assert data["stopped"] == "interrupted" and data["frames"] >= 5
    assert f"{data['frames']} frames, " in stdout
    assert count_frames(video) == data["frames"]
    assert hidden(out) == []


def test_a_killed_save_leaves_a_temporary_the_next_run_removes(tmp_path: Path) -> None:
    video = tmp_path / "x.mp4"
    process = subprocess.Popen(
        [*EDGE, "--source", "demo", "--demo-frames", "100000", "--save", str(video)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    for _ in range(3):
        process.stdout.readline()
    process.kill()
    process.wait(timeout=60)
    assert [name.startswith(".x.mp4.tmp-") for name in hidden(tmp_path)] == [True]  # SIGKILL cannot clean up
    assert not video.exists()
    assert edge("--source", "demo", "--demo-frames", "3", "--quiet", "--save", str(video)).returncode == 0
    assert hidden(tmp_path) == [] and count_frames(video) == 3


def test_corrupt_stretch_of_a_video_is_skipped_counted_and_quiet(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 300, "mp4v")
    data = bytearray(clip.read_bytes())
    start, end = int(len(data) * 0.3), int(len(data) * 0.5)
    data[start:end] = np.random.default_rng(0).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    summary, jsonl = tmp_path / "summary.json", tmp_path / "out.jsonl"
    result = edge(
        "--source", str(clip), "--no-detect", "--quiet", "--summary-json", str(summary), "--jsonl", str(jsonl)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(summary.read_text())
    assert report["stopped"] == "end of source"
    assert report["bad_frames"] > 0 and report["frames"] + report["bad_frames"] == 300
    assert report["frames"] > 200  # the run goes on past the first bad frame (about frame 86)
    numbers = [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()]
    assert len(numbers) == report["frames"] and numbers[-1] == 299  # numbered by position in the video
    assert f"undecodable video frames skipped: {report['bad_frames']}" in result.stdout
    assert result.stderr == ""  # no decoder messages (nor LiteRT's delegate line)


def test_one_unreadable_image_or_a_folder_of_them_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert one_error_line(edge("--source", str(bad))) == f"edge: error: {bad}: not a readable image"
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        (folder / name).write_bytes(b"junk")
    line = one_error_line(edge("--source", str(folder)))
    assert line == "edge: error: photos: none of the 2 images could be read (a.png, b.jpg)"


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".avi", ".webm"])
def test_save_writes_the_usual_containers_and_fits_mixed_sizes(tmp_path: Path, suffix: str) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    frames = demo_frames(3, (320, 240))
    cv2.imwrite(str(photos / "a.png"), next(frames))
    cv2.imwrite(str(photos / "b.png"), cv2.resize(next(frames), (200, 300)))  # taller than the first
    cv2.imwrite(str(photos / "c.png"), cv2.cvtColor(next(frames), cv2.COLOR_BGR2GRAY)[:100])
    video = tmp_path / f"out{suffix}"
    result = edge("--source", str(photos), "--quiet", "--save", str(video))
    assert result.returncode == 0, result.stderr
    assert video.is_file() and count_frames(video) == 3
    assert result.stderr == ""  # no codec fallback messages


def test_unrelated_images_do_not_share_tracks_or_smoothing(tmp_path: Path) -> None:
    """With --smooth 0.9 on a folder, each photo's result is what it gets alone (the same box in both)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    face = cv2.cvtColor(next(demo_frames(1)), cv2.COLOR_BGR2GRAY)[156:222, 264:330]  # the demo's face
    cv2.imwrite(str(photos / "a.png"), face)
    cv2.imwrite(str(photos / "b.png"), np.random.default_rng(0).integers(0, 256, (66, 66), dtype=np.uint8))

    def probabilities(source: Path) -> list[dict]:
        jsonl = tmp_path / "out.jsonl"
        result = edge("--source", str(source), "--no-detect", "--smooth", "0.9", "--jsonl", str(jsonl))
        assert result.returncode == 0, result.stderr
        return [r["faces"][0] for r in map(json.loads, jsonl.read_text().splitlines())]

    together = probabilities(photos)
    alone = [probabilities(photos / "a.png")[0], probabilities(photos / "b.png")[0]]
    assert alone[0]["probabilities"] != pytest.approx(alone[1]["probabilities"], abs=1e-3)  # smoothing would show
    for got, wanted in zip(together, alone, strict=True):
        assert got["probabilities"] == pytest.approx(wanted["probabilities"], abs=1e-4)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (None, "expected an image as a numpy array, got NoneType"),
        (np.zeros((0, 0, 3), np.uint8), "the image is empty"),
        (np.zeros((48, 48, 3), np.float32), "expected a uint8 image (0-255), got dtype float32"),
        (np.zeros((48, 48, 2), np.uint8), "expected an image of shape (H, W) or (H, W, 1|3|4), got (48, 48, 2)"),
        (np.zeros((2, 48, 48, 3), np.uint8), "got (2, 48, 48, 3)"),
    ],
)
def test_process_names_what_is_wrong_with_an_image(pipeline: Pipeline, image: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        pipeline.process(image)


def test_process_takes_gray_single_channel_bgr_and_bgra(pipeline: Pipeline) -> None:
    bgr = next(demo_frames(1))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    images = [bgr, gray, gray[:, :, None], cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)]
    results = []
    for image in images:
        pipeline.reset()
        results.append([(face.box, face.label) for face in pipeline.process(image)])
    # The default detector (YuNet) sees colour, so grayscale and colour frames agree to a few pixels, not exactly.
    assert all(len(r) == 1 and r[0][1] == results[0][0][1] for r in results)
    assert results[0] == results[3] and results[1] == results[2]  # BGR = BGRA, (H, W) = (H, W, 1)
    assert iou(np.array(results[0][0][0]), np.array(results[1][0][0])) > 0.6  # the same face

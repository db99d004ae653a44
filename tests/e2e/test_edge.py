"""The edge runtime with real OpenCV detection on the bundled photo and real TFLite interpreters."""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import Pipeline
from edge.common.errors import UserError
from edge.contract import Contract
from edge.detectors.haar import HaarDetector
from edge.model_folder import contract_digest
from edge.sources.images import DEMO_IMAGE, demo_frames
from tests.conftest import ROOT, error_lines, run_module


def edge(*args: str) -> subprocess.CompletedProcess:
    return run_module("edge", *args, timeout=300)


def test_haar_finds_the_one_face_in_the_bundled_photo() -> None:
    gray = cv2.cvtColor(cv2.imread(str(DEMO_IMAGE)), cv2.COLOR_BGR2GRAY)
    boxes = HaarDetector().detect(gray)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 200  # the astronaut's face, upper middle


def test_clip_built_from_the_photo_has_one_face_per_frame(converted: Path) -> None:
    canvas = np.full((480, 640, 3), 90, np.uint8)
    photo = cv2.imread(str(DEMO_IMAGE))
    pipeline = Pipeline(converted)
    counts = []
    for shift in (0, 40, 80):
        frame = canvas.copy()
        frame[0:480, shift : shift + 512] = photo[:480]
        counts.append(len(pipeline.process(frame)))
    counts.append(len(pipeline.process(canvas)))  # an empty frame is normal: no face
    assert counts == [1, 1, 1, 0]


def test_python_api_returns_faces_with_probabilities(converted: Path) -> None:
    faces = Pipeline(converted).process(next(demo_frames(1)))
    assert len(faces) == 1
    face = faces[0]
    assert face.label in face.probabilities and face.confidence == pytest.approx(max(face.probabilities.values()))
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=0.05)


def test_demo_jsonl_and_summary_are_complete(tmp_path: Path, converted: Path) -> None:
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    result = edge("--model", str(converted), "--source", "demo", "--demo-frames", "12", "--jsonl", str(jsonl),
                  "--summary-json", str(summary))  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(12))
    assert all(r["source"] == "demo" and len(r["faces"]) >= 1 for r in records)  # Haar adds a rare false positive
    face = records[0]["faces"][0]
    assert set(face) == {"box", "label", "confidence", "probabilities", "track", "detected"}
    data = json.loads(summary.read_text())
    assert data["frames"] == 12 and data["stopped"] == "end of source"
    assert data["faces"] == sum(len(r["faces"]) for r in records) and data["frames_with_faces"] == 12
    assert set(data["stages"]) == {"capture", "detect", "preprocess", "infer", "output"}
    assert all({"mean_ms", "p50_ms", "p95_ms"} <= set(s) for s in data["stages"].values())
    assert "FPS" in result.stdout and "frame    11 demo:" in result.stdout


def test_jsonl_to_stdout_keeps_stdout_machine_readable(converted: Path) -> None:
    result = edge("--model", str(converted), "--source", "demo", "--demo-frames", "3", "--jsonl", "-")
    assert [json.loads(line)["frame"] for line in result.stdout.splitlines()] == [0, 1, 2]
    assert "FPS" in result.stderr


def test_runs_without_tensorflow_keras_or_pandas(converted: Path) -> None:
    """The device has none of them: importing any raises, and the pipeline still runs."""
    script = textwrap.dedent(f"""
        import importlib.abc, runpy, sys
        BLOCKED = {{"tensorflow", "keras", "pandas", "train", "convert", "benchmarks"}}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked on the device: {{name}}")
        sys.meta_path.insert(0, Block())
        sys.argv = ["edge", "--model", {str(converted)!r}, "--source", "demo", "--demo-frames", "3"]
        try:
            runpy.run_module("edge", run_name="__main__")
        finally:
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
            print("LOADED", loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
    assert "3 frames, " in result.stdout and "(3 frames with a face)" in result.stdout


def test_detect_every_follows_faces_between_detections(converted: Path) -> None:
    pipeline = Pipeline(converted, detect_every=3)
    frames = list(itertools.islice(demo_frames(90), 6))  # consecutive frames of the normal clip: small motion
    flags = [[f.detected for f in pipeline.process(frame)] for frame in frames]
    assert flags == [[True], [False], [False], [True], [False], [False]]
    every = Pipeline(converted)
    assert all(f.detected for frame in demo_frames(3) for f in every.process(frame))


def test_smoothing_blends_a_face_with_its_history(converted: Path) -> None:
    frames = list(itertools.islice(demo_frames(90), 2))
    raw, smooth = Pipeline(converted), Pipeline(converted, smooth=0.8)
    raw_probs = [np.array(list(raw.process(f)[0].probabilities.values())) for f in frames]
    smooth_probs = [np.array(list(smooth.process(f)[0].probabilities.values())) for f in frames]
    np.testing.assert_allclose(smooth_probs[0], raw_probs[0], atol=1e-6)
    np.testing.assert_allclose(smooth_probs[1], 0.8 * raw_probs[0] + 0.2 * raw_probs[1], atol=1e-5)


def test_folder_of_crops_with_no_detect_and_an_unreadable_file(tmp_path: Path, converted: Path) -> None:
    crops = tmp_path / "crops"
    crops.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(crops / f"face{i}.png"), rng.integers(0, 255, size=(48, 48), dtype=np.uint8))
    (crops / "broken.png").write_bytes(b"not an image")
    jsonl = tmp_path / "crops.jsonl"
    result = edge("--model", str(converted), "--source", str(crops), "--no-detect", "--jsonl", str(jsonl),
                  "--save", str(tmp_path / "annotated"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["source"] for r in records] == ["face0.png", "face1.png", "face2.png"]
    assert all(r["faces"][0]["box"] == [0, 0, 48, 48] for r in records)
    assert "skipped 1 unreadable: broken.png" in result.stdout
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == [
        "face0.png.jpg",
        "face1.png.jpg",
        "face2.png.jpg",
    ]


def test_save_video_is_readable(tmp_path: Path, converted: Path) -> None:
    video = tmp_path / "out.avi"
    edge("--model", str(converted), "--source", "demo", "--demo-frames", "5", "--save", str(video), "--quiet")
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()


def test_video_file_source(tmp_path: Path, converted: Path) -> None:
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for frame in demo_frames(8):
        writer.write(frame)
    writer.release()
    result = edge("--model", str(converted), "--source", str(clip), "--quiet", "--max-frames", "6")
    assert result.returncode == 0, result.stderr
    assert "6 frames, 6 faces" in result.stdout and "--max-frames reached" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "99"], "camera 99: cannot be opened"),
        (["--source", "no/such/file.mp4"], "no/such/file.mp4: no such file, folder or camera"),
    ],
)
def test_failures_are_one_line_with_exit_2(converted: Path, args: list[str], message: str) -> None:
    result = edge("--model", str(converted), *args)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("edge: error: ") and message in lines[0]


def test_missing_model_and_mismatched_contract(tmp_path: Path, converted: Path) -> None:
    missing = edge("--model", str(tmp_path / "nothing"), "--source", "demo")
    assert missing.returncode == 2 and "model not found" in error_lines(missing.stderr)[0]
    bad = tmp_path / "bad"
    shutil.copytree(converted, bad)
    contract = json.loads((bad / "contract.json").read_text())
    contract["labels"] = contract["labels"][:5]
    contract["extra"]["contract_sha256"] = contract_digest(Contract.from_dict(contract))  # a consistent but wrong one
    (bad / "contract.json").write_text(json.dumps(contract))
    with pytest.raises(UserError, match="model has 7 outputs but its contract lists 5 labels"):
        Pipeline(bad)


def test_shipped_model_is_the_default_and_within_bounds(tmp_path: Path) -> None:
    """`python -m edge --source demo` with nothing else uses edge/model/ and sees the astronaut smile."""
    from edge.model_folder import DEFAULT_MODEL_DIR

    shipped = sorted(DEFAULT_MODEL_DIR.glob("model_*.tflite"))
    assert shipped and all(path.stat().st_size <= 2_000_000 for path in shipped)
    summary = tmp_path / "summary.json"
    result = edge("--source", "demo", "--demo-frames", "10", "--quiet", "--summary-json", str(summary))
    assert result.returncode == 0, result.stderr
    data = json.loads(summary.read_text())
    assert Path(data["model"]) in shipped  # --precision auto: the faster of what the folder ships
    assert data["labels"].get("Happy", 0) == data["faces"] == 10


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly_with_valid_outputs(tmp_path: Path, converted: Path, stop: int) -> None:
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    command = [sys.executable, "-m", "edge", "--model", str(converted), "--source", "demo", "--demo-frames", "100000",
               "--quiet", "--jsonl", str(jsonl), "--summary-json", str(summary)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not jsonl.exists() or len(jsonl.read_text().splitlines()) < 5):
        time.sleep(0.05)
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    data = json.loads(summary.read_text())
    assert data["stopped"] == "interrupted"
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == data["frames"] >= 5
    assert "[interrupted]" in stdout


def test_jsonl_rotates_and_appends_across_restarts(tmp_path: Path, converted: Path) -> None:
    target = tmp_path / "results.jsonl"
    for _ in range(2):  # a service restarting appends to the same rotating file
        edge("--model", str(converted), "--source", "demo", "--demo-frames", "30", "--quiet", "--jsonl", str(target),
             "--jsonl-max-mb", "0.003", "--jsonl-keep", "2")  # fmt: skip
    files = sorted(tmp_path.glob("results.jsonl*"))
    assert [f.name for f in files] == ["results.jsonl", "results.jsonl.1", "results.jsonl.2"]
    for f in files:
        assert f.stat().st_size <= 3000
        assert all(json.loads(line)["source"] == "demo" for line in f.read_text().splitlines())


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_is_one_line_with_exit_2(converted: Path) -> None:
    result = edge("--model", str(converted), "--source", "demo", "--demo-frames", "3", "--jsonl", "/dev/full")
    assert result.returncode == 2
    assert (
        error_lines(result.stderr)[-1] == "edge: error: /dev/full: cannot write JSONL (No space left on device);"
        " kept the lines before"
    )


def test_picam_without_picamera2_says_how_to_install(converted: Path) -> None:
    result = edge("--model", str(converted), "--source", "picam")
    assert result.returncode == 2
    assert "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2`" in result.stderr

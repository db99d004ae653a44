"""Detectors (Haar, YuNet), asynchronous detection, window re-detection and the Pi camera's lores stream, with
real OpenCV detection on real images (the bundled photo; the detect-faces photos when ../shared has them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

from benchmarks.clip import fast_clip, labelled_clip
from benchmarks.photos import FACES, photo_scores
from benchmarks.scoring import true_positives
from edge import Pipeline
from edge.classifier import default_threads
from edge.cli import build_parser, detects_async
from edge.common.boxes import iou
from edge.common.errors import UserError
from edge.common.options import MAX_THREADS
from edge.detectors.base import DetectorConfig, to_gray
from edge.detectors.haar import HaarDetector
from edge.detectors.registry import make_detector
from edge.detectors.worker import THREAD_NAME
from edge.detectors.yunet import MODEL, YuNetDetector, check_model, check_opencv
from edge.frames import Frame
from edge.pipeline.tracker import Tracker
from edge.run import RunOptions, run
from edge.sources.base import Source
from edge.sources.images import DEMO_IMAGE, demo_frames
from edge.sources.picamera import lores_size, open_picamera
from tests.conftest import ROOT, error_lines, run_module, subprocess_env


def astronaut() -> np.ndarray:
    return cv2.imread(str(DEMO_IMAGE))


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_yunet_finds_the_astronaut_where_haar_does() -> None:
    haar = HaarDetector().detect(astronaut())
    yunet = YuNetDetector().detect(astronaut())
    assert len(haar) == len(yunet) == 1
    assert iou(haar[0], yunet[0]) > 0.6


def test_both_detectors_find_every_face_of_the_labelled_clip() -> None:
    frames, truth = labelled_clip(8)
    for name in ("haar", "yunet"):
        detector = make_detector(DetectorConfig(name=name))
        hits = sum(true_positives(detector.detect(f), t) for f, t in zip(frames, truth, strict=True))
        assert hits >= 0.9 * sum(len(t) for t in truth), name


@pytest.mark.skipif(not FACES.is_dir(), reason=f"{FACES} not present (labelled photos, never committed)")
def test_detectors_on_the_labelled_real_photos() -> None:
    result = photo_scores(FACES, ("haar", "yunet"), (320,))
    assert result["faces"] == 43
    haar, yunet = result["scores"]["haar"]["320"], result["scores"]["yunet"]["320"]
    assert yunet["recall"] >= haar["recall"] and yunet["recall"] >= 0.8
    assert min(haar["precision"], yunet["precision"]) >= 0.8


@pytest.mark.parametrize("name", ["haar", "yunet"])
@pytest.mark.parametrize("shape", [(1, 4000, 3), (2, 5000), (4000, 1, 3), (8, 8, 3), (1, 1)])
def test_a_strip_or_a_tiny_frame_has_no_face_and_no_crash(name: str, shape: tuple[int, ...]) -> None:
    """D17, D20: a 4000x1 frame rounded to 320x0 for detection (OpenCV's resize asserted); a frame too small to
    hold a face of the minimum size has none, whatever the network makes of it."""
    detector = make_detector(DetectorConfig(name=name))
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert detector.detect(image).shape == (0, 4)


def test_yunet_drops_boxes_that_are_not_finite() -> None:
    """D20: on a tiny image after setInputSize, YuNet has returned non-finite boxes (intermittently, under load), which
    became INT_MIN crops and an OpenCV assertion. This OpenCV's intermittent answer is replayed here: the net's
    real detections on the photo, with a non-finite row added."""
    detector = YuNetDetector()
    net = detector.net

    class Replayed:
        def setInputSize(self, size: tuple[int, int]) -> None:
            net.setInputSize(size)

        def detect(self, image: np.ndarray) -> tuple[int, np.ndarray]:
            count, faces = net.detect(image)
            broken = faces[:1].copy()
            broken[0, 2] = np.inf  # an infinite width: squaring it made x NaN and the side infinite
            return count + 1, np.vstack([broken, faces])

    detector.net = Replayed()
    boxes = detector.detect(astronaut())
    assert len(boxes) == 1 and iou(boxes[0], HaarDetector().detect(astronaut())[0]) > 0.6


def test_yunet_takes_a_single_channel_image_at_full_resolution() -> None:
    gray = cv2.cvtColor(astronaut(), cv2.COLOR_BGR2GRAY)
    detector = make_detector(DetectorConfig(name="yunet", detect_width=0))  # no resize to drop the channel axis
    assert detector.detect(gray[:, :, None]).tolist() == detector.detect(gray).tolist()


def test_shipped_yunet_model_is_checked(tmp_path: Path) -> None:
    check_model()
    tampered = tmp_path / MODEL.name
    tampered.write_bytes(MODEL.read_bytes()[:-1] + b"\0")
    with pytest.raises(UserError, match=r"sha256 \w+ is not the published"):
        check_model(tampered)


@pytest.mark.parametrize(("version", "has_yunet"), [("4.6.0", True), ("4.7.0-dev", True), ("4.6.0", False)])
def test_too_old_opencv_is_refused_with_the_way_out(version: str, has_yunet: bool) -> None:
    with pytest.raises(UserError) as raised:
        check_opencv(version, has_yunet)
    message = str(raised.value)
    assert f"this is {version}" in message and "opencv-python-headless==4.10.0.84" in message
    assert "\n" not in message


@pytest.mark.parametrize("version", ["4.10.0", "4.14.0"])
def test_a_new_opencv_built_without_yunet_is_not_told_to_downgrade(version: str) -> None:
    """D33: an OpenCV 4.14 without FaceDetectorYN (no dnn module) was told to install 4.10.0.84, a downgrade."""
    with pytest.raises(UserError) as raised:
        check_opencv(version, has_yunet=False)
    assert str(raised.value) == (
        f"--detector yunet needs OpenCV's FaceDetectorYN, which this OpenCV {version} lacks (a build without its dnn"
        " module): pip install opencv-python-headless (>= 4.8) in the venv, or use --detector haar"
    )


def test_new_enough_opencv_passes_the_check() -> None:
    check_opencv("4.8.0", True)
    check_opencv("5.0.0", True)


def test_cli_on_an_opencv_without_yunet_is_one_line_exit_2(tmp_path: Path) -> None:
    """An OpenCV 4.6 cannot be installed here, so a sitecustomize shim hides FaceDetectorYN the way it lacks it."""
    (tmp_path / "sitecustomize.py").write_text("import cv2\ndel cv2.FaceDetectorYN\ncv2.__version__ = '4.6.0'\n")
    env = subprocess_env(before=tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "edge", "--source", "demo", "--detector", "yunet", "--demo-frames", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "edge: error: --detector yunet needs OpenCV >= 4.8 with FaceDetectorYN (this is 4.6.0): pip install"
        " opencv-python-headless==4.10.0.84 in the venv (it keeps numpy 1.x for apt's picamera2), e.g. with"
        " edge/deploy/install-pi.sh --yunet"
    ]


def test_demo_with_yunet_finds_the_face_on_every_frame(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    run_module("edge", "--source", "demo", "--detector", "yunet", "--demo-frames", "10", "--quiet",
               "--summary-json", str(summary), check=True)  # fmt: skip
    result = json.loads(summary.read_text())
    assert result["frames"] == result["frames_with_faces"] == result["faces"] == 10


def moving_faces(count: int, step: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two astronaut faces drifting right by `step` px a frame, with their true boxes."""
    face = cv2.resize(astronaut()[20:260, 130:370], (160, 160), interpolation=cv2.INTER_AREA)
    in_face = HaarDetector().detect(face)[0]  # the face's box within the pasted patch, the same on every frame
    frames, truth = [], []
    for i in range(count):
        frame = np.full((480, 640, 3), 90, np.uint8)
        boxes = []
        for x0, y0 in ((40, 60), (360, 260)):
            x = x0 + step * i
            frame[y0 : y0 + 160, x : x + 160] = face
            boxes.append(in_face + np.array([x, y0, 0, 0]))
        frames.append(frame)
        truth.append(np.array(boxes))
    return frames, truth


def test_a_late_detection_corrects_the_tracks_on_the_current_frame() -> None:
    """A detection made on frame 2 lands on frame 6: the face it shares with the tracker keeps its id, a face only
    it found joins, and both are placed where the faces are on frame 6, not where they were on frame 2."""
    frames, truth = moving_faces(7, step=6)
    detector, tracker = HaarDetector(), Tracker()
    smalls = [detector.downscale(f) for f in frames]
    scale = smalls[0][1]
    first = tracker.update(detector.detect(frames[0])[:1], smalls[0][0], scale)[0]  # only one face known
    seen = {}
    for i in range(1, 7):
        tracker.follow(smalls[i][0], scale)
        if i == 2:
            seen = {t.id: t.box.copy() for t in tracker.tracks}
    late = detector.detect(frames[2])
    assert len(late) == 2
    tracks = tracker.correct(late, smalls[2][0], seen, smalls[6][0], scale)
    assert len(tracks) == 2 and first.id in {t.id for t in tracks}
    for track in tracks:
        assert max(iou(track.box, true) for true in truth[6]) > 0.8
        assert max(iou(box, track.box) for box in late) < 0.8  # it moved on from where it was detected
    assert true_positives(np.array([t.box for t in tracks]), truth[6]) == 2


def test_async_pipeline_labels_every_frame_once_detections_land(converted: Path) -> None:
    frames, truth = moving_faces(12, step=3)
    with Pipeline(converted, async_detect=True) as pipeline:
        results = []
        for frame in frames:
            results.append(pipeline.process(frame))
            while not pipeline.worker.idle():  # a camera's next frame comes after the detection lands
                time.sleep(0.005)
    assert results[0] == []  # no detection has landed yet: nothing is invented
    for faces, true in zip(results[1:], truth[1:], strict=True):
        assert true_positives(np.array([f.box for f in faces]).reshape(-1, 4), true) == 2
    assert {f.track for faces in results[1:] for f in faces} == {results[1][0].track, results[1][1].track}
    assert not worker_threads()


def test_a_detection_that_lands_late_on_a_fast_face_is_kept_and_placed_on_the_current_frame() -> None:
    """A face moving 70 px a frame (more than half its width): the detection of frame 3 lands on frame 5. The
    tracker has never seen the face, so its template is looked for as far as a face moves in two frames; the
    face is kept, placed where it is on frame 5, and given its velocity, so the next frame follows it too."""
    frames, truth = fast_clip(70, frames=7)
    detector, tracker = YuNetDetector(), Tracker()
    smalls = [detector.downscale(f) for f in frames]
    scale = smalls[0][1]
    late = detector.detect_downscaled(*smalls[3])
    assert len(late) == 1 and iou(late[0], truth[3][0]) > 0.6
    tracks = tracker.correct(late, to_gray(smalls[3][0]), {}, to_gray(smalls[5][0]), scale, elapsed=2)
    assert len(tracks) == 1 and iou(tracks[0].box, truth[5][0]) > 0.6
    assert abs(tracks[0].velocity[0]) == pytest.approx(70, abs=8)
    followed = tracker.follow(to_gray(smalls[6][0]), scale)
    assert len(followed) == 1 and iou(followed[0].box, truth[6][0]) > 0.6


def test_a_landed_detection_that_cannot_be_followed_is_still_reported() -> None:
    """The face is gone from the current frame (a cut, a camera turned): its landed detection is not dropped."""
    frames, _ = fast_clip(70, frames=2)
    detector, tracker = YuNetDetector(), Tracker()
    small, scale = detector.downscale(frames[0])
    landed = detector.detect_downscaled(small, scale)
    blank = np.full(small.shape[:2], 90, np.uint8)
    tracks = tracker.correct(landed, to_gray(small), {}, blank, scale)
    assert [list(t.box) for t in tracks] == [list(landed[0])]


@pytest.mark.parametrize("step", [20, 40, 70])
def test_async_pipeline_reports_a_fast_face_on_every_frame_once_a_detection_lands(converted: Path, step: int) -> None:
    """The hostile run's E1: a face found on every frame by the asynchronous detector was never reported, because
    each landed detection was dropped when the face had moved more than half its width since its frame."""
    frames, truth = fast_clip(step, frames=30)
    hits = []
    with Pipeline(converted, async_detect=True) as pipeline:
        for frame, true in zip(frames, truth, strict=True):
            faces = pipeline.process(frame)
            hits.append(true_positives(np.array([f.box for f in faces]).reshape(-1, 4), true))
            while not pipeline.worker.idle():  # a camera's next frame comes after the detection lands
                time.sleep(0.005)
    assert hits[0] == 0 and hits[1:] == [1] * 29


@pytest.mark.parametrize("detect_every", [1, 3])
def test_a_fast_face_keeps_one_id_when_detected_every_frame_or_every_third(converted: Path, detect_every: int) -> None:
    """A face moving 70 px a frame overlaps its previous box too little to be matched by overlap alone: each frame
    made a new face (25 ids in 30 frames), so each frame was an `appeared` event, a snapshot and a new person."""
    with Pipeline(converted, detect_every=detect_every) as pipeline:
        ids = [face.track for frame in fast_clip(70, frames=30)[0] for face in pipeline.process(frame)]
    assert len(ids) >= 29 and len(set(ids)) <= 2


def test_async_run_leaves_no_thread_and_flushes_every_output(tmp_path: Path, converted: Path) -> None:
    jsonl = tmp_path / "out.jsonl"
    frames = (Frame(image, i, "cam", 0.0) for i, image in enumerate(demo_frames(15)))
    source = Source("camera-like", frames)
    pipeline = Pipeline(converted, async_detect=True)
    assert len(worker_threads()) == 1
    with pipeline:
        summary = run(source, pipeline, RunOptions(jsonl=str(jsonl), quiet=True))
    assert not worker_threads()
    assert summary["frames"] == 15 and len(jsonl.read_text().splitlines()) == 15


def test_closing_waits_for_a_detection_in_progress(converted: Path) -> None:
    pipeline = Pipeline(converted, async_detect=True)
    started, release = threading.Event(), threading.Event()
    detect = pipeline.detector.detect_downscaled

    def slow(small: np.ndarray, scale: float) -> np.ndarray:
        started.set()
        release.wait(5)
        return detect(small, scale)

    pipeline.detector.detect_downscaled = slow
    pipeline.process(next(demo_frames(1)))
    assert started.wait(5)
    closer = threading.Thread(target=pipeline.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # close() waits for the running detection instead of abandoning the thread
    release.set()
    closer.join(5)
    assert not closer.is_alive() and not worker_threads()


def test_window_redetection_follows_a_face_that_grows(converted: Path) -> None:
    photo = astronaut()
    frames = []
    for i in range(8):
        side = round(300 * (1 + 0.06 * i))
        frame = np.full((480, 640, 3), 90, np.uint8)
        frame[0:side, 100 : 100 + side] = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)[:480]
        frames.append(frame)
    roi = Pipeline(converted, detect_every=100, roi_detect=True)
    template = Pipeline(converted, detect_every=100)
    last = [p.process(f) for p in (roi, template) for f in frames][7::8]
    true = HaarDetector().detect(frames[-1])[0]
    (grown,), (stuck,) = last
    assert iou(np.array(grown.box), true) > 0.7 and grown.detected
    assert stuck.box[2] < 0.8 * true[2] and not stuck.detected  # template following keeps the first size


class StandInCamera:
    """Picamera2's calls as fer-edge makes them, answered with demo frames and their real YUV420 lores images
    (rows padded beyond the width, as a real stride may be).

    A live source keeps only the newest frame, so a camera faster than its reader loses frames; on a loaded
    machine the test's reader was slower than a camera sleeping 0.15 s a frame, and saw 2 of 6. This camera takes
    its next picture only once the reader has handled the last one (`handled`), so every frame arrives however
    slow the machine is."""

    configured: ClassVar[dict] = {}
    handled = threading.Semaphore(0)
    COUNT = 6

    def __init__(self) -> None:
        self.frames = demo_frames(self.COUNT)
        self.closed = False
        self.taken = 0

    def create_video_configuration(self, **streams: dict) -> dict:
        return streams

    def configure(self, config: dict) -> None:
        StandInCamera.configured = config

    def start(self) -> None:
        pass

    def capture_arrays(self, names: list[str]) -> tuple[list[np.ndarray], dict]:
        assert names == ["main", "lores"]
        if self.taken:
            assert StandInCamera.handled.acquire(timeout=300), "the reader never handled the last frame"
        self.taken += 1
        image = next(self.frames)
        width, height = StandInCamera.configured["lores"]["size"]
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        yuv = cv2.cvtColor(small, cv2.COLOR_BGR2YUV_I420)
        return [image, np.pad(yuv, ((0, 0), (0, 64)))], {}

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_lores_sizes_are_even_and_no_larger_than_main() -> None:
    assert lores_size(640, 480, 320) == (320, 240)
    assert lores_size(1280, 720, 321) == (320, 180)
    assert lores_size(640, 480, 0) is None and lores_size(640, 480, 640) is None


@pytest.mark.parametrize("detector", ["haar", "yunet"])
def test_picam_detects_on_the_lores_y_plane_and_crops_from_main(converted: Path, detector: str) -> None:
    """Each detector finds the face on the grayscale lores plane where it finds it on the full colour frame."""
    StandInCamera.handled = threading.Semaphore(0)
    source = open_picamera(640, 480, 30, detect_width=320, camera_class=StandInCamera)
    assert StandInCamera.configured["lores"] == {"size": (320, 240), "format": "YUV420"}
    pipeline = Pipeline(converted, detector=detector)
    reference = Pipeline(converted, detector=detector)  # the same detector on the whole colour frame

    def no_full_frame_work(frame: np.ndarray) -> None:
        raise AssertionError("the full frame was resized for detection")

    pipeline.detector.downscale = no_full_frame_work
    frames = 0
    for frame in source.frames:
        frames += 1
        assert frame.lores.shape == (240, 320)
        y_plane = cv2.cvtColor(cv2.resize(frame.image, (320, 240), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        assert np.abs(frame.lores.astype(int) - y_plane).mean() < 10  # Y: grayscale in video range
        faces = pipeline.process(frame.image, frame.lores)
        assert len(faces) == 1
        reference.reset()
        on_main = [np.array(face.box) for face in reference.process(frame.image)]
        assert max(iou(np.array(faces[0].box), box) for box in on_main) > 0.7
        StandInCamera.handled.release()
    source.close()
    assert frames == StandInCamera.COUNT


def test_threads_option_sets_opencv_threads(converted: Path) -> None:
    previous = cv2.getNumThreads()
    try:
        Pipeline(converted, threads=1)
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(previous)


WORKERS = """
import os
from edge.classifier import Classifier
from edge.model_folder import resolve_model
path, contract = resolve_model("faceapi", "int8")
before = len(os.listdir("/proc/self/task"))
classifier = Classifier(path, contract, threads={threads})
print(len(os.listdir("/proc/self/task")) - before)
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_the_interpreter_uses_the_cores_it_may_run_on_unless_told(tmp_path: Path) -> None:
    """--threads' help said "the runtimes' choice", but ai_edge_litert turns None into one thread; the default is
    now the cores the process may run on. The interpreter's pool starts one worker per thread after the first, when
    it is made."""
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("one core here: one interpreter thread either way")

    def workers(threads: int | None) -> int:
        result = subprocess.run([sys.executable, "-c", WORKERS.format(threads=threads)], cwd=ROOT,
                                env=subprocess_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    assert default_threads() == min(cores, MAX_THREADS)
    assert workers(None) == default_threads() - 1
    assert workers(1) == 0


def test_a_detection_made_before_reset_is_not_used_after_it(converted: Path) -> None:
    """Unrelated images (a folder) reset the pipeline: a detection still running on the last image must not
    put that image's faces on the next one. (Here the next image is the same photo, where a stale detection
    would be followed and reported; the reset pipeline waits for its own.)"""
    frame = next(demo_frames(1))
    with Pipeline(converted, async_detect=True) as pipeline:
        pipeline.process(frame)  # the worker starts detecting the astronaut
        pipeline.reset()
        while not pipeline.worker.idle():
            time.sleep(0.005)
        assert pipeline.process(frame) == []
        while not pipeline.worker.idle():
            time.sleep(0.005)
        assert len(pipeline.process(frame)) == 1  # its own detection lands


@pytest.mark.parametrize(
    ("choice", "spec", "expected"),
    [("auto", "0", True), ("auto", "picam", True), ("auto", "demo", False), ("auto", "clip.mp4", False),
     ("on", "demo", True), ("off", "0", False)],
)  # fmt: skip
def test_async_detection_is_on_by_default_only_for_cameras(choice: str, spec: str, expected: bool) -> None:
    args = build_parser().parse_args(["--source", spec, "--async-detect", choice])
    assert detects_async(args.async_detect, args.source) is expected
    assert build_parser().parse_args([]).async_detect == "auto"

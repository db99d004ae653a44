"""Face detection benchmark: each detector and mode on the labelled clip (benchmarks/clip.py).

For every (detector, mode): FPS (frames per second of time spent inside `Pipeline.process`, i.e. what the
critical path allows), the detect stage's p50 ms on that path, the worker's ms when detection is asynchronous,
and recall/precision of the faces reported on each frame at IoU >= 0.4. Synchronous modes take frames from
memory as fast as they can; asynchronous modes get them at a camera's pace (`CAMERA_FPS`), because their
recall depends on how many frames a detection lands late. Modes alternate round by round (round 0 is a
warm-up, not counted) and medians of the rounds are reported.

Fast faces (`fast_faces`): a face moving 20, 40 and 70 px a frame (benchmarks/clip.py's `fast_clip`), YuNet with
asynchronous detection at a camera's pace against detection on every frame, because a late detection of a fast
face is the one the tracker must still place on the current frame.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.scoring import DetectionScore
from edge.common.timing import StageTimes, percentiles
from edge.detectors.base import DetectorConfig
from edge.detectors.registry import make_detector
from edge.pipeline.pipeline import Pipeline

DETECTORS = ("haar", "yunet")
CAMERA_FPS = 30.0
MODES = {
    "every frame": {},
    "every 3": {"detect_every": 3},
    "every 3 + ROI": {"detect_every": 3, "roi_detect": True},
    "every 8 + ROI": {"detect_every": 8, "roi_detect": True},
    "async": {"async_detect": True},
    "async + ROI": {"async_detect": True, "roi_detect": True},
}
OPTIONS = {
    "every frame": "",
    "every 3": "--detect-every 3",
    "every 3 + ROI": "--detect-every 3 --roi-detect",
    "every 8 + ROI": "--detect-every 8 --roi-detect",
    "async": "--async-detect on",
    "async + ROI": "--async-detect on --roi-detect",
}


def _one_pass(model: Path, detector: str, mode: str, frames: list[np.ndarray], truth: list[np.ndarray]) -> dict:
    timer = StageTimes()
    paced = MODES[mode].get("async_detect", False)
    found, busy = [], 0.0
    with Pipeline(model, detector=detector, timer=timer, **MODES[mode]) as pipeline:
        opened = time.perf_counter()
        for index, frame in enumerate(frames):
            if paced:  # the camera delivers frame `index` at index / CAMERA_FPS
                time.sleep(max(0.0, opened + index / CAMERA_FPS - time.perf_counter()))
            started = time.perf_counter()
            faces = pipeline.process(frame)
            busy += time.perf_counter() - started
            found.append(np.array([face.box for face in faces]).reshape(-1, 4))
    score = DetectionScore()
    for boxes, true_boxes in zip(found, truth, strict=True):
        score.add(boxes, true_boxes)
    stages = timer.summary()
    return {
        "fps": len(frames) / busy,
        **score.summary(),
        "detect_stage_p50_ms": stages["detect"]["p50_ms"],
        "worker_p50_ms": stages.get("detect (worker)", {}).get("p50_ms"),
    }


def mode_table(model: Path, frames: list[np.ndarray], truth: list[np.ndarray], rounds: int, progress=None) -> dict:
    """{"detector, mode": medians over the rounds}."""
    runs: dict[str, list[dict]] = {f"{d}, {m}": [] for d in DETECTORS for m in MODES}
    for round_ in range(rounds + 1):
        for detector in DETECTORS:
            for mode in MODES:
                result = _one_pass(model, detector, mode, frames, truth)
                if round_:
                    runs[f"{detector}, {mode}"].append(result)
                if progress is not None:
                    progress.update(1)
    out = {}
    for key, results in runs.items():
        detector, mode = key.split(", ", 1)
        worker = [r["worker_p50_ms"] for r in results if r["worker_p50_ms"] is not None]
        out[key] = {
            "detector": detector,
            "mode": mode,
            "options": f"--detector {detector} {OPTIONS[mode]}".strip(),
            "fps": round(float(np.median([r["fps"] for r in results])), 2),
            "fps_rounds": [round(r["fps"], 2) for r in results],
            "recall": round(float(np.median([r["recall"] for r in results])), 4),
            "precision": round(float(np.median([r["precision"] for r in results])), 4),
            "detect_stage_p50_ms": round(float(np.median([r["detect_stage_p50_ms"] for r in results])), 3),
            "worker_p50_ms": round(float(np.median(worker)), 3) if worker else None,
        }
    return out


FAST_MODES = ("every frame", "async")  # async is the cameras' default; every frame is --async-detect off


def fast_faces(model: Path, rounds: int, progress=None) -> dict:
    """{"STEP": {mode: median recall}} on `fast_clip(STEP)` for each of FAST_STEPS, YuNet, modes alternating."""
    from benchmarks.clip import FAST_STEPS, fast_clip

    out: dict = {}
    for step in FAST_STEPS:
        frames, truth = fast_clip(step)
        recalls: dict[str, list[float]] = {mode: [] for mode in FAST_MODES}
        for round_ in range(rounds + 1):
            for mode in FAST_MODES:
                recall = _one_pass(model, "yunet", mode, frames, truth)["recall"]
                if round_:
                    recalls[mode].append(recall)
                if progress is not None:
                    progress.update(1)
        out[str(step)] = {mode: round(float(np.median(values)), 4) for mode, values in recalls.items()}
    return out


def detector_ms(frames: list[np.ndarray], widths: tuple[int, ...], rounds: int) -> dict:
    """{"WIDTH": {detector: p50 ms of one full detection}} on the clip's frames, detectors alternating."""
    detectors = {
        (name, width): make_detector(DetectorConfig(detect_width=width, name=name))
        for name in DETECTORS
        for width in widths
    }
    samples: dict[tuple[str, int], list[float]] = {key: [] for key in detectors}
    for round_ in range(rounds + 1):
        for key, detector in detectors.items():
            for frame in frames:
                small, scale = detector.downscale(frame)
                started = time.perf_counter()
                detector.detect_downscaled(small, scale)
                if round_:
                    samples[key].append((time.perf_counter() - started) * 1000)
    out: dict = {}
    height, width = frames[0].shape[:2]
    for (name, detect_width), values in samples.items():
        scale = detectors[name, detect_width].scale_for(width)
        out.setdefault(f"{round(width * scale)}x{round(height * scale)}", {})[name] = percentiles(values)["p50_ms"]
    return out


def detection_benchmark(model: Path, frames: int, rounds: int, faces: Path | None, progress=None) -> dict:
    """Everything the detection section reports: modes on the clip, one-detection times, real photos."""
    from benchmarks.clip import labelled_clip
    from benchmarks.photos import photo_scores

    clip, truth = labelled_clip(frames)
    height, width = clip[0].shape[:2]
    return {
        "clip": f"the labelled clip {width}x{height}, {frames} frames, {sum(map(len, truth))} faces",
        "rounds": rounds,
        "camera_fps": CAMERA_FPS,
        "modes": mode_table(model, clip, truth, rounds, progress),
        "detector_ms": detector_ms(clip, (320, 0), rounds),
        "photos": photo_scores(faces, DETECTORS, (320, 0)) if faces and faces.is_dir() else None,
        "fast_faces": fast_faces(model, rounds, progress),
    }

"""Frames per second and per-stage cost of whole pipelines on one clip, and of the reference loop.

Frames are decoded into memory first (timed separately as capture/decode), so every variant sees the
same frames and the comparison is about detection and classification alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.common.timing import StageTimes
from edge.contract import Contract
from edge.detectors.base import DetectorConfig
from edge.detectors.haar import HaarDetector, find_cascade
from edge.pipeline.pipeline import Pipeline
from edge.sources.images import demo_frames


def load_clip(clip: Path | None, size: tuple[int, int], frames: int) -> tuple[list[np.ndarray], float]:
    """The frames of a video (or of the demo clip at `size`) and the mean decode time per frame in ms."""
    started = time.perf_counter()
    if clip is None:
        images = list(demo_frames(frames, size))
    else:
        capture = cv2.VideoCapture(str(clip))
        images = []
        while len(images) < frames:
            ok, image = capture.read()
            if not ok:
                break
            images.append(image)
        capture.release()
    return images, (time.perf_counter() - started) * 1000 / max(len(images), 1)


@dataclass
class Variant:
    """One way of processing a frame; `run` returns the number of faces it found."""

    name: str
    run: Callable[[np.ndarray], int]
    timer: StageTimes | None = None


def haar_only(detector_config: DetectorConfig) -> Variant:
    detector = HaarDetector(detector_config)
    timer = StageTimes()

    def run(frame: np.ndarray) -> int:
        with timer.time("detect"):
            return len(detector.detect(frame))

    return Variant("Haar alone", run, timer)


def full_pipeline(name: str, model: Path, precision: str, detector_config: DetectorConfig, detect_every: int = 1):
    timer = StageTimes()
    pipeline = Pipeline(model, precision=precision, detector=detector_config, detect_every=detect_every, timer=timer)
    return Variant(name, lambda frame: len(pipeline.process(frame)), timer)


def reference_loop(keras_model: Path | None, contract: Contract) -> Variant:
    """The reference notebook's loop: Haar at full resolution (scale 1.3), Keras `predict` on each face in turn.

    Without the trained .keras file (training runs are not shipped), the contract's architecture is built with
    fresh weights: `predict` costs the same whatever the weights hold, and this loop is only timed.
    """
    from train.models import build, load

    model = load(keras_model) if keras_model else build(contract.architecture, contract.num_classes)
    cascade = cv2.CascadeClassifier(str(find_cascade()))
    timer = StageTimes()

    def run(frame: np.ndarray) -> int:
        with timer.time("detect"):
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            faces = cascade.detectMultiScale(gray, scaleFactor=1.3, minNeighbors=5)
        for x, y, w, h in faces:
            with timer.time("preprocess"):
                crop = cv2.resize(gray[y : y + h, x : x + w], (48, 48))
                batch = contract.normalise(crop)[None, ..., None]
            with timer.time("infer"):
                model.predict(batch, verbose=0)
        return len(faces)

    return Variant("reference (Keras, full-res Haar)", run, timer)


def measure(variants: list[Variant], frames: list[np.ndarray], rounds: int, progress=None) -> dict:
    """Alternate the variants round by round over the same frames; report the median FPS of the rounds."""
    fps: dict[str, list[float]] = {v.name: [] for v in variants}
    faces: dict[str, int] = {}
    for _ in range(rounds):
        for variant in variants:
            started = time.perf_counter()
            faces[variant.name] = sum(variant.run(frame) for frame in frames)
            fps[variant.name].append(len(frames) / (time.perf_counter() - started))
            if progress is not None:
                progress.update(1)
    return {
        v.name: {
            "fps": round(float(np.median(fps[v.name])), 2),
            "fps_rounds": [round(x, 2) for x in fps[v.name]],
            "faces_per_round": faces[v.name],
            "stages": v.timer.summary() if v.timer else {},
        }
        for v in variants
    }

"""The embeddable pipeline: frame in, faces with labels and probabilities out.

from edge import Pipeline
pipeline = Pipeline()                 # the shipped int8 model
for face in pipeline.process(frame):  # a uint8 BGR, BGRA or grayscale numpy image
    print(face.box, face.label, face.confidence)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from edge.classifier import Classifier
from edge.detector import DetectorConfig, FaceDetector
from edge.errors import UserError
from edge.model_folder import DEFAULT_MODEL_DIR as DEFAULT_MODEL_DIR  # re-exported: edge.cli and users import it here
from edge.model_folder import resolve_model
from edge.timing import StageTimes
from edge.tracking import Tracker


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    label: str
    confidence: float
    probabilities: dict[str, float]
    track: int
    detected: bool  # found by the detector in this frame (False: followed from an earlier one)

    def to_dict(self) -> dict:
        return {
            "box": list(self.box),
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "track": self.track,
            "detected": self.detected,
        }


def to_gray(frame: np.ndarray) -> np.ndarray:
    """The grayscale view of a uint8 (H, W), (H, W, 1), BGR (H, W, 3) or BGRA (H, W, 4) image.

    Anything else raises ValueError naming what is wrong, rather than an AttributeError or a cv2 assertion
    from deep inside detection."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"expected an image as a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (0-255), got dtype {frame.dtype}")
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, 1|3|4), got {frame.shape}")
    if frame.size == 0:
        raise ValueError(f"the image is empty (shape {frame.shape})")
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 1:
        return frame[:, :, 0]
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


class Pipeline:
    """Haar detection (every `detect_every` frames, following faces in between) + TFLite classification."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        precision: str = "int8",
        threads: int | None = None,
        detector: DetectorConfig | None = None,
        detect_every: int = 1,
        smooth: float = 0.0,
        detect: bool = True,
        timer: StageTimes | None = None,
    ) -> None:
        if detect_every < 1:
            raise UserError("--detect-every must be at least 1")
        if not 0.0 <= smooth < 1.0:
            raise UserError("--smooth must be in [0, 1): the weight of a face's history")
        self.model_path, self.contract = resolve_model(model, precision)
        self.classifier = Classifier(self.model_path, self.contract, threads=threads)
        self.detector = FaceDetector(detector) if detect else None
        self.tracker = Tracker(smooth)
        self.detect_every = detect_every
        self.timer = timer or StageTimes()
        self.frames = 0

    def _boxes(self, gray: np.ndarray) -> tuple[list, list[bool]]:
        if self.detector is None:
            height, width = gray.shape
            track = self.tracker.update(np.array([[0, 0, width, height]]), None, 1.0)[0]
            return [track], [True]
        small, scale = self.detector.downscale(gray)
        if self.frames % self.detect_every == 0:
            tracks = self.tracker.update(self.detector.detect_downscaled(small, scale), small, scale)
            return tracks, [True] * len(tracks)
        tracks = self.tracker.follow(small, scale)
        return tracks, [False] * len(tracks)

    def crops(self, gray: np.ndarray, boxes: list[np.ndarray]) -> np.ndarray:
        """Each box cut from the grayscale frame and resized to the model's input size."""
        height, width = self.contract.image_size
        out = np.empty((len(boxes), height, width), dtype=np.uint8)
        for i, (x, y, w, h) in enumerate(boxes):
            face = gray[max(0, y) : y + h, max(0, x) : x + w]
            out[i] = cv2.resize(face, (width, height), interpolation=cv2.INTER_AREA)
        return out

    def reset(self) -> None:
        """Forget every face: the next frame is unrelated to the last (another photo), so nothing is followed
        or smoothed across, and detection runs on it whatever `detect_every` says."""
        self.tracker.reset()
        self.frames = 0

    def process(self, frame: np.ndarray) -> list[Face]:
        """Faces in a uint8 (H, W), (H, W, 1), BGR or BGRA image; ValueError for anything else."""
        with self.timer.time("detect"):
            gray = to_gray(frame)
            tracks, detected = self._boxes(gray)
        with self.timer.time("preprocess"):
            crops = self.crops(gray, [t.box for t in tracks])
        with self.timer.time("infer"):
            probabilities = self.classifier.predict(crops)
        self.frames += 1
        faces = []
        labels = self.contract.labels
        for track, found, p in zip(tracks, detected, probabilities, strict=True):
            p = self.tracker.smoothed(track, p)
            best = int(np.argmax(p))
            faces.append(
                Face(
                    box=tuple(int(v) for v in track.box),
                    label=labels[best],
                    confidence=float(p[best]),
                    probabilities={label: float(v) for label, v in zip(labels, p, strict=True)},
                    track=track.id,
                    detected=found,
                )
            )
        return faces

"""What flows through a run: a frame from a source, the faces found on it, and the frame's JSON record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    image: np.ndarray  # BGR (or grayscale) pixels
    index: int
    name: str  # the image file's name, or the source's
    time: float  # seconds since the source opened
    lores: np.ndarray | None = None  # a grayscale detection-size frame from the camera itself (picam)


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


def frame_record(frame: Frame, faces: list[Face]) -> dict:
    return {
        "source": frame.name,
        "frame": frame.index,
        "time": round(frame.time, 4),
        "faces": [face.to_dict() for face in faces],
    }

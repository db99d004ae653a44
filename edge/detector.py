"""Haar-cascade face detection on a downscaled grayscale frame, boxes mapped back to full resolution."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import UserError

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# Where apt's OpenCV (Raspberry Pi OS, Debian, Ubuntu) and source builds put the cascades.
SYSTEM_CASCADE_DIRS = (
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
    "/usr/local/share/opencv/haarcascades",
)


def find_cascade(name: str = CASCADE_FILE) -> Path:
    """The cascade file from `cv2.data` (pip OpenCV) or the usual system folders (apt OpenCV)."""
    folders = [getattr(getattr(cv2, "data", None), "haarcascades", None), *SYSTEM_CASCADE_DIRS]
    for folder in filter(None, folders):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    raise UserError(
        f"{name} not found in cv2.data or {', '.join(SYSTEM_CASCADE_DIRS)}; install OpenCV 4 (pip <5 or apt)"
    )


@dataclass
class DetectorConfig:
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face: int = 48  # pixels, in the full-resolution frame
    detect_width: int = 320  # 0: detect at full resolution


class FaceDetector:
    """Finds frontal faces; returns boxes (N, 4) as x, y, w, h in the coordinates of the frame given."""

    def __init__(self, config: DetectorConfig | None = None, cascade: Path | None = None) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise UserError("this OpenCV has no CascadeClassifier (opencv 5 dropped it): install opencv<5")
        self.config = config or DetectorConfig()
        path = cascade or find_cascade()
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise UserError(f"{path}: not a loadable Haar cascade")

    def scale_for(self, width: int) -> float:
        """Factor from full-resolution to detection-resolution coordinates (1.0: no downscaling)."""
        target = self.config.detect_width
        return target / width if 0 < target < width else 1.0

    def downscale(self, gray: np.ndarray) -> tuple[np.ndarray, float]:
        scale = self.scale_for(gray.shape[1])
        if scale == 1.0:
            return gray, scale
        size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), scale

    def detect(self, gray: np.ndarray) -> np.ndarray:
        return self.detect_downscaled(*self.downscale(gray))

    def detect_downscaled(self, small: np.ndarray, scale: float) -> np.ndarray:
        """Detect on a frame already passed through `downscale` (the pipeline shares it with the tracker)."""
        min_side = max(1, round(self.config.min_face * scale))
        boxes = self.cascade.detectMultiScale(
            small,
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=(min_side, min_side),
        )
        if len(boxes) == 0:
            return np.zeros((0, 4), dtype=np.int32)
        return np.round(np.asarray(boxes, dtype=np.float64) / scale).astype(np.int32)

"""OpenCV's Haar frontal-face cascade (`--detector haar`, and auto's choice where YuNet cannot run): any OpenCV 4."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.detectors.base import Detector, DetectorConfig, to_gray

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# --scale-factor: each pyramid level is the last one shrunk by this; near 1 the levels run to the thousands
# (1.00001 asked for 41 GB), and over 2 the cascade skips most face sizes.
SCALE_FACTOR_RANGE = (1.01, 2.0)
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


class HaarDetector(Detector):
    """OpenCV's Haar frontal-face cascade: finds frontal faces on any OpenCV 4."""

    def __init__(self, config: DetectorConfig | None = None, cascade: Path | None = None) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise UserError("this OpenCV has no CascadeClassifier (opencv 5 dropped it): install opencv<5")
        self.config = config or DetectorConfig()
        path = cascade or find_cascade()
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise UserError(f"{path}: not a loadable Haar cascade")

    def find(self, small: np.ndarray, min_side: int, max_side: int = 0) -> np.ndarray:
        boxes = self.cascade.detectMultiScale(
            to_gray(small),
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=(min_side, min_side),
            maxSize=(max_side, max_side),  # (0, 0): no limit
        )
        return np.asarray(boxes, dtype=np.int32).reshape(-1, 4)


FaceDetector = HaarDetector  # the name before YuNet joined; deprecated, kept for code that imports it

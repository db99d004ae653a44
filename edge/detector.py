"""Face detection on a downscaled grayscale frame, boxes mapped back to full resolution.

Two detectors share one interface (`Detector`): OpenCV's Haar cascade (the default, on every OpenCV 4) and
YuNet (edge/yunet.py, OpenCV >= 4.8). Both detect at `detect_width` pixels wide, and both can re-detect in a
window of the detection frame (`find`), which the pipeline uses to re-check known faces cheaply.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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


DETECTORS = ("haar", "yunet")
NO_BOXES = np.zeros((0, 4), dtype=np.int32)


@dataclass
class DetectorConfig:
    scale_factor: float = 1.1  # Haar only
    min_neighbors: int = 5  # Haar only
    min_face: int = 48  # pixels, in the full-resolution frame
    detect_width: int = 320  # 0: detect at full resolution
    name: str = "haar"  # one of DETECTORS


def check_image(frame: np.ndarray) -> None:
    """Accept a uint8 (H, W), (H, W, 1), BGR (H, W, 3) or BGRA (H, W, 4) image.

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


def to_gray(frame: np.ndarray) -> np.ndarray:
    """The grayscale view of an image `check_image` accepts. Unchecked: it runs several times a frame (detection
    frame, tracker frame, each face crop), so callers check their input once where it enters (`Pipeline.process`,
    `detect`)."""
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 1:
        return frame[:, :, 0]
    return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


class Detector(ABC):
    """What the pipeline needs from a face detector: the downscaling and mapping back that every detector
    shares; subclasses implement `find`. Boxes are (N, 4) int32 arrays of x, y, w, h."""

    config: DetectorConfig
    color = False  # True: `find` sees colour when the frame has it (YuNet finds more faces in colour)

    @abstractmethod
    def find(self, small: np.ndarray, min_side: int, max_side: int = 0) -> np.ndarray:
        """Boxes in `small`'s own pixels, none with a side under `min_side` or (if given) over `max_side`."""

    def scale_for(self, width: int) -> float:
        """Factor from full-resolution to detection-resolution coordinates (1.0: no downscaling)."""
        target = self.config.detect_width
        return target / width if 0 < target < width else 1.0

    def min_side(self, scale: float) -> int:
        """`min_face` in detection-resolution pixels."""
        return max(1, round(self.config.min_face * scale))

    def downscale(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The detection frame: resized first, so a colour frame is converted (if at all) at the small size."""
        scale = self.scale_for(frame.shape[1])
        if scale != 1.0:
            size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        colour = self.color and frame.ndim == 3 and frame.shape[2] >= 3  # (H, W, 1) is grayscale too
        return (frame if colour else to_gray(frame)), scale

    def detect(self, frame: np.ndarray) -> np.ndarray:
        check_image(frame)
        return self.detect_downscaled(*self.downscale(frame))

    def detect_downscaled(self, small: np.ndarray, scale: float) -> np.ndarray:
        """Detect on a frame already passed through `downscale` (the pipeline shares it with the tracker)."""
        boxes = self.find(small, self.min_side(scale))
        if len(boxes) == 0:
            return NO_BOXES
        return np.round(np.asarray(boxes, dtype=np.float64) / scale).astype(np.int32)


class FaceDetector(Detector):
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


def make_detector(config: DetectorConfig | None = None) -> Detector:
    """The detector `config.name` names: Haar here, YuNet from edge/yunet.py (imported only when asked for)."""
    config = config or DetectorConfig()
    if config.name == "haar":
        return FaceDetector(config)
    if config.name == "yunet":
        from edge.yunet import YuNetDetector

        return YuNetDetector(config)
    raise UserError(f"--detector {config.name!r}: choose one of {', '.join(DETECTORS)}")

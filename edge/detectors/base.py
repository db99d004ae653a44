"""What every face detector shares: its settings, the image check, and the downscale-detect-map-back around `find`.

A detector is one module here with a `Detector` subclass, and one line in edge/detectors/registry.py. Detectors
work at `detect_width` pixels wide, and can re-detect in a window of the detection frame (`find`), which the
pipeline uses to re-check known faces cheaply.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np

NO_BOXES = np.zeros((0, 4), dtype=np.int32)


@dataclass
class DetectorConfig:
    scale_factor: float = 1.1  # Haar only
    min_neighbors: int = 5  # Haar only
    min_face: int = 48  # pixels, in the full-resolution frame
    detect_width: int = 320  # 0: detect at full resolution
    name: str = "auto"  # a name in edge/detectors/registry.py; auto: yunet where OpenCV runs it, else haar


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
            # At least 1 pixel each way: a 4000x1 strip would round to 320x0, which OpenCV's resize asserts on.
            size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        colour = self.color and frame.ndim == 3 and frame.shape[2] >= 3  # (H, W, 1) is grayscale too
        return (frame if colour else to_gray(frame)), scale

    def detect(self, frame: np.ndarray) -> np.ndarray:
        check_image(frame)
        return self.detect_downscaled(*self.downscale(frame))

    def detect_downscaled(self, small: np.ndarray, scale: float) -> np.ndarray:
        """Detect on a frame already passed through `downscale` (the pipeline shares it with the tracker)."""
        min_side = self.min_side(scale)
        if min(small.shape[:2]) < min_side:  # no face of the minimum size fits (and YuNet misbehaves on tiny inputs)
            return NO_BOXES
        boxes = self.find(small, min_side)
        if len(boxes) == 0:
            return NO_BOXES
        return np.round(np.asarray(boxes, dtype=np.float64) / scale).astype(np.int32)

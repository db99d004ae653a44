"""Crop a detected face the way the training data frames its faces.

FER-2013's 48x48 faces carry a margin of hair, forehead and chin; a detector's box is tighter, and each
detector's box sits differently on a face. Training measures where each detector's box falls inside its
training crops (`train/framing.py`) and writes it into the contract; here the inverse is applied, so the
classifier sees a live face framed as it saw its training faces. A contract without framing (older models)
crops the detector's box as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detector import to_gray


@dataclass(frozen=True)
class Framing:
    """Where a detector's square box falls in a training crop, in units of the crop's side."""

    centre_x: float = 0.5
    centre_y: float = 0.5
    side: float = 1.0

    @classmethod
    def from_dict(cls, data: dict) -> Framing:
        return cls(float(data["centre_x"]), float(data["centre_y"]), float(data["side"]))

    def to_dict(self) -> dict[str, float]:
        return {"centre_x": round(self.centre_x, 4), "centre_y": round(self.centre_y, 4), "side": round(self.side, 4)}

    def crop_of(self, box: np.ndarray) -> tuple[float, float, float]:
        """The crop (x, y, side) in frame pixels that puts the box (x, y, w, h) where training crops had it."""
        x, y, w, h = (float(v) for v in box)
        side = (w + h) / 2 / self.side
        return x + w / 2 - self.centre_x * side, y + h / 2 - self.centre_y * side, side


IDENTITY = Framing()


def cut(frame: np.ndarray, crop: tuple[float, float, float], size: tuple[int, int]) -> np.ndarray:
    """The square `crop` (x, y, side) of an image, made grayscale (only that part) and resized to `size` (h, w);
    parts outside the image repeat its edge pixels, as FER-2013's crops of faces near an image border do."""
    x, y, side = (round(v) for v in crop)
    side = max(side, 1)
    height, width = frame.shape[:2]
    left, top = max(0, -x), max(0, -y)
    right, bottom = max(0, x + side - width), max(0, y + side - height)
    inside = to_gray(frame[max(0, y) : min(height, y + side), max(0, x) : min(width, x + side)])
    if inside.size == 0:
        return np.zeros(size, dtype=np.uint8)
    if left or top or right or bottom:
        inside = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return cv2.resize(inside, (size[1], size[0]), interpolation=cv2.INTER_AREA)

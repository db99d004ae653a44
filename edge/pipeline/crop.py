"""Cut a detected face out of a frame, framed the way the model's training data framed its faces.

FER-2013's 48x48 faces carry a margin of hair, forehead and chin, and each detector's box sits differently on a
face. Training measures where each detector's box falls inside its training crops (`train/framing.py`) and the
contract carries it (`Contract.framing`); the pipeline turns a box into the matching crop with
`Framing.crop_of`, and this cuts it. A contract without framing (older models) crops the box as it is.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.detectors.base import to_gray


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

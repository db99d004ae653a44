"""Detection in a window around a known face: the cheap pass between full scans (`--roi-detect`).

A full scan searches the whole detection frame at every scale. Here each known face's window (about twice its
side) is resampled so the face is `WINDOW_FACE` pixels wide, and searched only for faces between 0.7 and 1.4
times that: a few positions and scales, at a fixed small input size (which YuNet needs to stay fast). Unlike
template following it follows changes of size, and it notices a face that left. A face its window misses is
followed by template matching for that frame, so one weak frame does not end its track; new faces wait for the
next full scan (`--detect-every N`). A known face that a full scan misses is looked for in its window before
its track ends, so a full scan's miss does not last until the next one. This module finds a face near a box;
edge/pipeline/redetect.py applies it to the tracks.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.common.boxes import MIN_IOU, iou
from edge.detectors.base import Detector

MARGIN = 0.5  # of the face's side, on each side of it: room for movement and growth between frames
WINDOW_FACE = 40  # pixels: the known face's side in the resampled window (Haar's smallest is 24)
SIZE_RANGE = (0.7, 1.4)  # of the known face's side: how much it may shrink or grow between frames


def window_transform(box: np.ndarray) -> tuple[np.ndarray, int]:
    """The affine matrix that maps the window around `box` (detection-frame pixels) to a square of `side`."""
    x, y, w, h = box
    face = max(w, h, 1.0)
    factor = WINDOW_FACE / face
    side = round(WINDOW_FACE * (1 + 2 * MARGIN))
    x0, y0 = x + w / 2 - face * (0.5 + MARGIN), y + h / 2 - face * (0.5 + MARGIN)
    return np.array([[factor, 0, -x0 * factor], [0, factor, -y0 * factor]]), side


def find_near(detector: Detector, small: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The face the detector finds in `box`'s window, in detection-frame pixels, or None."""
    matrix, side = window_transform(box)
    window = cv2.warpAffine(small, matrix, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    low, high = (round(WINDOW_FACE * f) for f in SIZE_RANGE)
    found = detector.find(window, low, high).astype(np.float64)
    if len(found) == 0:
        return None
    factor = matrix[0, 0]
    found[:, :2] -= matrix[:, 2]
    found /= factor
    best = max(found, key=lambda b: iou(b, box))
    return best if iou(best, box) >= MIN_IOU else None  # not a neighbour's face inside the window

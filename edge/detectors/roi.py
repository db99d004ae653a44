"""Re-detection in a window around each known face: the cheap pass between full scans (`--roi-detect`).

A full scan searches the whole detection frame at every scale. Here each known face's window (about twice its
side) is resampled so the face is `WINDOW_FACE` pixels wide, and searched only for faces between 0.7 and 1.4
times that: a few positions and scales, at a fixed small input size (which YuNet needs to stay fast). Unlike
template following it follows changes of size, and it notices a face that left. A face its window misses is
followed by template matching for that frame, so one weak frame does not end its track; new faces wait for the
next full scan (`--detect-every N`). A known face that a full scan misses is looked for in its window before
its track ends (`recover`), so a full scan's miss does not last until the next one.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.detectors.base import Detector
from edge.pipeline.tracker import MIN_IOU, Track, Tracker, iou

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


def redetect(
    detector: Detector, tracker: Tracker, small: np.ndarray, gray: np.ndarray, scale: float
) -> tuple[list[Track], list[bool]]:
    """Each known face re-detected in its window (True) or, failing that, followed by its template (False).
    `small` is the detection frame as the detector takes it, `gray` the same frame in grayscale."""
    kept, found = [], []
    for track in tracker.tracks:
        box = find_near(detector, small, track.box * scale)
        if box is not None:
            tracker.redetected(track, box / scale, gray, scale)
            kept.append(track)
            found.append(True)
        elif tracker.follow_one(track, gray, scale):
            kept.append(track)
            found.append(False)
    tracker.tracks = kept
    return kept, found


def recover(
    detector: Detector, tracker: Tracker, before: list[Track], small: np.ndarray, gray: np.ndarray, scale: float
) -> list[bool]:
    """Tracks of `before` that a full detection just dropped, kept when their window still holds the face (and
    no kept track has it). Returns the detected flags of the tracks added to `tracker.tracks`."""
    added = []
    for track in before:
        if track in tracker.tracks:
            continue
        box = find_near(detector, small, track.box * scale)
        if box is not None and all(iou(box / scale, t.box) < MIN_IOU for t in tracker.tracks):
            tracker.redetected(track, box / scale, gray, scale)
            tracker.tracks.append(track)
            added.append(True)
    return added

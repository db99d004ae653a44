"""Re-detection in a window around each known face: the cheap pass between full scans (`--roi-detect`).

A full scan searches the whole detection frame at every scale; a window of about twice a face's side
holds only a few scales and positions, so it costs a fraction of a scan. Unlike template following, it
follows changes of size, and it drops a face the detector no longer sees. A face the window misses is
followed by template matching for that frame, so one weak frame does not end its track; new faces wait
for the next full scan (`--detect-every N`).
"""

from __future__ import annotations

import numpy as np

from edge.detector import Detector
from edge.tracking import MIN_IOU, Track, Tracker, iou

MARGIN = 0.5  # of the face's side, on each side of it: room for movement and growth between scans


def window(box: np.ndarray, shape: tuple[int, ...], margin: float = MARGIN) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the search window around `box` (detection-resolution pixels), inside the frame."""
    x, y, w, h = box
    pad = margin * max(w, h)
    height, width = shape[:2]
    return (
        max(0, int(x - pad)),
        max(0, int(y - pad)),
        min(width, int(np.ceil(x + w + pad))),
        min(height, int(np.ceil(y + h + pad))),
    )


def redetect(detector: Detector, tracker: Tracker, small: np.ndarray, scale: float) -> tuple[list[Track], list[bool]]:
    """Each known face re-detected in its window (True) or, failing that, followed by its template (False)."""
    kept, found = [], []
    min_side = detector.min_side(scale)
    for track in tracker.tracks:
        predicted = track.box * scale
        x0, y0, x1, y1 = window(predicted, small.shape)
        boxes = detector.find(small[y0:y1, x0:x1], min_side).astype(np.float64)
        boxes[:, :2] += (x0, y0)
        best = max(boxes, key=lambda b: iou(b, predicted), default=None)
        if best is not None and iou(best, predicted) >= MIN_IOU:  # not a neighbour's face inside the window
            tracker.redetected(track, best / scale, small, scale)
            kept.append(track)
            found.append(True)
        elif tracker.follow_one(track, small, scale):
            kept.append(track)
            found.append(False)
    tracker.tracks = kept
    return kept, found

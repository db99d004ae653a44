"""Known faces re-detected in their windows (`--roi-detect`): each track's window searched by the detector
(edge/detectors/roi.py), the tracker following by template where the window misses."""

from __future__ import annotations

import numpy as np

from edge.common.boxes import MIN_IOU, iou
from edge.detectors.base import Detector
from edge.detectors.roi import find_near
from edge.pipeline.tracker import Track, Tracker


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

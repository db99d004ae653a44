"""Box geometry that detectors, the tracker and the benchmarks share: boxes are x, y, w, h."""

from __future__ import annotations

import numpy as np

MIN_IOU = 0.3  # two boxes overlapping at least this much are taken for one face (a track's match, a window's find)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0

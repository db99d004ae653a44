"""Recall and precision of face boxes against ground truth, matched one to one at IoU >= 0.4."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.common.boxes import iou

MIN_IOU = 0.4


def true_positives(found: np.ndarray, truth: np.ndarray, min_iou: float = MIN_IOU) -> int:
    """Greedy one-to-one matching, best overlaps first: a true face counts once, however many boxes cover it."""
    pairs = sorted(((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), key=lambda p: -p[0])
    used_found, used_truth = set(), set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i not in used_found and j not in used_truth:
            used_found.add(i)
            used_truth.add(j)
    return len(used_found)


@dataclass
class DetectionScore:
    hits: int = 0
    found: int = 0
    faces: int = 0

    def add(self, found: np.ndarray, truth: np.ndarray) -> None:
        self.hits += true_positives(found, truth)
        self.found += len(found)
        self.faces += len(truth)

    def summary(self) -> dict:
        return {
            "recall": round(self.hits / self.faces, 4) if self.faces else 0.0,
            "precision": round(self.hits / self.found, 4) if self.found else 0.0,
            "hits": self.hits,
            "found": self.found,
            "faces": self.faces,
        }

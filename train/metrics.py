"""Classification metrics in plain numpy, shared by train, convert and benchmarks."""

from __future__ import annotations

import numpy as np

from edge.contract import LABELS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = len(LABELS)) -> np.ndarray:
    """Rows are true classes, columns predicted."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[str] | tuple[str, ...] = LABELS
) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro-F1 and the confusion matrix."""
    cm = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), len(labels))
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = support > 0
    return {
        "n": int(cm.sum()),
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": cm.tolist(),
    }


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """Top-1 agreement and the largest probability difference between two (N, C) probability arrays."""
    return {
        "top1_agreement": float((reference.argmax(1) == candidate.argmax(1)).mean()),
        "max_abs_prob_diff": float(np.abs(reference - candidate).max()),
        "mean_abs_prob_diff": float(np.abs(reference - candidate).mean()),
    }

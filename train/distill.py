"""Knowledge distillation targets: a teacher ensemble's probabilities for every Training row.

Computed once (`python -m train teach`) and saved as a small .npy, so a student can be trained on a
machine that cannot hold the teachers (the GPU machine's upload limit, a laptop's memory).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.common.errors import UserError
from edge.common.files import atomic_path
from edge.contract import Contract
from train.data import Dataset


def teacher_probabilities(model_paths: list[Path], data: Dataset) -> np.ndarray:
    """Mean flip-averaged probabilities of the teachers on the Training rows, in CSV order (N, C) float16."""
    from train.models import load, predict

    images, _ = data.split("Training")
    total = None
    for path in model_paths:
        model = load(path)
        contract = Contract.load(path.parent)
        contract.flip_average = True
        probabilities = predict(model, images, contract)
        total = probabilities if total is None else total + probabilities
    return (total / len(model_paths)).astype(np.float16)


def save_soft_labels(path: Path, probabilities: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, probabilities)


def load_soft_labels(path: Path, n_training: int, num_classes: int) -> np.ndarray:
    try:
        soft = np.load(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a soft-label .npy file ({exc})") from None
    if soft.shape != (n_training, num_classes):
        raise UserError(
            f"{path}: shape {soft.shape}, expected ({n_training}, {num_classes}) for this CSV's Training rows"
        )
    return soft.astype(np.float32)

"""Knowledge distillation targets: what a teacher says of each Training face.

Two ways. Computed once (`python -m train teach`) and saved as a small .npy, so a student can be trained on a
machine that cannot hold the teachers (the GPU machine's upload limit, a laptop's memory). Or on every
augmented batch (`--teacher DIR`, `BatchTeacher`), so the teacher judges exactly the view the student sees,
shifted, turned, erased or mixed: a fixed answer for the unaugmented face is partly wrong for its augmented
view. A converted folder's int8 model teaches this way at a fraction of a small student's epoch time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from edge.classifier import Classifier
from edge.common.errors import UserError
from edge.common.files import atomic_path, check_regular
from edge.contract import CONTRACT_FILENAME, Contract
from edge.model_folder import INT8_FILE, resolve_model
from train.data import Dataset

MODEL_SUFFIXES = (".keras", ".tflite")  # a teacher given as a file: a trained .keras, or a converted .tflite


def model_contract(path: Path) -> Contract:
    """A model's contract (a teacher's, or the one --init-from starts from): beside a .keras model, or in a
    converted folder (or beside its .tflite). A missing path is named itself, not the contract.json its parent
    folder lacks."""
    if not path.exists():
        raise UserError(f"{path}: no such model folder or file")
    if not path.is_dir() and (path.suffix not in MODEL_SUFFIXES or not (path.parent / CONTRACT_FILENAME).is_file()):
        raise UserError(
            f"{path}: not a model (a converted folder, its .tflite, or a .keras with contract.json beside it)"
        )
    return Contract.load(path if path.is_dir() else path.parent)


def _probabilities(path: Path, images: np.ndarray) -> np.ndarray:
    """One teacher's flip-averaged probabilities: a .keras model, or a converted folder's float32 TFLite model
    (so a shipped model teaches without its .keras)."""
    contract = model_contract(path)
    contract.flip_average = True
    if path.suffix == ".keras":
        from train.models import load, predict

        return predict(load(path), images, contract)
    model_path, _ = resolve_model(path, "float32")
    return Classifier(model_path, contract).predict(images)


def teacher_probabilities(model_paths: list[Path], data: Dataset) -> np.ndarray:
    """Mean flip-averaged probabilities of the teachers on the Training rows, in the data's order (N, C) float16;
    photos as the model crops them (`Dataset.model_split`)."""
    images, _ = data.model_split("Training")
    total = sum(_probabilities(path, images) for path in model_paths)
    return (total / len(model_paths)).astype(np.float16)


def save_soft_labels(path: Path, probabilities: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, probabilities)


def load_soft_labels(path: Path, n_training: int, num_classes: int, classes: list[int] | None = None) -> np.ndarray:
    """A teacher's probabilities (`train teach`'s .npy), one row per Training row, each checked: real numbers,
    finite, not negative, some mass in every row (on `classes` for --split-by, which shares that mass). A row that
    fails would train on NaN or on zero targets without a word."""
    check_regular(path, "soft-label .npy file")
    try:
        soft = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # a text file, or a pickled (object) array: never unpickled
        raise UserError(f"{path}: not a soft-label .npy file (an array saved by `python -m train teach`)") from None
    if not isinstance(soft, np.ndarray) or soft.shape != (n_training, num_classes):
        shape = soft.shape if isinstance(soft, np.ndarray) else "none (an .npz archive)"
        raise UserError(f"{path}: shape {shape}, expected ({n_training}, {num_classes}) for this CSV's Training rows")
    if soft.dtype.kind not in "fiu":
        raise UserError(f"{path}: holds {soft.dtype} values, not probabilities")
    soft = soft.astype(np.float64)
    mass = soft[:, classes].sum(axis=1) if classes else soft.sum(axis=1)
    bad = ~np.isfinite(soft).all(axis=1) | (soft < 0).any(axis=1) | ~(mass > 0)
    if bad.any():
        row = int(np.argmax(bad))
        within = " on the --split-classes" if classes else ""
        raise UserError(
            f"{path}: row {row} (and {int(bad.sum()) - 1} more) is not probabilities: every value must be finite and"
            f" not negative, with some mass{within}"
        )
    return soft.astype(np.float32)


def split_within(targets: np.ndarray, judge: np.ndarray, classes: list[int]) -> np.ndarray:
    """Targets whose mass on `classes` (together) is kept, but shared among them as `judge` shares it.

    Why: FER-2013's labels (and the teachers trained on them) call a closed-mouth smile Neutral, while a network
    trained on web photos calls it Happy. With `classes` Happy and Neutral, FER-2013 still decides whether a
    face is one of the two (or angry, sad...), and the web-photo teacher decides which of the two it is."""
    out = targets.copy()
    mass = targets[:, classes].sum(axis=1, keepdims=True)
    share = judge[:, classes] / np.maximum(judge[:, classes].sum(axis=1, keepdims=True), 1e-12)
    out[:, classes] = mass * share
    return out


class BatchTeacher:
    """A converted model folder's mirror-averaged probabilities for normalised batches (N, H, W, 1), as the
    student sees them; int8 when the folder has it (the fast one), else float32. One interpreter per thread, as
    augmentation threads (`--workers`) call it at once. A teacher whose input differs from the student's (face-api's
    112x112 RGB) gets each view back as pixels, resized and coloured to its input (`Contract.fit_images`)."""

    def __init__(self, folder: Path, student: Contract) -> None:
        precision = "int8" if (Path(folder) / INT8_FILE).is_file() else "float32"
        self.path, self.contract = resolve_model(folder, precision)
        if list(self.contract.labels) != list(student.labels):
            raise UserError(
                f"{folder}: the teacher answers in {', '.join(self.contract.labels)}, the student in"
                f" {', '.join(student.labels)}"
            )
        self.student = student
        self.same_input = (self.contract.input_shape, self.contract.pixel_scale, self.contract.pixel_offset) == (
            student.input_shape,
            student.pixel_scale,
            student.pixel_offset,
        )
        self.local = threading.local()

    def _classifier(self) -> Classifier:
        if not hasattr(self.local, "classifier"):
            self.local.classifier = Classifier(self.path, self.contract, threads=1)
        return self.local.classifier

    def _inputs(self, classifier: Classifier, batch: np.ndarray) -> np.ndarray:
        if self.same_input:
            return classifier.quantise(batch)
        pixels = (batch[..., 0] - self.student.pixel_offset) / self.student.pixel_scale
        return classifier.prepare(self.contract.fit_images(np.clip(np.round(pixels), 0, 255).astype(np.uint8)))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        classifier = self._classifier()
        seen = classifier.invoke(self._inputs(classifier, batch))
        mirrored = classifier.invoke(self._inputs(classifier, batch[:, :, ::-1]))
        return ((seen + mirrored) / 2).astype(np.float32)

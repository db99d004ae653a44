"""A converted model teaches on every augmented batch (`--teacher DIR`): its answer is for the very view the
student sees, blended into each target by --distill-weight; a teacher that reads other inputs or labels, or one
given with --soft-labels, is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.classifier import Classifier
from edge.contract import Contract
from edge.model_folder import INT8_FILE, MODEL_NAMES, resolve_model
from tests.conftest import error_lines, run_module
from train.augment import AugmentConfig, FerBatches
from train.distill import BatchTeacher


def test_the_teacher_judges_the_augmented_view_and_takes_its_share(converted: Path) -> None:
    contract = Contract.load(converted)
    images = np.random.default_rng(0).integers(0, 256, size=(64, 48, 48), dtype=np.uint8)
    labels = np.arange(64) % 7
    onehot = np.eye(7, dtype=np.float32)[labels]
    teacher = BatchTeacher(converted, contract)
    batches = FerBatches(images, onehot, labels, contract, batch_size=32, augment=AugmentConfig(mixup_alpha=0.4),
                         teacher=teacher, teacher_weight=0.7)  # fmt: skip
    plain = FerBatches(images, onehot, labels, contract, batch_size=32, augment=AugmentConfig(mixup_alpha=0.4))
    x, y, _ = batches[0]
    same_x, label_part, _ = plain[0]
    assert np.array_equal(x, same_x)  # the teacher changes the targets only
    path, _ = resolve_model(converted, "int8")
    own = Classifier(path, contract)
    seen = (own.invoke(own.quantise(x)) + own.invoke(own.quantise(x[:, :, ::-1]))) / 2  # the mixed, turned view
    np.testing.assert_allclose(y, 0.7 * seen + 0.3 * label_part, atol=1e-6)
    assert np.allclose(y.sum(axis=1), 1, atol=0.01)  # int8 probabilities come in steps of 1/256


@pytest.mark.slow
def test_a_student_trains_with_a_converted_teacher(converted: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    run_module(
        "train", "--data", str(synthetic_csv), "--arch", "tiny", "--teacher", str(converted), "--epochs", "1",
        "--batch-size", "32", "--workers", "2", "--out", str(out), check=True,
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["splits"]["PublicTest"]["accuracy"] <= 1
    assert (out / "model.keras").is_file()


def test_a_teacher_with_other_labels_is_one_line(converted: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(converted, other)
    contract = json.loads((other / "contract.json").read_text())
    contract["labels"] = [f"L{i}" for i in range(7)]
    (other / "contract.json").write_text(json.dumps(contract))
    result = run_module("train", "--data", str(synthetic_csv), "--teacher", str(other), "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1, result.stderr
    assert str(other) in result.stderr and "labels" in result.stderr


def test_teacher_and_soft_labels_together_are_one_line(converted: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    soft = tmp_path / "soft.npy"
    np.save(soft, np.full((448, 7), 1 / 7, dtype=np.float16))
    result = run_module("train", "--data", str(synthetic_csv), "--teacher", str(converted), "--soft-labels",
                        str(soft), "--out", str(tmp_path / "r"))  # fmt: skip
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert "--teacher and --soft-labels" in line


@pytest.mark.slow
def test_a_teachers_tflite_file_teaches_like_its_folder(synthetic_csv: Path, tmp_path: Path) -> None:
    """D21: `--teacher FOLDER/model_int8.tflite` was accepted by the label check, then ended in a traceback
    (NotADirectoryError) where the run's identity read FILE/contract.json."""
    out = tmp_path / "student"
    run_module(
        "train", "--data", str(synthetic_csv), "--arch", "tiny", "--teacher", str(MODEL_NAMES["faceapi"] / INT8_FILE),
        "--epochs", "1", "--batch-size", "32", "--workers", "2", "--out", str(out), check=True,
    )  # fmt: skip
    assert (out / "model.keras").is_file()


@pytest.mark.parametrize("command", ["fit", "teach"])
def test_a_missing_teacher_is_named_itself(synthetic_csv: Path, tmp_path: Path, command: str) -> None:
    """D28: a missing teacher path was reported as its parent folder's contract.json."""
    missing = tmp_path / "nope"
    if command == "teach":
        args = ["teach", "--out", str(tmp_path / "soft.npy"), "--model", str(missing)]
    else:
        args = ["--teacher", str(missing), "--out", str(tmp_path / "r")]
    result = run_module("train", *args, "--data", str(synthetic_csv))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"train: error: {missing}: no such model folder or file"]

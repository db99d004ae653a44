"""`--distribute data-parallel` on two virtual XLA CPU devices: the same training as on one device, up to rounding."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import error_lines, run_module

TWO_DEVICES = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
FIT = ("--arch", "tiny", "--epochs", "2", "--batch-size", "16", "--lr", "0.01", "--no-augment")

pytest.importorskip("jax", reason="--distribute needs the JAX backend (the `distributed` extra)")


def history(run: Path) -> dict[str, np.ndarray]:
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    columns = ("loss", "accuracy", "val_loss", "val_accuracy")
    return {key: np.array([float(row[key]) for row in rows]) for key in columns}


def test_two_devices_train_as_one(tmp_path: Path, synthetic_csv: Path) -> None:
    runs = {}
    for mode in ("none", "data-parallel"):
        runs[mode] = tmp_path / mode
        result = run_module("train", "--data", str(synthetic_csv), *FIT, "--distribute", mode, "--out",
                            str(runs[mode]), env=TWO_DEVICES, check=True)  # fmt: skip
    assert "--distribute data-parallel: each batch of 16 split across cpu:0, cpu:1" in result.stderr
    one, two = history(runs["none"]), history(runs["data-parallel"])
    # The gradient of a global batch is summed in another order across two devices: the same numbers up to float
    # rounding, which grows a little with every step; an accuracy may move by a row near a decision boundary.  An epoch
    # moves weights by up to about 0.3 here, hundreds of times the tolerance on them.
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(two["accuracy"], one["accuracy"], atol=2 / 448)
    np.testing.assert_allclose(two["val_accuracy"], one["val_accuracy"], atol=2 / 112)
    contracts = [json.loads((run / "contract.json").read_text()) for run in runs.values()]
    assert contracts[0]["extra"]["best_epoch"] == contracts[1]["extra"]["best_epoch"]
    models = [keras.models.load_model(run / "model.keras") for run in runs.values()]
    for a, b in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(b, a, atol=1e-3)  # Adam divides by sqrt(v): rounding in tiny gradients shows


def test_batch_size_must_split_evenly_across_the_devices(tmp_path: Path, synthetic_csv: Path) -> None:
    result = run_module("train", "--data", str(synthetic_csv), "--arch", "tiny", "--batch-size", "33",
                        "--distribute", "data-parallel", "--out", str(tmp_path / "x"), env=TWO_DEVICES)  # fmt: skip
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "train: error: --batch-size 33 cannot be split evenly across 2 devices (cpu:0, cpu:1); use a multiple of 2"
    ]
    assert not (tmp_path / "x").exists()


def test_data_parallel_needs_the_jax_backend(tmp_path: Path, synthetic_csv: Path) -> None:
    result = run_module("train", "--data", str(synthetic_csv), "--distribute", "data-parallel", "--out",
                        str(tmp_path / "x"), env={"KERAS_BACKEND": "tensorflow"})  # fmt: skip
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "train: error: --distribute data-parallel needs the JAX backend (this is tensorflow);"
        " run with KERAS_BACKEND=jax"
    ]


def test_padded_validation_keeps_accuracy_exact() -> None:
    from train.distribute import Devices, padded_validation

    x, y = np.arange(5, dtype=np.float32)[:, None], np.eye(5, dtype=np.float32)
    assert padded_validation(x, y, None) == (x, y)
    px, py, weights = padded_validation(x, y, Devices(["cpu:0", "cpu:1", "cpu:2", "cpu:3"]))
    assert len(px) == len(py) == len(weights) == 8
    assert weights.tolist() == [1] * 5 + [0] * 3

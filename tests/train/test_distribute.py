"""`--distribute data-parallel` on two virtual XLA CPU devices: the same training as on one device, up to rounding."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import error_lines, run_module, train_killed_after

TWO_DEVICES = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
FIT = ("--arch", "tiny", "--epochs", "2", "--batch-size", "16", "--lr", "0.01", "--no-augment")

pytest.importorskip("jax", reason="--distribute needs the JAX backend (the `distributed` extra)")


def history(run: Path) -> dict[str, np.ndarray]:
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    columns = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
    return {key: np.array([float(row[key]) for row in rows]) for key in columns}


def assert_same_training(one: Path, other: Path) -> None:
    """Two runs equal up to float rounding: the gradient of a global batch summed in another order across devices
    grows a little with every step, and an accuracy may move by a row near a decision boundary. An epoch moves
    weights by up to about 0.3 here, hundreds of times the tolerance on them."""
    a, b = history(one), history(other)
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-4)
    np.testing.assert_allclose(b["val_loss"], a["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(b["accuracy"], a["accuracy"], atol=2 / 448)
    np.testing.assert_allclose(b["val_accuracy"], a["val_accuracy"], atol=2 / 112)
    contracts = [json.loads((run / "contract.json").read_text()) for run in (one, other)]
    assert contracts[0]["extra"]["best_epoch"] == contracts[1]["extra"]["best_epoch"]
    models = [keras.models.load_model(run / "model.keras") for run in (one, other)]
    for x, y in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(y, x, atol=1e-3)  # Adam divides by sqrt(v): rounding in tiny gradients shows


@pytest.fixture(scope="module")
def one_device(tmp_path_factory: pytest.TempPathFactory, synthetic_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("runs") / "one"
    run_module("train", "--data", str(synthetic_csv), *FIT, "--out", str(out), env={"KERAS_BACKEND": "jax"},
               check=True)  # fmt: skip
    return out


def test_two_devices_train_as_one(tmp_path: Path, synthetic_csv: Path, one_device: Path) -> None:
    out = tmp_path / "two"
    result = run_module("train", "--data", str(synthetic_csv), *FIT, "--distribute", "data-parallel", "--out",
                        str(out), env=TWO_DEVICES, check=True)  # fmt: skip
    assert "--distribute data-parallel: each batch of 16 split across 2 devices (cpu:0, cpu:1)" in result.stderr
    assert_same_training(one_device, out)


def test_two_processes_train_as_one(tmp_path: Path, synthetic_csv: Path, one_device: Path) -> None:
    """Two hosts, played by two local processes of one CPU device each, joined through Keras's variables."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def process(rank: int) -> subprocess.CompletedProcess:
        env = {
            "KERAS_BACKEND": "jax",
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
            "KERAS_DISTRIBUTION_PROCESS_ID": str(rank),
        }
        return run_module("train", "--data", str(synthetic_csv), *FIT, "--distribute", "data-parallel", "--out",
                          str(tmp_path / f"host{rank}"), env=env, check=True, timeout=300)  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(process, (0, 1)))
    assert "each batch of 16 split across 2 devices in 2 processes" in results[0].stderr
    assert (tmp_path / "host0" / "history.csv").read_text().split("seconds")[1].count("\n") == 3
    for rank in (0, 1):
        assert_same_training(one_device, tmp_path / f"host{rank}")


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


def test_a_data_parallel_run_resumes_on_one_device(tmp_path: Path, synthetic_csv: Path) -> None:
    """--distribute may change on resume: a run killed on two devices continues on one."""
    out = tmp_path / "run"
    args = ["--data", str(synthetic_csv), *FIT[:2], "--batch-size", "16"]
    done = train_killed_after(out, 1, *args, "--epochs", "30", "--distribute", "data-parallel", env=TWO_DEVICES)
    assert 1 <= done < 30, "the kill should land mid-run"
    resumed = run_module("train", *args, "--epochs", str(done + 1), "--out", str(out), env={"KERAS_BACKEND": "jax"})
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming {out} after epoch {done}" in resumed.stdout
    assert [int(row) for row in history(out)["epoch"]] == list(range(1, done + 2))

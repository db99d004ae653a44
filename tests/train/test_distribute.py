"""`--distribute data-parallel` on two virtual XLA CPU devices: the same training as on one device, up to rounding."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import (
    ROOT,
    SYNTHETIC_ROWS,
    error_lines,
    run_module,
    subprocess_env,
    train_killed_after,
    wait_while_working,
)

TWO_DEVICES = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
FIT = ("--arch", "tiny", "--epochs", "2", "--batch-size", "16", "--lr", "0.01", "--no-augment")

pytest.importorskip("jax", reason="--distribute needs the JAX backend (the `distributed` extra)")


def history(run: Path) -> dict[str, np.ndarray]:
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    columns = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
    return {key: np.array([float(row[key]) for row in rows]) for key in columns}


TRAINING_ROWS, VALIDATION_ROWS = SYNTHETIC_ROWS["Training"], SYNTHETIC_ROWS["PublicTest"]


def rounding_rtol(rows: int) -> float:
    """How far a loss over `rows` rows may move when only the order of float32 sums differs, as across devices.

    A float32 sum of n terms in another order differs by up to about n·eps, relative (first order). Each step's
    gradient is a sum over the batch (on two devices: two halves, then their sum), and its error carries into
    every later step's weights, so after FIT's steps the weights carry up to steps·batch·eps; the loss is then a
    mean over `rows` more terms. Adam divides by sqrt(v), which magnifies the rounding of the smallest gradients:
    a factor of 4 covers it (the largest seen was 1.1e-4 against this bound's 4.8e-4 for val_loss)."""
    epochs, batch = int(FIT[FIT.index("--epochs") + 1]), int(FIT[FIT.index("--batch-size") + 1])
    steps = epochs * TRAINING_ROWS // batch
    return 4 * (steps * batch + rows) * float(np.finfo(np.float32).eps)


def assert_same_training(one: Path, other: Path) -> None:
    """Two runs equal up to float rounding: the gradient of a global batch summed in another order across devices
    grows a little with every step (`rounding_rtol`), and an accuracy may move by a row near a decision boundary.
    An epoch moves weights by up to about 0.3 here, thirty times the tolerance on them."""
    a, b = history(one), history(other)
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=rounding_rtol(TRAINING_ROWS))
    np.testing.assert_allclose(b["val_loss"], a["val_loss"], rtol=rounding_rtol(VALIDATION_ROWS))
    np.testing.assert_allclose(b["accuracy"], a["accuracy"], atol=2 / TRAINING_ROWS)
    np.testing.assert_allclose(b["val_accuracy"], a["val_accuracy"], atol=2 / VALIDATION_ROWS)
    contracts = [json.loads((run / "contract.json").read_text()) for run in (one, other)]
    assert contracts[0]["extra"]["best_epoch"] == contracts[1]["extra"]["best_epoch"]
    models = [keras.models.load_model(run / "model.keras") for run in (one, other)]
    # Adam divides each gradient by its running size, so a weight whose gradient is near zero takes steps of up
    # to the learning rate in a direction that rounding can turn: it may differ by about one step (1.0e-3 seen)
    step = float(FIT[FIT.index("--lr") + 1])
    for x, y in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(y, x, atol=step)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory: pytest.TempPathFactory, synthetic_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("runs") / "one"
    run_module("train", "--data", str(synthetic_csv), *FIT, "--out", str(out), env={"KERAS_BACKEND": "jax"},
               check=True)  # fmt: skip
    return out


@pytest.mark.slow
def test_two_devices_train_as_one(tmp_path: Path, synthetic_csv: Path, one_device: Path) -> None:
    out = tmp_path / "two"
    result = run_module("train", "--data", str(synthetic_csv), *FIT, "--distribute", "data-parallel", "--out",
                        str(out), env=TWO_DEVICES, check=True)  # fmt: skip
    assert "--distribute data-parallel: each batch of 16 split across 2 devices (cpu:0, cpu:1)" in result.stderr
    assert_same_training(one_device, out)


@pytest.mark.slow
def test_two_processes_train_as_one(tmp_path: Path, synthetic_csv: Path, one_device: Path) -> None:
    """Two hosts, played by two local processes of one CPU device each, joined through Keras's variables."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def process(rank: int) -> subprocess.Popen:
        env = subprocess_env({
            "KERAS_BACKEND": "jax",
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
            "KERAS_DISTRIBUTION_PROCESS_ID": str(rank),
        })  # fmt: skip
        command = [sys.executable, "-m", "train", "--data", str(synthetic_csv), *FIT, "--distribute", "data-parallel",
                   "--out", str(tmp_path / f"host{rank}")]  # fmt: skip
        log = (tmp_path / f"host{rank}.log").open("w")
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    processes = [process(rank) for rank in (0, 1)]
    wait_while_working(processes)  # on a loaded machine this took over 300 s: no wall-clock budget, only "stuck"
    logs = [(tmp_path / f"host{rank}.log").read_text() for rank in (0, 1)]
    assert [p.returncode for p in processes] == [0, 0], "\n".join(logs)
    assert "each batch of 16 split across 2 devices in 2 processes" in logs[0]
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


@pytest.mark.slow
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

"""The train stage: every output file, a continuous resume after kill -9, and the evaluate command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from edge.contract import LABELS, Contract
from tests.conftest import error_lines, run_module, train_killed_after
from train.augment import AugmentConfig, FerBatches, augment_batch, class_weights

RUN_FILES = {
    "model.keras",
    "architecture.json",
    "weights.h5",
    "contract.json",
    "history.csv",
    "curves.png",
    "confusion_matrix.png",
    "metrics.json",
}


def history_epochs(run: Path) -> list[int]:
    with open(run / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_fit_writes_every_file(trained_run: Path) -> None:
    assert {p.name for p in trained_run.iterdir()} == RUN_FILES
    assert history_epochs(trained_run) == [1, 2]
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"Training", "PublicTest"}
    public = metrics["splits"]["PublicTest"]
    assert set(public["per_class"]) == set(LABELS)
    assert np.asarray(public["confusion_matrix"]).sum() == public["n"] == 112
    assert 0.0 <= public["macro_f1"] <= 1.0


def test_saved_model_pair_and_contract_round_trip(trained_run: Path) -> None:
    contract = Contract.load(trained_run)
    assert contract.labels == list(LABELS) and contract.input_shape == [48, 48, 1]
    assert Contract.from_dict(json.loads(json.dumps(contract.to_dict()))) == contract
    model = keras.models.load_model(trained_run / "model.keras")
    twin = keras.models.model_from_json((trained_run / "architecture.json").read_text())
    twin.load_weights(trained_run / "weights.h5")
    x = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), twin.predict(x, verbose=0), atol=1e-6)


@pytest.mark.slow
def test_resume_after_kill_continues(tmp_path: Path, synthetic_csv: Path) -> None:
    out = tmp_path / "run"
    args = ["--data", str(synthetic_csv), "--arch", "tiny", "--epochs", "5", "--batch-size", "32"]
    done = train_killed_after(out, 2, *args)
    assert 2 <= done < 5, "the kill should land mid-run"
    assert not (out / "model.keras").exists()

    resumed = run_module("train", *args, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming {out} after epoch {done}" in resumed.stdout
    assert history_epochs(out) == [1, 2, 3, 4, 5]
    assert {p.name for p in out.iterdir()} == RUN_FILES


def test_rerun_of_finished_run_is_refused(trained_run: Path, synthetic_csv: Path) -> None:
    result = run_module("train", "--data", str(synthetic_csv), "--arch", "tiny", "--out", str(trained_run))
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1].endswith("already holds a finished run (model.keras); choose another --out")


@pytest.mark.slow
def test_evaluate_prints_metrics(trained_run: Path, synthetic_csv: Path) -> None:
    result = run_module("train", "evaluate", "--model", str(trained_run / "model.keras"), "--data", str(synthetic_csv),
                        "--json", check=True)  # fmt: skip
    metrics = json.loads(result.stdout)
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["splits"]["PublicTest"]["accuracy"] == pytest.approx(saved["splits"]["PublicTest"]["accuracy"])


def test_evaluate_rejects_a_file_that_is_not_a_model(tmp_path: Path, synthetic_csv: Path, trained_run: Path) -> None:
    fake = tmp_path / "model.keras"
    fake.write_text("not a model")
    (tmp_path / "contract.json").write_text((trained_run / "contract.json").read_text())
    result = run_module("train", "evaluate", "--model", str(fake), "--data", str(synthetic_csv))
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1].startswith(f"train: error: {fake}: not a Keras model")


def test_augmentation_changes_images_but_keeps_shape() -> None:
    images = np.random.default_rng(0).integers(0, 255, size=(16, 48, 48), dtype=np.uint8)
    out = augment_batch(images, AugmentConfig(), np.random.default_rng(1), Contract("tiny"))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)
    unchanged = augment_batch(images, AugmentConfig.off(), np.random.default_rng(1), Contract("tiny"))
    assert np.array_equal(unchanged, images)


def test_batches_are_full_and_weighted() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    contract = Contract("tiny")
    weights = class_weights(labels, 7, "balanced")
    assert weights[1] == pytest.approx(9 * weights[0])
    batches = FerBatches(np.zeros((100, 48, 48), np.uint8), np.eye(7)[labels], labels, contract, 32, weights=weights)
    assert len(batches) == 3  # the remainder of 4 is dropped
    x, y, w = batches[0]
    assert x.shape == (32, 48, 48, 1) and y.shape == (32, 7) and w.shape == (32,)


def _started_state(out: Path, **config) -> None:
    """The resume state a killed run leaves (its model file is not read before the options are checked)."""
    (out / ".resume").mkdir(parents=True)
    (out / ".resume" / "state.keras").write_bytes(b"")
    (out / ".resume" / "state.json").write_text(json.dumps({"config": config, "epochs_done": 1}))


@pytest.mark.parametrize(
    ("started", "args", "changed"),
    [
        ({}, ["--class-weight", "balanced"], "--class-weight 'sqrt' then, 'balanced' now"),
        ({}, ["--no-augment"], "--no-augment True then, False now"),
        ({}, ["--arch", "seed"], "--arch 'tiny' then, 'seed' now"),
        ({"data_sha256": "0" * 64}, [], "--data sha256 000000000000 then, sha256 "),
        ({}, ["--seed", "3", "--mixup", "0.2"], "--mixup 0.0 then, 0.2 now; --seed 0 then, 3 now"),
    ],
)  # fmt: skip
def test_resume_with_other_options_or_data_is_refused(tmp_path: Path, synthetic_csv: Path, started: dict,
                                                      args: list[str], changed: str) -> None:  # fmt: skip
    """Resuming with another --data, --class-weight or --no-augment is refused in one line naming what changed."""
    from train.run import TrainConfig, run_identity

    out = tmp_path / "run"
    identity = run_identity(TrainConfig(arch="tiny"), [synthetic_csv], "fer2013", None, False)
    _started_state(out, **{**identity, **started})
    result = run_module("train", "--data", str(synthetic_csv), "--arch", "tiny", "--out", str(out), *args)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"train: error: {out}: this run was started with other options ({changed}")
    assert line.endswith("rerun with the same arguments to resume, or choose another --out")


def test_resume_may_change_epochs_and_workers(tmp_path: Path, synthetic_csv: Path) -> None:
    from train.run import TrainConfig, changed_options, run_identity

    then = run_identity(TrainConfig(arch="tiny"), [synthetic_csv], "fer2013", None, False)
    now = run_identity(TrainConfig(arch="tiny", epochs=90, workers=4, distribute="data-parallel"), [synthetic_csv],
                       "fer2013", None, False)  # fmt: skip
    assert changed_options(then, now) == []

"""FER+'s own eight labels end to end: train, convert and edge carry whatever label list the contract holds."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from edge.contract import FERPLUS_LABELS, Contract
from tests.conftest import error_lines, run_module
from tests.synthetic import synthetic_images, write_ferplus


@pytest.fixture(scope="module")
def ferplus_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    csv, _ = write_ferplus(tmp_path_factory.mktemp("ferplus"), {"Training": 480, "PublicTest": 120})
    return csv


@pytest.fixture(scope="module")
def ferplus_run(tmp_path_factory: pytest.TempPathFactory, ferplus_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ferplus"
    run_module(
        "train", "--data", str(ferplus_csv), "--labels", "ferplus", "--arch", "tiny", "--epochs", "8", "--no-augment",
        "--batch-size", "32", "--lr", "0.01", "--out", str(out), check=True,
    )  # fmt: skip
    return out


def test_train_builds_an_eight_class_model_with_its_labels_in_the_contract(ferplus_run: Path) -> None:
    contract = Contract.load(ferplus_run)
    assert contract.labels == list(FERPLUS_LABELS) and contract.extra["label_source"] == "ferplus"
    assert keras.models.load_model(ferplus_run / "model.keras").output_shape == (None, 8)
    public = json.loads((ferplus_run / "metrics.json").read_text())["splits"]["PublicTest"]
    assert list(public["per_class"]) == list(FERPLUS_LABELS)
    # 120 rows; every ninth (not-a-face) and every eleventh (a tie) of the file are dropped.
    dropped = sum(1 for row in range(480, 600) if row % 9 == 0 or row % 11 == 0)
    assert public["n"] == 120 - dropped and public["per_class"]["Contempt"]["support"] > 0
    assert public["accuracy"] > 0.25  # twice chance: the stripes, Contempt's included, are being learnt


@pytest.mark.slow
def test_convert_and_edge_give_eight_probabilities_including_contempt(
    tmp_path: Path, ferplus_run: Path, ferplus_csv: Path
) -> None:
    model = tmp_path / "model"
    run_module(
        "convert", str(ferplus_run / "model.keras"), "--data", str(ferplus_csv), "--labels", "ferplus",
        "--out", str(model), "--calibration-size", "100", "--min-agreement", "0", check=True,
    )  # fmt: skip
    report = json.loads((model / "conversion_report.json").read_text())
    assert list(report["per_class_recall"]["PublicTest"]["int8"]) == list(FERPLUS_LABELS)
    crops = tmp_path / "crops"
    crops.mkdir()
    classes = np.arange(8)
    for cls, image in zip(classes, synthetic_images(classes, seed=5), strict=True):
        cv2.imwrite(str(crops / f"{FERPLUS_LABELS[cls]}.png"), image)
    jsonl, summary = tmp_path / "faces.jsonl", tmp_path / "summary.json"
    result = run_module(
        "edge", "--model", str(model), "--source", str(crops), "--no-detect", "--jsonl", str(jsonl),
        "--summary-json", str(summary),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 8
    for record in records:
        [face] = record["faces"]
        assert list(face["probabilities"]) == list(FERPLUS_LABELS)
        assert sum(face["probabilities"].values()) == pytest.approx(1, abs=0.02)
    assert set(json.loads(summary.read_text())["labels"]) <= set(FERPLUS_LABELS)


def test_convert_refuses_data_with_other_labels_than_the_contract(
    tmp_path: Path, ferplus_run: Path, ferplus_csv: Path
) -> None:
    result = run_module("convert", str(ferplus_run / "model.keras"), "--data", str(ferplus_csv), "--out",
                        str(tmp_path / "model"))  # fmt: skip
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"convert: error: {ferplus_run / 'model.keras'}: its contract's 8 labels ({', '.join(FERPLUS_LABELS)}) are"
        " not the data's 7 (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral); pass --labels ferplus, which it"
        " was trained with"
    ]


def test_soft_targets_are_the_vote_distributions(ferplus_csv: Path) -> None:
    from train.data import load_dataset
    from train.fit import training_targets
    from train.run import TrainConfig

    data = load_dataset(ferplus_csv, labels="ferplus")
    hard = training_targets(data, TrainConfig(), 8)
    soft = training_targets(data, TrainConfig(soft_targets=True), 8)
    _, labels = data.split("Training")
    np.testing.assert_array_equal(hard.argmax(1), labels)
    np.testing.assert_array_equal(soft.argmax(1), labels)
    assert set(hard.max(1).tolist()) == {1.0}
    # Votes of 7, 2 and 1 for a row's class and the next two: the single vote is an outlier, 7/9 and 2/9 remain.
    np.testing.assert_allclose(soft.max(1), 7 / 9, rtol=1e-6)
    np.testing.assert_allclose(soft[np.arange(len(labels)), (labels + 1) % 8], 2 / 9, rtol=1e-6)


@pytest.mark.slow
def test_soft_targets_train(tmp_path: Path, ferplus_csv: Path) -> None:
    out = tmp_path / "soft"
    run_module(
        "train", "--data", str(ferplus_csv), "--labels", "ferplus", "--soft-targets", "--arch", "tiny", "--epochs",
        "1", "--batch-size", "32", "--out", str(out), check=True,
    )  # fmt: skip
    assert Contract.load(out).labels == list(FERPLUS_LABELS)


def test_soft_targets_need_ferplus_labels(synthetic_csv: Path, tmp_path: Path) -> None:
    result = run_module("train", "--data", str(synthetic_csv), "--soft-targets", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "train: error: --soft-targets needs --labels ferplus (the FER+ vote distributions)"
    ]

"""The convert stage on a real tiny model: both TFLite files load and are checked; bad input is refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from edge.classifier import Classifier
from edge.contract import Contract
from tests.conftest import error_lines, run_module


def test_both_models_load_and_int8_is_really_int8(converted: Path) -> None:
    contract = Contract.load(converted)
    float_model = Classifier(converted / "model_float32.tflite", contract)
    int8_model = Classifier(converted / "model_int8.tflite", contract)
    assert float_model.input_dtype == np.float32 and not float_model.quantised
    assert int8_model.input_dtype == np.int8 and int8_model.output_dtype == np.int8
    for scale, _ in (int8_model.input_quant, int8_model.output_quant):
        assert 0 < scale < 1
    faces = np.random.default_rng(0).integers(0, 255, size=(5, 48, 48), dtype=np.uint8)
    for model in (float_model, int8_model):
        probabilities = model.predict(faces)
        assert probabilities.shape == (5, 7)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.05)


def test_report_has_agreement_and_accuracy_per_split(converted: Path) -> None:
    report = json.loads((converted / "conversion_report.json").read_text())
    assert report["passed"] is True
    assert set(report["accuracy"]) == {"Training", "PublicTest"}
    assert set(report["accuracy"]["PublicTest"]) == {"keras", "float32", "int8"}
    for name in ("float32", "int8"):
        variant = report["variants"][name]
        assert 0.0 <= variant["top1_agreement"] <= 1.0
        assert variant["bytes"] == (converted / variant["file"]).stat().st_size
    assert report["variants"]["float32"]["top1_agreement"] == 1.0
    assert report["compared_on"] == "PublicTest"


def test_contract_matches_the_train_stage(converted: Path, trained_run: Path) -> None:
    shipped, trained = Contract.load(converted), Contract.load(trained_run)
    for field in ("labels", "input_shape", "pixel_scale", "pixel_offset", "architecture"):
        assert getattr(shipped, field) == getattr(trained, field)
    assert set(shipped.extra["models"]) == {"model_float32.tflite", "model_int8.tflite"}
    assert shipped.extra["models"]["model_int8.tflite"]["input_dtype"] == "int8"
    assert len(shipped.extra["source_model_sha256"]) == 64


@pytest.mark.slow
def test_without_data_int8_is_refused_but_float_written(tmp_path: Path, trained_run: Path) -> None:
    result = run_module("convert", str(trained_run / "model.keras"), "--out", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    assert "int8 skipped: it needs calibration images" in result.stderr
    assert {p.name for p in (tmp_path / "m").iterdir()} == {
        "model_float32.tflite", "contract.json", "conversion_report.json",
    }  # fmt: skip


@pytest.mark.slow
def test_calibration_folder_gives_int8(tmp_path: Path, trained_run: Path) -> None:
    import cv2

    faces = tmp_path / "faces"
    faces.mkdir()
    for i, face in enumerate(np.random.default_rng(0).integers(0, 255, size=(8, 64, 64), dtype=np.uint8)):
        cv2.imwrite(str(faces / f"{i}.png"), face)
    run_module("convert", str(trained_run / "model.keras"), "--calibration", str(faces), "--out", str(tmp_path / "m"),
               check=True)  # fmt: skip
    assert (tmp_path / "m" / "model_int8.tflite").stat().st_size > 0


def tiny_model(shape: tuple[int, int, int], classes: int) -> keras.Model:
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes)])


def _saved(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


def tied_model(path: Path) -> Path:
    """A model whose top two probabilities differ by far less than one int8 step: int8 cannot agree with it."""
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(7, "softmax")])
    kernel, bias = model.layers[-1].get_weights()
    bias[1] = 1e-3
    model.layers[-1].set_weights([np.zeros_like(kernel), bias])
    model.save(path)
    return path


@pytest.mark.slow
def test_low_agreement_fails_keeps_previous_folder_and_report(tmp_path: Path, converted: Path,
                                                              synthetic_csv: Path) -> None:  # fmt: skip
    """A refused conversion leaves the folder, report included, as it was."""
    out = tmp_path / "m"
    shutil.copytree(converted, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run_module("convert", str(tied_model(tmp_path / "tied.keras")), "--data", str(synthetic_csv),
                        "--out", str(out), "--min-agreement", "0.5", "--calibration-size", "20")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "below --min-agreement 50.00%; models not written" in result.stderr.splitlines()[-1]
    assert f"(see {out / 'conversion_report.failed.json'})" in result.stderr.splitlines()[-1]
    assert json.loads((out / "conversion_report.failed.json").read_text())["passed"] is False
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "conversion_report.failed.json"} == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.keras", "model not found"),
        (lambda d: (d / "x.keras").write_text("junk") and d / "x.keras", "not a Keras model"),
        (
            lambda d: _saved(tiny_model((32, 32, 1), 7), d / "small.keras"),
            "input shape [32, 32, 1], expected [48, 48, 1]",
        ),
        (
            lambda d: _saved(tiny_model((48, 48, 1), 5), d / "five.keras"),
            "5 outputs, expected 7 classes",
        ),
    ],
)  # fmt: skip
@pytest.mark.slow
def test_bad_models_are_refused(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    result = run_module("convert", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert (
        error_lines(result.stderr) == [f"convert: error: {path}: {message}"]
        or message in error_lines(result.stderr)[-1]
    )


def test_bad_data_rows_are_refused(tmp_path: Path, trained_run: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    result = run_module("convert", str(trained_run / "model.keras"), "--data", str(bad), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1] == f"convert: error: {bad} line 2: 3 pixel values, expected 2304"


@pytest.mark.slow
def test_model_card_is_written_from_the_run_and_report(tmp_path: Path, converted: Path, trained_run: Path,
                                                       synthetic_csv: Path) -> None:  # fmt: skip
    models = tmp_path / "models"
    shutil.copytree(converted, models)
    recipe = tmp_path / "recipe.sh"
    recipe.write_text("python -m train --arch tiny\n")
    run_module("convert", "card", "--run", str(trained_run), "--models", str(models), "--recipe", str(recipe),
               "--data", str(synthetic_csv), "--hardware", "a test machine", "--teachers", str(trained_run),
               check=True)  # fmt: skip
    card = (models / "MODEL_CARD.md").read_text()
    report = json.loads((models / "conversion_report.json").read_text())
    public = report["accuracy"]["PublicTest"]
    assert f"| PublicTest | 112 | {public['keras']:.2%} | {public['float32']:.2%} | {public['int8']:.2%} |" in card
    assert "Student: 2 epochs" in card and "Its 1 teachers:" in card and "on a test machine" in card
    assert hashlib.sha256(synthetic_csv.read_bytes()).hexdigest() in card
    assert "python -m train --arch tiny" in card
    assert (models / "training_curves.png").exists()


def test_model_card_carries_the_real_face_figures_of_a_benchmark_run(
    tmp_path: Path, converted: Path, trained_run: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(converted, models)
    recipe = tmp_path / "recipe.sh"
    recipe.write_text("python -m train --arch tiny\n")
    score = {"accuracy": 0.73, "recall": {"Happy": 0.46, "Neutral": 1.0}, "pairs": {"right": 48, "pairs": 50}}
    results = tmp_path / "results.json"
    section = {"images": 100, "credit": "a test set", "labels": {"Happy": 50, "Neutral": 50}}
    results.write_text(json.dumps({"command": "python -m benchmarks --real-faces-only",
                                   "real_faces": {**section, "scores": {"models": {"yunet": score}}}}))  # fmt: skip
    card_command = ["convert", "card", "--run", str(trained_run), "--models", str(models), "--recipe", str(recipe),
                    "--hardware", "a test machine"]  # fmt: skip
    run_module(*card_command, "--real-faces", str(results), check=True)
    card = (models / "MODEL_CARD.md").read_text()
    assert "| yunet | 73.00% | 46.00% | 100.00% | 48/50 |" in card and "a test set" in card
    results.write_text(json.dumps({"command": "python -m benchmarks"}))
    refused = run_module(*card_command, "--real-faces", str(results))
    assert refused.returncode == 2 and "no real_faces section" in refused.stderr

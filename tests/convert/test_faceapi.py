"""face-api's expression network imported from its npm package: the Keras graph and the shipped TFLite models
answer as the package's own JS code does (tests/fixtures/faceapi/make_fixture.py made the reference outputs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.classifier import Classifier, multiply_adds
from edge.contract import Contract
from edge.model_folder import FLOAT32_FILE, INT8_FILE, MODEL_NAMES, check_folder
from tests.conftest import ROOT, error_lines, run_module

FIXTURE = ROOT / "tests" / "fixtures" / "faceapi"
PACKAGE = FIXTURE / "package"  # the package's weights files, package.json's name and version, its MIT licence


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    parity = np.load(FIXTURE / "parity.npz")
    return parity["crops"], parity["probabilities"]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faceapi")
    result = run_module("convert", "faceapi", "--package", str(PACKAGE), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_the_imported_keras_graph_matches_the_packages_own_js(imported: Path, reference) -> None:
    import keras

    crops, expected = reference
    contract = Contract.load(imported)
    model = keras.models.load_model(imported / "model.keras", compile=False)
    got = model.predict(contract.tensor(crops), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert len(set(expected.argmax(1))) >= 4  # the crops exercise several labels, not one
    assert contract.color == "rgb" and contract.input_shape == [112, 112, 3]
    checksums = contract.extra["imported_from"]["sha256"]
    assert set(checksums) == {"model/face_expression_model-weights_manifest.json", "model/face_expression_model.bin"}


def test_the_shipped_tflite_models_match_the_js_reference(reference) -> None:
    crops, expected = reference
    folder = MODEL_NAMES["faceapi"]
    contract = Contract.load(folder)
    contract.flip_average = False  # the reference saw each crop once
    float32 = Classifier(folder / FLOAT32_FILE, contract).predict(crops)
    int8 = Classifier(folder / INT8_FILE, contract).predict(crops)
    np.testing.assert_allclose(float32, expected, atol=1e-4)
    # int8's output moves in steps of 1/256, so two labels can tie exactly where the reference's differ by a few
    # hundredths; a tie that includes the reference's label is agreement (argmax would pick by label order).
    reference_label = expected.argmax(1)
    agrees = int8[np.arange(len(int8)), reference_label] >= int8.max(1)
    assert agrees.mean() >= 0.95


def test_multiply_adds_are_counted_from_the_graph() -> None:
    # face-api's network: 52 M multiply-adds (the count from its TypeScript source).
    assert 50e6 < multiply_adds(MODEL_NAMES["faceapi"] / INT8_FILE) < 54e6


def test_a_folder_without_the_weights_is_one_line(tmp_path: Path) -> None:
    result = run_module("convert", "faceapi", "--package", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "face_expression_model-weights_manifest.json: not found" in line


def another_version(package: Path) -> None:
    meta = json.loads((package / "package.json").read_text())
    (package / "package.json").write_text(json.dumps({**meta, "version": "9.9.9"}))


def truncated_shard(package: Path) -> None:
    shard = package / "model" / "face_expression_model.bin"
    shard.write_bytes(shard.read_bytes()[:1000])


@pytest.mark.parametrize(("damage", "says"), [(another_version, "9.9.9"), (truncated_shard, "the shards hold 1000")])
def test_a_package_the_importer_was_not_checked_on_is_one_line(tmp_path: Path, damage, says: str) -> None:
    package = tmp_path / "package"
    shutil.copytree(PACKAGE, package)
    damage(package)
    result = run_module("convert", "faceapi", "--package", str(package), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert says in line


def test_an_imported_models_card_names_its_package_and_carries_its_licence(tmp_path: Path) -> None:
    folder = tmp_path / "faceapi"
    shutil.copytree(MODEL_NAMES["faceapi"], folder)
    result = run_module("convert", "card", "--model", str(folder), "--recipe", str(ROOT / "train/recipes/faceapi.sh"),
                        "--license", str(PACKAGE / "LICENSE"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    card = (folder / "MODEL_CARD.md").read_text()
    assert "@vladmandic/face-api` 1.7.15" in card and "112x112 rgb face crops" in card
    assert "M multiply-adds" in card and "sha256 `9a9840f2" in card
    assert (folder / "LICENSE").read_bytes() == (PACKAGE / "LICENSE").read_bytes()
    check_folder(folder)  # the folder is still one checked unit
    result = run_module("convert", "card", "--model", str(folder), "--recipe", str(ROOT / "train/recipes/faceapi.sh"),
                        "--license", str(PACKAGE / "LICENSE"), "--run", str(tmp_path))  # fmt: skip
    assert result.returncode == 2 and "--run and --license" in error_lines(result.stderr)[0]

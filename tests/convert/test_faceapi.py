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
                        "--license", str(PACKAGE / "LICENSE"), "--run", str(tmp_path), "--hardware", "x")  # fmt: skip
    assert result.returncode == 2 and "holds an imported model, which has no training run" in error_lines(
        result.stderr)[0]  # fmt: skip


# The hostile run of 2026-12-07 (E8, E13, E14, E21): malformed packages, each refused in one line naming what is
# wrong, before Keras sees a weight. Each case edits a copy of the fixture package the way r/mkpkgs.py did.
MANIFEST = "model/face_expression_model-weights_manifest.json"
SHARD = "model/face_expression_model.bin"


def edit_manifest(change):
    def damage(package: Path) -> None:
        groups = json.loads((package / MANIFEST).read_text())
        change(groups[0])
        (package / MANIFEST).write_text(json.dumps(groups))

    return damage


def shard_outside(package: Path) -> None:
    (package.parent / "outside.bin").write_bytes((package / SHARD).read_bytes())
    edit_manifest(lambda group: group.__setitem__("paths", ["../../outside.bin"]))(package)


def absolute_shard(package: Path) -> None:
    (package.parent / "outside.bin").write_bytes((package / SHARD).read_bytes())
    edit_manifest(lambda group: group.__setitem__("paths", [str(package.parent / "outside.bin")]))(package)


def linked_shard(package: Path) -> None:
    (package.parent / "outside.bin").write_bytes((package / SHARD).read_bytes())
    (package / SHARD).unlink()
    (package / SHARD).symlink_to(package.parent / "outside.bin")


def huge_sparse_shard(package: Path) -> None:
    with open(package / SHARD, "r+b") as shard:
        shard.truncate(6 * 2**30)  # 6 GB on paper, nothing on disk: read whole, it exhausts memory


def package_json_is_dev_zero(package: Path) -> None:
    (package / "package.json").unlink()
    (package / "package.json").symlink_to("/dev/zero")


def nan_bias(package: Path) -> None:
    shard = bytearray((package / SHARD).read_bytes())
    shard[864 : 864 + 32 * 4] = np.full(32, np.nan, np.float32).tobytes()  # conv0's bias, after its 864 uint8 filters
    (package / SHARD).write_bytes(bytes(shard))


def set_weight(index: int, key: str, value):
    return edit_manifest(lambda group: group["weights"][index].__setitem__(key, value))


def set_quantization(key: str, value):
    return edit_manifest(lambda group: group["weights"][0]["quantization"].__setitem__(key, value))


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (shard_outside, "outside.bin: the weight shard must lie inside"),  # E8
        (absolute_shard, "outside.bin: the weight shard must lie inside"),
        (linked_shard, "is a link to a file outside"),
        (huge_sparse_shard, "the shards hold 6442450944 bytes, the manifest describes 329468"),  # E14
        (package_json_is_dev_zero, "package.json: not a regular file"),
        (set_weight(0, "name", "dense0/conv0/filterz"), "weight dense0/conv0/filterz: not a weight of"),  # E13
        (set_weight(2, "name", "dense0/conv0/bias"), "weight dense0/conv0/bias: listed twice"),
        (set_weight(0, "shape", [3, 3, 32, 3]), "shape [3, 3, 32, 3], the network needs [3, 3, 3, 32]"),
        (set_weight(1, "shape", [32.0]), "weight dense0/conv0/bias: shape [32.0] is not a list of whole numbers"),
        (set_quantization("scale", "0.005"), "weight dense0/conv0/filters: its quantization's min and scale"),
        (edit_manifest(lambda group: group.__setitem__("weights", [])), "weight dense0/conv0/filters is missing"),
        (set_quantization("scale", float("nan")), "its quantization's min and scale must be finite"),  # E21
        (set_quantization("scale", 1e38), "weight dense0/conv0/filters is not finite (NaN or infinite) in the package"),
        (nan_bias, "weight dense0/conv0/bias is not finite"),
    ],
)
def test_a_malformed_package_is_one_line_before_keras(tmp_path: Path, damage, says: str) -> None:
    package = tmp_path / "a" / "package"
    shutil.copytree(PACKAGE, package)
    damage(package)
    out = tmp_path / "out"
    result = run_module("convert", "faceapi", "--package", str(package), "--out", str(out), timeout=120,
                        max_memory_bytes=3 << 30)  # fmt: skip  # a Pi's memory: a 6 GB shard read whole fails
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert says in line, line
    assert not (out / "model.keras").exists()


@pytest.mark.parametrize("shipped", ["default", "vgg_wide"])
def test_the_importer_refuses_an_out_that_holds_another_model(tmp_path: Path, shipped: str) -> None:
    """E9: `--out edge/model` replaced the shipped model's sealed contract, so `--model default` stopped working."""
    folder = tmp_path / shipped
    shutil.copytree(MODEL_NAMES[shipped], folder)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    result = run_module("convert", "faceapi", "--package", str(PACKAGE), "--out", str(folder), timeout=120)
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert "contract.json" in line and "not an earlier import's model.keras and contract.json" in line, line
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    check_folder(folder)


def test_the_importer_writes_over_its_own_earlier_output(imported: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    shutil.copytree(imported, again)
    result = run_module("convert", "faceapi", "--package", str(PACKAGE), "--out", str(again), timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in again.iterdir()) == ["contract.json", "model.keras"]


@pytest.mark.parametrize("under", ["", "sub"])
def test_an_out_that_is_a_file_is_one_line(tmp_path: Path, under: str) -> None:
    """E15: a file, or a path under one, ended in FileExistsError / NotADirectoryError after the work."""
    (tmp_path / "outfile").touch()
    out = tmp_path / "outfile" / under
    result = run_module("convert", "faceapi", "--package", str(PACKAGE), "--out", str(out), timeout=120)
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert "outfile is not a folder" in line, line

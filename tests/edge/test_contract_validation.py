"""The model contract: a contract.json that is too deep, of the wrong types or out of range is one line
naming the file and the field (exit 2), and a converted folder whose contract was edited is refused like any other
file that does not match its manifest. On copies of the shipped model folder, through the real commands."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.common.errors import UserError
from edge.contract import DIGEST_KEY, Contract
from edge.model_folder import DEFAULT_MODEL_DIR, FLOAT32_FILE, MODEL_NAMES, check_folder, write_folder
from tests.conftest import error_lines, run_module

HINT = "(an interrupted convert, or files copied from another model? Reconvert with `python -m convert`)"


def edge_on(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_module("edge", "--model", str(folder), "--source", "demo", "--demo-frames", "2", "--quiet", *extra)


def one_line(result: subprocess.CompletedProcess, prog: str) -> str:
    """The one error line, after nothing but (for benchmarks) its progress bar."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in error_lines(result.stderr) if not line.startswith(f"{prog}: ") or ": error: " in line]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    return lines[0]


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A copy of the shipped model folder, to spoil."""
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    return folder


@pytest.fixture
def shipped_int8(tmp_path: Path) -> Path:
    """A copy of a shipped model folder with an int8 model (the default may ship float32 alone), to spoil."""
    folder = tmp_path / "model"
    shutil.copytree(MODEL_NAMES["faceapi"], folder)
    return folder


def edit(folder: Path, change) -> Path:
    path = folder / "contract.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))
    return path


# A contract.json nested 200,000 deep is one line naming the file ("nested too deep"), not a RecursionError.
def test_a_deeply_nested_contract_is_one_line(shipped: Path) -> None:
    (shipped / "contract.json").write_text("[" * 200_000 + "]" * 200_000)
    line = one_line(edge_on(shipped), "edge")
    assert str(shipped / "contract.json") in line and "nested too deep" in line


def test_a_huge_contract_is_refused_before_it_is_parsed(shipped: Path) -> None:
    (shipped / "contract.json").write_text('{"labels": [' + ", ".join(['"x"'] * 3_000_000) + "]}")
    line = one_line(edge_on(shipped), "edge")
    assert str(shipped / "contract.json") in line and "too large" in line


# An `extra.files` (or `extra`) that is not an object, or names a path outside the folder, is one line naming the
# field, in edge and in benchmarks.
@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["extra"]["files"].update({"model_int8.tflite": "abc"}), "extra.files"),
        (lambda d: d["extra"].update(files=["model_int8.tflite"]), "extra.files"),
        (lambda d: d.update(extra=[["files", {"model_int8.tflite": 1}]]), "extra"),
        (lambda d: d["extra"]["files"].update({"../../etc/passwd": {"bytes": 1, "sha256": "0" * 64}}), "extra.files"),
    ],
)
@pytest.mark.parametrize("command", ["edge", "benchmarks"])
def test_a_manifest_that_is_not_an_object_is_one_line(shipped: Path, change, field: str, command: str) -> None:
    path = edit(shipped, change)
    if command == "edge":
        result = edge_on(shipped)
    else:
        result = run_module("benchmarks", "--model", str(shipped), "--quick", "--no-reference", "--out",
                            str(shipped.parent / "bench"))  # fmt: skip
    line = one_line(result, command)
    assert str(path) in line and field in line


# Each contract value is checked: a scale that overflows or is negative, NaN, labels not seven distinct strings,
# "false" for a bool, an unknown version, a bad shape, architecture, colour or extra: one line naming the field.
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pixel_scale", "1e400"),
        ("pixel_scale", "-1"),
        ("pixel_offset", "NaN"),
        ("labels", '"ABCDEFG"'),
        ("labels", '["Angry", "Angry", "Fear", "Happy", "Sad", "Surprise", "Neutral"]'),
        ("labels", '["Angry", 1, "Fear", "Happy", "Sad", "Surprise", "Neutral"]'),
        ("flip_average", '"false"'),
        ("version", "2"),
        ("version", "true"),
        ("input_shape", "[48, 48.5, 1]"),
        ("input_shape", "[0, 48, 1]"),
        ("architecture", "[]"),
        ("color", '"bgr"'),
        ("extra", '"x"'),
    ],
)
def test_contract_fields_are_validated_in_one_line(shipped: Path, field: str, value: str) -> None:
    path = shipped / "contract.json"
    data = json.loads(path.read_text())
    data[field] = "@@"
    path.write_text(json.dumps(data, indent=2).replace('"@@"', value))
    line = one_line(edge_on(shipped), "edge")
    assert line.startswith(f"edge: error: {path}: {field} "), line


def test_the_shipped_contract_is_valid_and_round_trips() -> None:
    contract = Contract.load(DEFAULT_MODEL_DIR)
    assert Contract.from_dict(json.loads(json.dumps(contract.to_dict()))) == contract


def test_a_missing_field_names_it() -> None:
    data = Contract.load(DEFAULT_MODEL_DIR).to_dict()
    del data["labels"]
    with pytest.raises(UserError, match=r"^x.json: labels is missing$"):
        Contract.from_dict(data, source="x.json")


# contract.json carries a checksum of itself: an edited contract is refused like any other mismatched file.
def test_an_edited_contract_is_refused_like_any_other_mismatch(shipped: Path) -> None:
    path = edit(shipped, lambda d: d.update(flip_average=not d["flip_average"]))
    line = one_line(edge_on(shipped), "edge")
    assert line == f"edge: error: {path}: does not match its own checksum, it was edited after conversion {HINT}"


def test_a_contract_without_its_checksum_is_refused(shipped: Path) -> None:
    path = edit(shipped, lambda d: d["extra"].pop("contract_sha256"))
    line = one_line(edge_on(shipped), "edge")
    assert line.startswith(f"edge: error: {path}: has no checksum of itself")


def test_a_reformatted_contract_still_matches(shipped: Path) -> None:
    """The checksum is of the contract's content, not of its layout: whitespace and key order may change."""
    path = shipped / "contract.json"
    path.write_text(json.dumps(json.loads(path.read_text()), sort_keys=True))
    assert edge_on(shipped).returncode == 0


def test_write_folder_seals_its_contract(tmp_path: Path) -> None:
    write_folder(tmp_path / "m", {FLOAT32_FILE: b"x"}, Contract("tiny"))
    assert check_folder(tmp_path / "m").architecture == "tiny"


@pytest.mark.parametrize("label", ["\u001b]2;owned\u0007\u001b[2J\u001b[HHappy", "Sad\r", "Tab\tbed", "L\u202eR"])
def test_a_label_with_control_characters_is_refused_and_never_reaches_the_terminal(shipped: Path, label: str) -> None:
    """D15, D31 (hostile run 2026-12-04): a resealed contract whose label held ESC sequences retitled the terminal and
    cleared the screen on every frame line, and a CR in a label broke every /metrics scrape. Such a contract is now
    refused in one line, which shows the label escaped."""

    def resealed(data: dict) -> None:  # as the hostile run did: the digest recomputed, so only the label is wrong
        data["labels"][0] = label
        data["extra"].pop(DIGEST_KEY)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        data["extra"][DIGEST_KEY] = hashlib.sha256(canonical).hexdigest()

    edit(shipped, resealed)
    result = edge_on(shipped)
    line = one_line(result, "edge")
    assert line.startswith(f"edge: error: {shipped / 'contract.json'}: labels must be names without control"), line
    assert not any(c in result.stdout + result.stderr for c in "\x1b\r\t\u202e")


def resealed_with(**fields):
    """A change to the contract with its digest recomputed, as the hostile run's reseal.py did."""

    def change(data: dict) -> None:
        data.update(fields)
        data["extra"].pop(DIGEST_KEY)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        data["extra"][DIGEST_KEY] = hashlib.sha256(canonical).hexdigest()

    return change


@pytest.mark.parametrize(("fields", "pixels"), [({"pixel_offset": -500}, "[-500, -499]"),
                                                ({"pixel_scale": 1000}, "[0, 255000]")])  # fmt: skip
def test_a_normalisation_the_int8_model_was_not_calibrated_for_is_refused(shipped_int8: Path, fields: dict,
                                                                          pixels: str) -> None:  # fmt: skip
    """E19 (hostile run 2026-12-07): a sealed contract with pixel_offset -500 or pixel_scale 1000 ran (and taught
    students) with every face Neutral and no warning; the int8 model's recorded input range says it cannot work."""
    edit(shipped_int8, resealed_with(**fields))
    line = one_line(edge_on(shipped_int8, "--precision", "int8"), "edge")
    assert f"give pixels in {pixels}, but model_int8.tflite's input was calibrated for [0, 1]" in line, line

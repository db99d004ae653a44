"""A converted model folder changes as one unit, and edge refuses one whose files do not belong together, on real
folders from the `converted` fixture and real kills."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge import Pipeline
from edge.common.errors import UserError
from edge.contract import Contract
from edge.model_folder import FLOAT32_FILE, INT8_FILE, check_folder, staging_path, write_folder
from tests.conftest import ROOT, run_module, subprocess_env

HINT = "(an interrupted convert, or files copied from another model? Reconvert with `python -m convert`)"


def edge_on(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return run_module("edge", "--model", str(folder), "--source", "demo", "--demo-frames", "2", "--quiet", *args)


def test_edge_refuses_new_models_beside_an_old_contract(tmp_path: Path, converted: Path) -> None:
    """A .tflite from another model beside the contract (what a killed convert could leave) is one line naming it."""
    mixed = tmp_path / "mixed"
    shutil.copytree(converted, mixed)
    shutil.copyfile(ROOT / "edge" / "models" / "faceapi" / INT8_FILE, mixed / INT8_FILE)  # another model's
    result = edge_on(mixed)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"edge: error: {mixed / INT8_FILE}: does not match contract.json, it belongs to another model {HINT}"
    ]


@pytest.mark.slow
def test_edge_refuses_a_model_the_contract_does_not_list(tmp_path: Path, converted: Path, trained_run: Path) -> None:
    float_only = tmp_path / "f32"
    run_module("convert", str(trained_run / "model.keras"), "--out", str(float_only), check=True)
    shutil.copyfile(converted / INT8_FILE, float_only / INT8_FILE)
    result = edge_on(float_only)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"edge: error: {float_only / INT8_FILE}: not listed in contract.json, it belongs to another model {HINT}"
    ]


def test_precision_float32_on_an_int8_only_folder_is_one_line(tmp_path: Path, converted: Path) -> None:
    """--precision float32 on a folder with only int8 is one line saying the folder has int8; the default runs."""
    int8_only = tmp_path / "int8"
    write_folder(int8_only, {INT8_FILE: (converted / INT8_FILE).read_bytes()}, Contract.load(converted))
    result = edge_on(int8_only, "--precision", "float32")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"edge: error: {int8_only}: no {FLOAT32_FILE} for --precision float32; this folder has int8"
    ]
    assert edge_on(int8_only).returncode == 0


def test_unknown_precision_is_a_value_error_naming_the_choices(converted: Path) -> None:
    """Pipeline(precision='int4') raises ValueError naming the choices, auto, int8 and float32."""
    with pytest.raises(ValueError, match="precision 'int4' is not one of auto, int8, float32"):
        Pipeline(converted, precision="int4")


def test_shipped_folder_is_consistent() -> None:
    contract = check_folder(ROOT / "edge" / "model")
    assert {FLOAT32_FILE, "conversion_report.json", "MODEL_CARD.md"} <= set(contract.extra["files"])
    report = json.loads((ROOT / "edge" / "model" / "conversion_report.json").read_text())
    # int8 ships only where it gives float32's top label on 97% of real photos' faces; else the report says why.
    assert (INT8_FILE in contract.extra["files"]) == ("int8_left_out" not in report)


SWAPPER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from edge.contract import Contract
    from edge.model_folder import write_folder
    target, converted = Path(sys.argv[1]), Path(sys.argv[2])
    versions = [{name: bytes([v]) * 3_000_000 for name in ("model_int8.tflite", "model_float32.tflite")}
                for v in (1, 2)]
    i = 0
    while True:
        contract = Contract.load(converted)
        contract.extra["version"] = i % 2
        write_folder(target, versions[i % 2], contract)
        if i == 0:
            print("ready", flush=True)  # the folder exists: from now on every kill lands on a rewrite
        i += 1
""")


def test_a_kill_at_any_moment_leaves_the_whole_old_or_the_whole_new_folder(tmp_path: Path, converted: Path) -> None:
    """Kill a process that rewrites the folder over and over at arbitrary moments: every time, edge's check passes
    and every file belongs to one version. The next write cleans up what the kill left."""
    target = tmp_path / "models"
    env = subprocess_env()
    for delay in (0.0, 0.05, 0.13, 0.21, 0.34, 0.55):
        process = subprocess.Popen([sys.executable, "-c", SWAPPER, str(target), str(converted)], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert process.stdout.readline() == "ready\n"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        contract = check_folder(target)
        first = {(target / name).read_bytes()[:1] for name in (INT8_FILE, FLOAT32_FILE)}
        assert first == {bytes([contract.extra["version"] + 1])}
    write_folder(target, {INT8_FILE: b"x"}, Contract.load(converted))
    assert not staging_path(target).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_a_failed_write_leaves_the_old_folder(tmp_path: Path, converted: Path) -> None:
    """A write that fails half way (here a file name that cannot be created) changes nothing and leaves no staging."""
    target = tmp_path / "models"
    shutil.copytree(converted, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(OSError):
        write_folder(target, {INT8_FILE: b"new", "missing-dir/x": b"y"}, Contract.load(converted))
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_an_interrupted_two_rename_swap_is_recovered(tmp_path: Path, converted: Path) -> None:
    """Where renameat2 is missing the swap is two renames; a kill between them leaves only `.NAME.old`, and the
    next reader puts it back."""
    target = tmp_path / "models"
    shutil.copytree(converted, tmp_path / ".models.old")
    assert edge_on(target).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    check_folder(target)


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path, converted: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(converted, old)
    contract = Contract.load(old)
    del contract.extra["files"]
    contract.save(old)
    with pytest.raises(UserError, match="lists none of the folder's files"):
        check_folder(old)


def test_convert_refuses_an_out_folder_holding_other_files(tmp_path: Path, trained_run: Path) -> None:
    """The whole folder is replaced, so a folder with the user's own files in it is not taken."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = run_module("convert", str(trained_run / "model.keras"), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"convert: error: {out}: holds notes.txt, which are not part of a converted model folder; choose an empty or"
        " new --out (the whole folder is replaced)"
    ]
    assert (out / "notes.txt").read_text() == "keep me"


def test_precision_with_a_tflite_file_is_refused_not_ignored() -> None:
    """E26 (hostile run 2026-12-07): `--model .../model_float32.tflite --precision int8` ran float32 without a word."""
    from edge.model_folder import DEFAULT_MODEL_DIR

    model = DEFAULT_MODEL_DIR / FLOAT32_FILE
    result = run_module("edge", "--model", str(model), "--precision", "int8", "--source", "demo", "--demo-frames", "2",
                        timeout=120)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"edge: error: --precision int8 picks a model of a folder; --model {model} is one file, which runs as it is"
        " (give its folder to choose)"
    ]
    alone = run_module("edge", "--model", str(model), "--source", "demo", "--demo-frames", "2", "--quiet", timeout=120)
    assert alone.returncode == 0, alone.stderr

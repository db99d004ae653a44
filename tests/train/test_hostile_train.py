"""train/ and convert/ under hostile use ("nothing lost, nobody in"), each through the real command (or the real
function where the command would take minutes). Bad input is one line and exit 2, never a traceback;
outputs are written whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edge.common.files import staging_path
from edge.contract import FERPLUS_LABELS, Contract
from edge.model_folder import FLOAT32_FILE, check_folder, write_folder
from tests.conftest import ROOT, error_lines, run_module

TINY = ("--arch", "tiny", "--epochs", "2", "--batch-size", "32")


def assert_one_line(result: subprocess.CompletedProcess, start: str, *parts: str) -> str:
    """Exit 2 and exactly one line on stderr (past TensorFlow's start-up chatter), holding every part."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(start), lines[0]
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny .keras model (no contract beside it): enough for `python -m convert` without --data."""
    from train.models import build

    path = tmp_path_factory.mktemp("untrained") / "tiny.keras"
    build("tiny", 7).save(path)
    return path


# --ferplus-csv naming a folder is one line ("is a folder"), not an IsADirectoryError from pandas.
def test_ferplus_csv_that_is_a_folder_is_one_line(tmp_path: Path, synthetic_csv: Path) -> None:
    result = run_module("train", "parse", "--data", str(synthetic_csv), "--labels", "ferplus", "--ferplus-csv",
                        str(tmp_path))  # fmt: skip
    assert_one_line(result, "train: error: ", str(tmp_path), "is a folder")


# KERAS_DISTRIBUTION_* variables that cannot work are refused in one line naming the variable; no run folder.
@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, "KERAS_DISTRIBUTION_JOB_ADDRESSES"),
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_JOB_ADDRESSES": "127.0.0.1"},
         "KERAS_DISTRIBUTION_JOB_ADDRESSES='127.0.0.1'"),
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_JOB_ADDRESSES": "127.0.0.1:99999"},
         "KERAS_DISTRIBUTION_JOB_ADDRESSES='127.0.0.1:99999'"),
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1,b:2,c:3"},
         "KERAS_DISTRIBUTION_JOB_ADDRESSES"),
    ],
)  # fmt: skip
def test_distribution_variables_that_cannot_work_are_one_line(
    tmp_path: Path, synthetic_csv: Path, variables: dict, named: str
) -> None:
    pytest.importorskip("jax")
    env = {"KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_JOB_ADDRESSES": "", **variables}
    result = run_module("train", "--data", str(synthetic_csv), *TINY, "--distribute", "data-parallel", "--out",
                        str(tmp_path / "run"), env=env, timeout=120)  # fmt: skip
    assert_one_line(result, "train: error: ", named)
    assert not (tmp_path / "run").exists()


COORDINATOR_PROBE = textwrap.dedent("""
    import sys
    import train.distribute as distribute
    from edge.common.errors import run_cli
    distribute.COORDINATOR_TIMEOUT_S = 3
    sys.exit(run_cli(lambda: distribute.devices_for("data-parallel", 32) and 0, "train"))
""")


def test_a_coordinator_that_never_answers_times_out_in_one_line() -> None:
    """Process 1 of 2 waiting on a port nobody listens on gives up after the timeout (3 s here) in one line naming
    the variable and the address."""
    pytest.importorskip("jax")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing answers there
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
           "KERAS_DISTRIBUTION_PROCESS_ID": "1", "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", COORDINATOR_PROBE], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert_one_line(result, "train: error: ", "KERAS_DISTRIBUTION_JOB_ADDRESSES", f"127.0.0.1:{port}", "3 s")


# A learning rate that makes the loss non-finite stops the run in epoch 1 with one line naming --lr; nothing saved.
def test_a_non_finite_loss_stops_the_run_in_one_line(tmp_path: Path, synthetic_csv: Path) -> None:
    out = tmp_path / "run"
    result = run_module("train", "--data", str(synthetic_csv), *TINY, "--lr", "1e308", "--no-augment", "--out",
                        str(out))  # fmt: skip
    assert_one_line(result, "train: error: ", "epoch 1", "not finite", "--lr")
    assert not (out / "model.keras").exists()
    assert sorted(p.name for p in out.iterdir()) == []  # no state of the bad epoch, nothing half-written


def test_convert_refuses_a_model_with_non_finite_weights(tmp_path: Path) -> None:
    """A model with non-finite weights is one line naming it ("not finite"), and no model folder is written."""
    from train.models import build

    model = build("tiny", 7)
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    path = tmp_path / "nan.keras"
    model.save(path)
    out = tmp_path / "models"
    result = run_module("convert", str(path), "--out", str(out))
    # E21 (hostile run 2026-12-07): the message blamed training alone, also for an imported model
    assert_one_line(result, "convert: error: ", str(path), "not finite", "or a model imported broken")
    assert not out.exists()


# convert --out a symlink to a model folder writes the folder it points to and keeps the link, now and later.
@pytest.mark.slow
def test_convert_out_a_symlink_swaps_the_folder_it_points_to(tmp_path: Path, untrained_model: Path) -> None:
    real = tmp_path / "real"
    write_folder(real, {FLOAT32_FILE: b"old"}, Contract("old"))
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    result = run_module("convert", str(untrained_model), "--out", str(link))
    assert result.returncode == 0, result.stderr[-3000:]
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert check_folder(real).architecture == "tiny"
    assert (real / FLOAT32_FILE).read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # nothing left beside either
    write_folder(link, {FLOAT32_FILE: b"again"}, Contract("again"))  # and every later write works too
    assert link.is_symlink() and check_folder(link).architecture == "again"
    assert not staging_path(link).exists() and not staging_path(real).exists()


# `convert card --recipe` a missing, binary or endless file is one line naming the recipe, and writes no card.
@pytest.mark.parametrize("kind", ["missing", "binary", "endless"])
def test_card_with_an_unreadable_recipe_is_one_line(tmp_path: Path, converted: Path, trained_run: Path,
                                                    kind: str) -> None:  # fmt: skip
    models = tmp_path / "models"
    shutil.copytree(converted, models)
    recipe = tmp_path / "recipe.sh"
    if kind == "binary":
        recipe.write_bytes(b"\xff\xfe\x00\x81binary")
    if kind == "endless":  # read whole, it never ends
        recipe.symlink_to("/dev/zero")
    result = run_module("convert", "card", "--run", str(trained_run), "--models", str(models), "--recipe",
                        str(recipe), "--hardware", "a test machine")  # fmt: skip
    assert_one_line(result, "convert: error: ", str(recipe))
    assert not (models / "MODEL_CARD.md").exists()


# `convert card` on a run folder and a model folder of different label sets is one line, and writes no card.
def test_card_refuses_a_run_and_a_model_of_different_labels(tmp_path: Path, converted: Path,
                                                            trained_run: Path) -> None:  # fmt: skip
    models, run = tmp_path / "models", tmp_path / "run"
    shutil.copytree(converted, models)
    shutil.copytree(trained_run, run)
    contract = json.loads((run / "contract.json").read_text())
    contract["labels"] = list(FERPLUS_LABELS)
    (run / "contract.json").write_text(json.dumps(contract))
    recipe = tmp_path / "recipe.sh"
    recipe.write_text("python -m train\n")
    result = run_module("convert", "card", "--run", str(run), "--models", str(models), "--recipe", str(recipe),
                        "--hardware", "a test machine")  # fmt: skip
    assert_one_line(result, "convert: error: ", str(run), "Contempt", "labels")
    assert not (models / "MODEL_CARD.md").exists()


# The hostile run of 2026-12-07: --split-by / --soft-labels files that are missing, folders, not arrays or not
# probabilities (E16, E20), --split-classes alone (E25), and a teacher that is not a model (E22): one line each.
TRAINING = 448  # the synthetic CSV's Training rows (tests/conftest.py SYNTHETIC_ROWS)


def soft_file(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content, allow_pickle=True)
    return path


def probabilities() -> np.ndarray:
    return np.full((TRAINING, 7), 1 / 7, np.float32)


def with_column(column: int, value: float) -> np.ndarray:
    soft = probabilities()
    soft[:, column] = value
    return soft


HOSTILE_SOFT = {
    "missing": (None, "nope.npy: no soft-label .npy file found"),
    "folder": ("", "is a folder, not a soft-label .npy file"),
    "strings": (np.full((TRAINING, 7), "x"), "holds <U1 values, not probabilities"),
    "complex": (probabilities().astype(np.complex64), "holds complex64 values, not probabilities"),
    "objects": (np.array([[{}] * 7] * TRAINING, dtype=object), "not a soft-label .npy file (an array saved by"),
    "text": ("not npy", "not a soft-label .npy file (an array saved by"),
    "nan": (np.full((TRAINING, 7), np.nan, np.float16), "row 0 (and 447 more) is not probabilities"),
    "negative": (with_column(3, -5), "row 0 (and 447 more) is not probabilities"),
    "zero": (np.zeros((TRAINING, 7), np.float32), "with some mass on the --split-classes"),
}


@pytest.mark.slow
@pytest.mark.parametrize("option", ["--split-by", "--soft-labels"])
@pytest.mark.parametrize("case", sorted(HOSTILE_SOFT))
def test_a_soft_label_file_that_is_not_probabilities_is_one_line(tmp_path: Path, synthetic_csv: Path, option: str,
                                                                 case: str) -> None:  # fmt: skip
    content, says = HOSTILE_SOFT[case]
    if option == "--soft-labels":
        says = says.replace(" on the --split-classes", "")
    path = tmp_path / "nope.npy" if content is None else tmp_path if case == "folder" else None
    path = path or soft_file(tmp_path, f"{case}.npy", content)
    result = run_module("train", "--data", str(synthetic_csv), *TINY, "--out", str(tmp_path / "run"), option,
                        str(path), timeout=300)  # fmt: skip
    assert_one_line(result, f"train: error: {path}", says)


@pytest.mark.slow
def test_split_classes_without_split_by_is_refused(tmp_path: Path, synthetic_csv: Path) -> None:
    result = run_module("train", "--data", str(synthetic_csv), *TINY, "--out", str(tmp_path / "run"),
                        "--split-classes", "Joy,Fun", timeout=300)  # fmt: skip
    assert_one_line(result, "train: error: --split-classes needs --split-by")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["teacher", "teach"])
def test_a_teacher_that_is_not_a_model_is_named_itself(tmp_path: Path, synthetic_csv: Path, how: str) -> None:
    """E22: `--teacher small.csv` and `teach --model bad.keras` blamed the parent folder's missing contract.json."""
    bad = tmp_path / "bad.keras"
    bad.write_text("x")
    if how == "teacher":
        args = ("--data", str(synthetic_csv), *TINY, "--out", str(tmp_path / "run"), "--teacher", str(synthetic_csv))
        named = synthetic_csv
    else:
        args = ("teach", "--model", str(bad), "--data", str(synthetic_csv), "--out", str(tmp_path / "t.npy"))
        named = bad
    result = run_module("train", *args, timeout=300)
    assert_one_line(result, f"train: error: {named}: not a model (a converted folder, its .tflite, or a .keras")

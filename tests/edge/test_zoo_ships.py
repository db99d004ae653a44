"""Every zoo name ships: its folder's files are tracked by git (an ignore rule once kept two models out of every
clone), and `python -m edge --model NAME` runs the demo on it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from edge.contract import MANIFEST_KEY
from edge.model_folder import CARD_FILE, CONTRACT_FILE, MODEL_NAMES
from tests.conftest import ROOT, run_module

LICENSED = {"faceapi": "LICENSE"}  # an imported model carries its licence beside its card


def tracked(folder) -> set[str]:
    listed = subprocess.run(["git", "ls-files", "--", str(folder.relative_to(ROOT))], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    return {name.rsplit("/", 1)[-1] for name in listed}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("name", list(MODEL_NAMES))
def test_each_zoo_folder_is_tracked_whole(name: str) -> None:
    folder = MODEL_NAMES[name]
    files = tracked(folder)
    manifest = json.loads((folder / CONTRACT_FILE).read_text())["extra"][MANIFEST_KEY]
    assert {CONTRACT_FILE, CARD_FILE, *manifest} <= files, f"{name}: untracked {set(manifest) - files}"
    if name in LICENSED:
        assert LICENSED[name] in files


@pytest.mark.parametrize("name", list(MODEL_NAMES))
def test_each_zoo_name_runs_the_demo(name: str) -> None:
    result = run_module("edge", "--model", name, "--source", "demo", "--max-frames", "5", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "5 frames, 5 faces" in result.stdout

"""Shared fixtures: synthetic CSVs, and one tiny real model trained and converted once per session."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.synthetic import write_csv

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "fer2013.csv.gz"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def subprocess_env(
    env: dict[str, str] | None = None, before: Path | None = None, unset: tuple[str, ...] = ()
) -> dict[str, str]:
    """This process's environment for a `python -m` child that imports the repo's stages, TensorFlow quiet;
    `env` on top. `before`: a folder searched before the repo (a sitecustomize.py there runs first). `unset`:
    variables the child must not inherit (those this process's imports set, which a user's shell lacks)."""
    path = str(ROOT) if before is None else f"{before}{os.pathsep}{ROOT}"
    inherited = {k: v for k, v in os.environ.items() if k not in unset}
    return {**inherited, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}


def run_module(
    *args: str,
    check: bool = False,
    timeout: float = 600,
    max_file_bytes: int | None = None,
    env: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """Run `python -m ...` from the repo root, as a user would.

    max_file_bytes: the process may write no file larger than this (RLIMIT_FSIZE): the writes of a full disk.
    env: variables to set on top of this process's environment; unset: variables to leave out of it.
    """
    env = subprocess_env(env, unset=unset)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=limit if max_file_bytes is not None else None,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def train_killed_after(out: Path, epochs: int, *args: str, env: dict[str, str] | None = None) -> int:
    """Run `python -m train ... --out OUT`, SIGKILL it once `epochs` epochs are saved; the epochs it had done.

    env: variables to set on top of this process's environment, as for `run_module`.
    """
    env = subprocess_env(env)
    command = [sys.executable, "-m", "train", *args, "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / ".resume" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["epochs_done"] >= epochs:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return json.loads(state.read_text())["epochs_done"]


def error_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's C++ start-up chatter."""
    noise = ("WARNING: All log messages", "I0000", "W0000", "E0000")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("data") / "fer.csv", {"Training": 448, "PublicTest": 112})


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, synthetic_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    run_module(
        "train", "--data", str(synthetic_csv), "--arch", "tiny", "--epochs", "2", "--batch-size", "32",
        "--lr", "0.01", "--out", str(out), check=True,
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory, trained_run: Path, synthetic_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    run_module(
        "convert", str(trained_run / "model.keras"), "--data", str(synthetic_csv), "--out", str(out),
        "--calibration-size", "100", "--min-agreement", "0", check=True,
    )  # fmt: skip
    return out


requires_real_data = pytest.mark.skipif(not REAL_DATA.exists(), reason=f"{REAL_DATA} not present")

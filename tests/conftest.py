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


SYNTHETIC_ROWS = {"Training": 448, "PublicTest": 112}  # the `synthetic_csv` fixture's rows per split


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
    max_memory_bytes: int | None = None,
) -> subprocess.CompletedProcess:
    """Run `python -m ...` from the repo root, as a user would.

    max_file_bytes: the process may write no file larger than this (RLIMIT_FSIZE): the writes of a full disk.
    env: variables to set on top of this process's environment; unset: variables to leave out of it.
    max_memory_bytes: the process's address space (RLIMIT_AS): a small device's memory.
    """
    env = subprocess_env(env, unset=unset)

    def limit() -> None:
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        if max_memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (max_memory_bytes, max_memory_bytes))

    limited = max_file_bytes is not None or max_memory_bytes is not None
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=limit if limited else None,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def cpu_seconds(pid: int) -> float:
    """The CPU time a running process has used so far (user and system, /proc/PID/stat), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_while_working(processes: list[subprocess.Popen], idle_limit: float = 300) -> None:
    """Wait for every process to end, however long that takes while they work; kill them all and fail once
    none of them has used any CPU for `idle_limit` seconds (stuck, e.g. each waiting for the other). A loaded
    machine makes work slower, never idle."""
    used, idle_since = -1.0, time.monotonic()
    while any(process.poll() is None for process in processes):
        now_used = sum(cpu_seconds(process.pid) for process in processes if process.poll() is None)
        if now_used != used:
            used, idle_since = now_used, time.monotonic()
        elif time.monotonic() - idle_since > idle_limit:
            for process in processes:
                process.kill()
            raise AssertionError(f"no process used the CPU for {idle_limit:g} s: stuck")
        time.sleep(1)


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
    return write_csv(tmp_path_factory.mktemp("data") / "fer.csv", SYNTHETIC_ROWS)


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

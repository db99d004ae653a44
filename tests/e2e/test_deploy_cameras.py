"""One service per camera: the fer-edge@.service template, its env file, install-pi.sh
--service NAME, and $FER_EDGE_SOURCE (a camera's URL kept out of `ps`)."""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import subprocess
from pathlib import Path

import pytest

from edge.cli import build_parser, source_from
from tests.conftest import ROOT, error_lines, run_module
from tests.e2e.test_deploy import dry_run, owner, rendered_unit
from tests.live import free_port

TEMPLATE = ROOT / "edge" / "deploy" / "fer-edge@.service"
CAMERA_ENV = ROOT / "edge" / "deploy" / "fer-edge-camera.env"


def exec_start(instance: str) -> list[str]:
    line = next(line for line in TEMPLATE.read_text().splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart=").replace("%i", instance))


def test_template_reads_each_cameras_own_env_file_and_names_the_device() -> None:
    lines = TEMPLATE.read_text().splitlines()
    for line in ("Restart=on-failure", "KillSignal=SIGTERM", "WantedBy=multi-user.target", "User=@USER@"):
        assert line in lines
    assert "EnvironmentFile=@APP_DIR@/cameras/%i.env" in lines
    argv = exec_start("hall")
    assert argv[:3] == ["@VENV@/bin/python", "-m", "edge"] and argv[-1] == "$FER_EDGE_ARGS"
    args = build_parser().parse_args(argv[3:-1])
    assert args.device_name == "hall" and args.source is None  # the camera comes from $FER_EDGE_SOURCE
    assert args.jsonl == "@APP_DIR@/results/hall.jsonl" and args.summary_json == "@APP_DIR@/results/hall-summary.json"


def test_camera_env_file_examples_are_valid_edge_options() -> None:
    text = CAMERA_ENV.read_text()
    examples = [line.strip("# ").removeprefix("FER_EDGE_ARGS=") for line in text.splitlines()
                if line.strip("# ").startswith("FER_EDGE_ARGS=")]  # fmt: skip
    assert len(examples) == 3 and "" in examples
    for example in examples:
        args = build_parser().parse_args(exec_start("hall")[3:-1] + shlex.split(example))
        assert args.device_name == "hall"
    sources = [line.strip("# ").removeprefix("FER_EDGE_SOURCE=") for line in text.splitlines()
               if line.strip("# ").startswith("FER_EDGE_SOURCE=")]  # fmt: skip
    assert "picam" in sources and any(s.startswith("rtsp://") for s in sources)
    assert "FER_EDGE_SERVE_TOKEN=" in text.splitlines()


def test_source_comes_from_the_option_then_the_environment_then_the_demo() -> None:
    assert source_from("0", {"FER_EDGE_SOURCE": "picam"}) == "0"
    assert source_from(None, {"FER_EDGE_SOURCE": "picam"}) == "picam"
    assert source_from(None, {"FER_EDGE_SOURCE": ""}) == "demo"
    assert source_from(None, {}) == "demo"


def test_a_camera_url_from_the_environment_is_used_and_never_shown() -> None:
    url = f"rtsp://viewer:envSecret@127.0.0.1:{free_port()}/x"
    result = run_module("edge", "--max-frames", "1", env={"FER_EDGE_SOURCE": url}, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("edge: error: rtsp://viewer:***@127.0.0.1:"), result.stderr
    assert "envSecret" not in result.stdout + result.stderr


def test_dry_run_service_name_installs_one_instance(tmp_path: Path) -> None:
    result = dry_run(tmp_path, "--service", "hall", "--venv", str(tmp_path / "v"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    env_file = tmp_path / "cameras" / "hall.env"
    assert f"+ install -m 600 {owner()} {tmp_path / 'edge' / 'deploy' / 'fer-edge-camera.env'} {env_file}" in out
    assert "+ write /etc/systemd/system/fer-edge@.service from" in out
    assert "systemctl enable --now fer-edge@hall.service" in out
    assert "fer-edge.service" not in out.replace("fer-edge@", "")  # not the single service
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge"]  # a dry run changes nothing


def test_service_name_keeps_an_edited_env_file(tmp_path: Path) -> None:
    (tmp_path / "cameras").mkdir()
    (tmp_path / "cameras" / "door.env").write_text("FER_EDGE_SOURCE=rtsp://cam/x\n")
    result = dry_run(tmp_path, "--service", "door", "--mqtt", "--venv", str(tmp_path / "v"))
    assert result.returncode == 0, result.stderr
    assert f"keeping your {tmp_path / 'cameras' / 'door.env'}" in result.stdout
    assert "install -m 600" not in result.stdout
    assert "-m pip install --quiet paho-mqtt>=2,<3" in result.stdout  # options after the name still count


def test_plain_service_still_installs_the_single_unit(tmp_path: Path) -> None:
    result = dry_run(tmp_path, "--service", "--venv", str(tmp_path / "v"))
    assert result.returncode == 0, result.stderr
    assert "systemctl enable --now fer-edge.service" in result.stdout and "fer-edge@" not in result.stdout


@pytest.mark.parametrize("name", ["a b", "../etc", "x;y", "-"])
def test_bad_camera_names_are_one_line(name: str) -> None:
    result = subprocess.run(["bash", str(ROOT / "edge" / "deploy" / "install-pi.sh"), "--service", name],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("install-pi: error: "), result.stderr


def verify_template(tmp_path: Path, venv: Path, *args: str) -> subprocess.CompletedProcess:
    """systemd-analyze verify on fer-edge@hall as install-pi.sh --service hall ARGS would write it."""
    analyze, rendered = rendered_unit(tmp_path, venv, "--service", "hall", *args)
    (tmp_path / "cameras").mkdir()
    (tmp_path / "cameras" / "hall.env").write_text(CAMERA_ENV.read_text())
    (tmp_path / "fer-edge@.service").write_text(rendered)
    unit = tmp_path / "fer-edge@hall.service"
    unit.symlink_to(tmp_path / "fer-edge@.service")
    return subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)


def test_rendered_template_passes_systemd_verify(tmp_path: Path) -> None:
    result = verify_template(tmp_path, tmp_path / ".venv")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("env_file", [CAMERA_ENV, ROOT / "edge" / "deploy" / "fer-edge.env"])
def test_env_file_examples_keep_the_broker_password_off_the_command_line(env_file: Path) -> None:
    """D13 (hostile run 2026-12-04): the per-camera template's example put the broker password in an --mqtt URL in
    FER_EDGE_ARGS, which the unit expands into argv, where `ps` shows it to every local user. Every example's URL
    now has a user only, and the file has the FER_EDGE_MQTT_PASSWORD line for the password."""
    lines = env_file.read_text().splitlines()
    examples = [line.strip("# ").removeprefix("FER_EDGE_ARGS=") for line in lines
                if line.strip("# ").startswith("FER_EDGE_ARGS=")]  # fmt: skip
    urls = [args.mqtt for args in (build_parser().parse_args(shlex.split(e)) for e in examples) if args.mqtt]
    assert urls and all(url.password is None for url in urls)
    assert "FER_EDGE_MQTT_PASSWORD=" in lines


def test_a_relative_venv_makes_a_unit_systemd_accepts(tmp_path: Path) -> None:
    """D23: `--venv myvenv` went into ExecStart= as myvenv/bin/python, which systemd refuses (not absolute)."""
    result = verify_template(tmp_path, tmp_path / "myvenv", "--venv", "myvenv")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("folder", ["my cams", "a&b", "100%"])
def test_a_folder_systemd_would_split_or_expand_is_refused_in_one_line(tmp_path: Path, folder: str) -> None:
    """D24: a space in the folder made `ExecStart=/home/pi/my cams/...` (systemd: "Command /home/pi/my is not
    executable"); & and | broke the sed that renders the unit, and % is a systemd specifier."""
    app = tmp_path / folder
    app.mkdir()
    result = dry_run(app, "--no-apt", "--service", "hall")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"install-pi: error: {app}: a service's folders may hold only letters, digits and . _ - + / (systemd splits"
        " its command at spaces); move it, e.g. to ~/fer-edge"
    ]


def test_under_sudo_the_results_folder_and_env_file_belong_to_the_services_user(tmp_path: Path) -> None:
    """D22: under sudo, results/ and cameras/NAME.env were made by root, so the service (User=$SUDO_USER) could
    not write its results and restarted every 5 s. The commands the dry run shows are run here for real."""
    result = dry_run(tmp_path, "--no-apt", "--service", "hall", "--venv", str(tmp_path / "v"),
                     env={"SUDO_USER": "nobody"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    commands = [shlex.split(line[2:]) for line in result.stdout.splitlines() if line.startswith("+ install ")]
    assert [c[:7] for c in commands] == [
        ["install", "-d", "-o", "nobody", "-g", group, str(tmp_path / "results")],
        ["install", "-m", "600", "-o", "nobody", "-g", group],
    ]
    assert "    User=nobody" in result.stdout.splitlines()
    if os.geteuid() != 0:
        pytest.skip("the install commands give files away only as root (what sudo runs them as)")
    for command in commands:
        subprocess.run(command, check=True)
    for path in (tmp_path / "results", tmp_path / "cameras", tmp_path / "cameras" / "hall.env"):
        assert path.owner() == "nobody", path


@pytest.mark.parametrize("length", [238, 239])
def test_a_camera_name_longer_than_systemd_allows_is_refused_before_any_step(tmp_path: Path, length: int) -> None:
    """D32: a 250-character name passed, then systemctl enable failed after cameras/NAME.env was written."""
    result = dry_run(tmp_path, "--no-apt", "--service", "x" * length, "--venv", str(tmp_path / "v"))
    if length == 238:  # fer-edge@NAME.service is 255 bytes: systemd's limit
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"install-pi: error: --service {'x' * 40}...: a camera's name is at most 238 characters (systemd's limit for"
        " fer-edge@NAME.service)"
    ]

"""The image's files without podman: the entry point gives the Pi service's options, each camera's env file holds
valid options and names its secrets by file, the scripts are shellcheck-clean, the image installs the mqtt extra."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from benchmarks.container import ENTRYPOINT, entrypoint_options
from edge.cli import build_parser
from tests.conftest import ROOT
from tests.e2e.test_deploy import shellcheck

UNIT = ROOT / "edge" / "deploy" / "fer-edge@.service"
CAMERAS = sorted((ROOT / "container" / "cameras").glob("*.env"))
SAME_AS_THE_SERVICE = ("detect_every", "smooth", "quiet", "jsonl_max_mb", "jsonl_keep")


def settings(path: Path) -> dict[str, str]:
    """An env file's KEY=VALUE lines, as docker and podman read them (no quotes, no expansion)."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_the_entry_point_runs_the_pi_services_options_with_the_web_view_and_files_in_data() -> None:
    exec_start = next(line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart="))
    unit = build_parser().parse_args([word.replace("%i", "cam") for word in shlex.split(exec_start)[3:-1]])
    image = build_parser().parse_args(entrypoint_options())
    assert {k: getattr(image, k) for k in SAME_AS_THE_SERVICE} == {k: getattr(unit, k) for k in SAME_AS_THE_SERVICE}
    assert image.serve == ("0.0.0.0", 8000) and image.jsonl.startswith("/data/")
    assert image.summary_json.startswith("/data/")


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda path: path.stem)
def test_each_cameras_env_file_parses_after_the_images_options_and_reads_secrets_from_files(camera: Path) -> None:
    values = settings(camera)
    args = build_parser().parse_args(entrypoint_options() + values["FER_EDGE_ARGS"].split())  # split as sh does
    assert args.device_name == camera.stem and args.ha_discovery == "homeassistant" and args.mqtt.password is None
    assert values["FER_EDGE_PRIVACY"] == "blur"
    assert values["FER_EDGE_MQTT_PASSWORD_FILE"].startswith("/run/secrets/")
    assert values["FER_EDGE_SERVE_TOKEN_FILE"].startswith("/run/secrets/")
    assert not re.search(r"://[^/@\s]+:[^/@\s]+@", camera.read_text().replace("PASSWORD@", "@"))  # no password


def test_the_scripts_are_shellcheck_clean() -> None:
    for script in (ENTRYPOINT, ROOT / "container" / "base.sh"):
        assert shellcheck(script) == "", script


def test_the_image_installs_the_mqtt_extra_as_pyproject_pins_it() -> None:
    [paho] = re.findall(r'^mqtt = \[(".*")\]$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert paho in (ROOT / "Containerfile").read_text()

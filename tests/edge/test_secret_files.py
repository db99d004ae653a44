"""Secrets from files: $FER_EDGE_SOURCE_FILE, $FER_EDGE_SERVE_TOKEN_FILE and $FER_EDGE_MQTT_PASSWORD_FILE name
a file that holds the value (how containers pass secrets, at /run/secrets/NAME), read by real `python -m edge`
runs. The broker password's file form logs in to a real Mosquitto in tests/edge/test_mqtt_holes.py."""

from __future__ import annotations

from pathlib import Path

from edge.cli import source_from
from tests.conftest import error_lines, run_module
from tests.edge.test_serve import start
from tests.live import free_port, get

SECRET = "s3cretPass"


def test_the_source_comes_from_the_file_its_variable_names(tmp_path: Path) -> None:
    secret = tmp_path / "camera_url"
    secret.write_text("rtsp://viewer:pw@cam/x\n")  # the line break an editor leaves is not part of the URL
    assert source_from(None, {"FER_EDGE_SOURCE_FILE": str(secret)}) == "rtsp://viewer:pw@cam/x"
    assert source_from("0", {"FER_EDGE_SOURCE_FILE": str(secret)}) == "0"  # the option wins
    assert source_from(None, {"FER_EDGE_SOURCE_FILE": ""}) == "demo"


def test_a_camera_url_from_a_file_is_used_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "camera_url"
    secret.write_text(f"rtsp://user:{SECRET}@127.0.0.1:{free_port()}/x\n")
    result = run_module("edge", "--max-frames", "1", env={"FER_EDGE_SOURCE_FILE": str(secret)}, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("edge: error: rtsp://user:***@127.0.0.1:"), result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_a_value_and_its_file_together_are_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "camera_url"
    secret.write_text("demo\n")
    env = {"FER_EDGE_SOURCE": "demo", "FER_EDGE_SOURCE_FILE": str(secret)}
    result = run_module("edge", "--max-frames", "1", env=env, timeout=120)
    assert result.returncode == 2
    both = "edge: error: FER_EDGE_SOURCE and FER_EDGE_SOURCE_FILE are both set; give one"
    assert error_lines(result.stderr) == [both]


def test_a_missing_or_empty_secret_file_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.write_text("\n")
    for path, reason in ((missing, "cannot read it (No such file or directory)"), (empty, "the file is empty")):
        result = run_module("edge", "--max-frames", "1", env={"FER_EDGE_SOURCE_FILE": str(path)}, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert error_lines(result.stderr) == [f"edge: error: FER_EDGE_SOURCE_FILE={path}: {reason}"]


def test_the_web_view_token_comes_from_a_file(tmp_path: Path) -> None:
    token = "t0ken-from-a-file"
    secret = tmp_path / "token"
    secret.write_text(token + "\n")
    edge, base = start(env={"FER_EDGE_SERVE_TOKEN_FILE": str(secret)})
    try:
        assert get(base + "api/summary")[0] == 401
        assert get(base + f"api/summary?token={token}")[0] == 200
    finally:
        code, out, err = edge.stop()
    assert code == 0, err
    assert token not in out + err

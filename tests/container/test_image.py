"""The real image, run by podman: the demo, the web view published to the host and its health check, a network
camera (GStreamer's RTSP server on the host), MQTT to the host's Mosquitto with Home Assistant discovery; as a user
who is not root, with secrets from files that neither `podman inspect` nor `ps` shows, and a clean stop on SIGTERM.
Built once per session (conftest.py); the figures (size, start, FPS) are `python -m benchmarks --container`."""

from __future__ import annotations

import getpass
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.container import DATA, podman
from benchmarks.rtsp_server import RtspServer, rtsp_server_missing, write_clip
from tests.container.conftest import Container
from tests.edge.test_metrics import scrape, value
from tests.edge.test_mqtt_holes import needs_broker, start_broker
from tests.live import Broker, Subscriber, free_port, get, mjpeg_frame, wait_for

pytestmark = pytest.mark.slow

USER_ID = 10001  # the image's user (Containerfile)
SECRET = "s3cretPass"
USER, PASSWORD = "fer", "pa:ss@w0rd-in-a-file"
DEVICE = "cam1"


def answers(url: str) -> bool:
    try:
        return get(url, timeout=2)[0] == 200
    except OSError:
        return False


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def secret_file(folder: Path, name: str, text: str) -> Path:
    """A secret as compose passes one: a file bind-mounted read-only, readable by the image's user."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(0o644)
    return path


def shown_anywhere(container: Container, text: str) -> list[str]:
    """Where `text` shows: `podman inspect`, the host's process list (the container's processes are in it) and the
    container's log."""
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    places = {"podman inspect": json.dumps(container.inspect()), "ps": processes, "podman logs": container.logs()}
    return [place for place, shown in places.items() if text in shown]


def host_uid(container: Container) -> int:
    """The real uid of the container's main process, as the host sees it."""
    status = Path(f"/proc/{container.inspect()['State']['Pid']}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_the_image_declares_its_user_port_volume_health_check_and_blur(image: str) -> None:
    [inspected] = json.loads(podman("image", "inspect", image).stdout)
    config = inspected["Config"]
    assert config["User"] == "fer-edge" and config["ExposedPorts"] == {"8000/tcp": {}}
    assert config["Volumes"] == {DATA: {}} and config["WorkingDir"] == DATA and config["StopSignal"] == "SIGTERM"
    assert "FER_EDGE_PRIVACY=blur" in config["Env"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(inspected["Healthcheck"]["Test"])  # kept: --format docker


def test_the_demo_runs_to_max_frames_as_a_user_who_is_not_root(image: str, data: Path) -> None:
    result = podman("run", "--rm", "--network=none", "-v", f"{data}:{DATA}:U", image, "--max-frames", "20",
                    check=False, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "20 frames" in result.stdout and "privacy: faces covered (blur)" in result.stdout  # blur by default
    summary = json.loads((data / "last-summary.json").read_text())
    assert summary["frames"] == 20 and summary["stopped"] == "--max-frames reached" and summary["privacy"] == "blur"
    lines = records(data / "fer-edge.jsonl")
    assert [r["frame"] for r in lines] == list(range(20)) and any(r["faces"] for r in lines)
    for written in ("fer-edge.jsonl", "last-summary.json"):
        assert (data / written).stat().st_uid == USER_ID  # written by the image's user, not by root


def test_the_published_web_view_is_healthy_and_a_stop_writes_the_summary(
    image: str, data: Path, containers: list[Container]
) -> None:
    port = free_port()
    container = Container(image, "--loop", args=("-p", f"127.0.0.1:{port}:8000", "-v", f"{data}:{DATA}:U"))
    containers.append(container)
    base = f"http://127.0.0.1:{port}/"
    wait_for(lambda: answers(base + "healthz"), 120, "the web view through the published port")
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0  # the image's HEALTHCHECK
    assert container.inspect()["State"]["Health"]["Status"] == "healthy"
    assert json.loads(get(base + "api/summary")[2])["frames"] > 0
    assert container.stop() == 0  # SIGTERM ended it cleanly before the stop timeout (a kill exits 137)
    summary = json.loads((data / "last-summary.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["frames"] == len(records(data / "fer-edge.jsonl")) > 0
    assert "[interrupted]" in container.logs()


@pytest.fixture
def rtsp(tmp_path: Path) -> Iterator[RtspServer]:
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(missing)
    server = RtspServer(write_clip(tmp_path / "clip"), free_port())
    server.start()
    yield server
    server.kill()


def test_an_rtsp_camera_on_the_host_is_watched_and_served_to_the_host(
    image: str, data: Path, containers: list[Container], rtsp: RtspServer, tmp_path: Path
) -> None:
    url = secret_file(tmp_path / "secrets", "camera_url", f"rtsp://viewer:{SECRET}@127.0.0.1:{rtsp.port}/x")
    port = free_port()  # the host's network: the camera is on the host's loopback, the view on a free port of it
    container = Container(image, args=(
        "--network=host", "-v", f"{data}:{DATA}:U", "-v", f"{url}:/run/secrets/camera_url:ro",
        "-e", "FER_EDGE_SOURCE_FILE=/run/secrets/camera_url", "-e", f"FER_EDGE_ARGS=--serve 127.0.0.1:{port}",
    ))  # fmt: skip
    containers.append(container)
    base = f"http://127.0.0.1:{port}/"
    wait_for(lambda: answers(base + "healthz"), 120, "the web view")
    wait_for(lambda: value(scrape(base + "metrics"), "fer_edge_frames") > 5, 120, "frames from the RTSP camera")
    headers, jpeg = mjpeg_frame(base + "stream.mjpg")
    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert headers["Content-Type"] == "image/jpeg" and frame.shape == (240, 320, 3)  # the clip's size
    assert host_uid(container) == USER_ID
    assert podman("exec", container.name, "id", "-u").stdout.strip() == str(USER_ID)
    assert shown_anywhere(container, SECRET) == []
    assert container.stop() == 0
    summary = json.loads((data / "last-summary.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["source"] == f"rtsp://viewer:***@127.0.0.1:{rtsp.port}/x"
    assert SECRET not in (data / "fer-edge.jsonl").read_text() + json.dumps(summary)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto on the host: USER must give PASSWORD; the test's subscriber comes in anonymously."""
    needs_broker()
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True, capture_output=True)
    running = start_broker(tmp_path, f"password_file {passwords}", f"user {getpass.getuser()}")
    yield running
    running.stop()


@pytest.fixture
def password_secret(tmp_path: Path) -> Iterator[str]:
    """PASSWORD as a podman secret (mounted in the container at /run/secrets/NAME)."""
    name = f"fer-edge-test-{uuid.uuid4().hex[:12]}"
    podman("secret", "create", name, str(secret_file(tmp_path / "secrets", "mqtt_password", PASSWORD)))
    yield name
    podman("secret", "rm", name, check=False)


def test_it_publishes_to_the_hosts_mosquitto_with_home_assistant_discovery(
    image: str, data: Path, containers: list[Container], broker: Broker, password_secret: str
) -> None:
    subscriber = Subscriber(broker.port)
    options = f"--mqtt mqtt://{USER}@127.0.0.1:{broker.port} --ha-discovery --device-name {DEVICE}"
    container = Container(image, "--loop", args=(
        "--network=host", "-v", f"{data}:{DATA}:U", "--secret", password_secret,
        "-e", f"FER_EDGE_MQTT_PASSWORD_FILE=/run/secrets/{password_secret}",
        "-e", f"FER_EDGE_ARGS={options} --serve 127.0.0.1:{free_port()}",
    ))  # fmt: skip
    containers.append(container)
    try:
        config = f"homeassistant/sensor/{DEVICE}_dominant_emotion/config"
        wait_for(lambda: subscriber.on(config) and subscriber.on(f"fer-edge/{DEVICE}/state"), 120, "discovery, state")
        sensor = json.loads(subscriber.on(config)[0])
        assert sensor["state_topic"] == f"fer-edge/{DEVICE}/state"
        assert sensor["availability_topic"] == f"fer-edge/{DEVICE}/available"
        assert subscriber.on(f"fer-edge/{DEVICE}/available")[0] == "online"
        state = json.loads(subscriber.on(f"fer-edge/{DEVICE}/state")[-1])
        assert state["source"] == "demo" and state["faces"]
        assert shown_anywhere(container, PASSWORD) == []
        assert container.stop() == 0
        wait_for(lambda: subscriber.on(f"fer-edge/{DEVICE}/available")[-1:] == ["offline"], 30, "the clean 'offline'")
    finally:
        subscriber.close()
    mqtt = json.loads((data / "last-summary.json").read_text())["outputs"]["mqtt"]
    assert mqtt["connects"] == 1 and mqtt["published"] > 0  # logged in with the password from the secret

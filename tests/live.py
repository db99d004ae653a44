"""Helpers for tests that run `python -m edge` as a long-lived process beside real clients: a web browser, an
HTTP client, a Mosquitto broker. Each tool that is missing makes its tests skip with the reason."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT, subprocess_env

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EdgeProcess:
    """`python -m edge ARGS` in the background; stop() sends SIGTERM (a clean stop) and returns its output."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.stderr_read = ""
        environment = subprocess_env(env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge", *args], cwd=ROOT, env=environment, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def stderr_so_far(self) -> str:
        """What the process wrote to stderr until now, read without blocking (it keeps running)."""
        stream = self.process.stderr
        while select.select([stream], [], [], 0)[0]:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            self.stderr_read += chunk.decode()
        return self.stderr_read

    def alive(self) -> bool:
        return self.process.poll() is None


def wait_for(check: Callable[[], object], timeout: float = 60, what: str = "condition") -> object:
    """Poll until `check()` is truthy (behaviour, not speed: the timeout only bounds a broken run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def get(url: str, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 10):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def serving(edge: EdgeProcess, base: str) -> bool:
    if not edge.alive():
        raise AssertionError(f"edge exited early: {edge.stop()}")
    try:
        return get(base + "healthz", timeout=2)[0] == 200
    except OSError:
        return False


def mjpeg_frame(url: str, timeout: float = 30) -> tuple[dict[str, str], bytes]:
    """The part headers and the JPEG of the first frame of a /stream.mjpg; the stream's own headers are checked."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=fer-edge-frame"
        assert response.readline() == b"--fer-edge-frame\r\n"
        headers = {}
        while (line := response.readline().strip()) != b"":
            key, value = line.decode().split(": ")
            headers[key] = value
        return headers, response.read(int(headers["Content-Length"]))


def sse_records(url: str, count: int, timeout: float = 30) -> list[dict]:
    """The first `count` per-frame records (unnamed SSE events) from /events."""
    records: list[dict] = []
    with urllib.request.urlopen(url, timeout=timeout) as response:
        event = "message"
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "message":
                records.append(json.loads(line.removeprefix("data: ")))
                if len(records) == count:
                    return records
            elif not line:
                event = "message"
    return records


# Mosquitto


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto", path=SBIN)


class Broker:
    """A real Mosquitto on a free localhost port, with a config file the test writes."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def accepting() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(accepting, 20, "mosquitto to listen")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Subscriber:
    """A paho client that records every message under `topic` as (topic, payload text, retained); binary payloads
    (JPEG snapshots) come back with `text.encode(errors="surrogateescape")`."""

    def __init__(self, port: int, topic: str = "#") -> None:
        from paho.mqtt.client import CallbackAPIVersion, Client

        self.messages: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise AssertionError("the test subscriber could not subscribe")

    def _message(self, client, userdata, message) -> None:
        with self.lock:
            text = message.payload.decode(errors="surrogateescape")
            self.messages.append((message.topic, text, bool(message.retain)))

    def on(self, topic: str) -> list[str]:
        with self.lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

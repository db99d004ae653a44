"""Snapshots: a JPEG of the face of each event (appeared, changed) on MQTT (retained, offered to
Home Assistant as an image entity), on the web view's /api/snapshot.jpg, and as files with --snapshots DIR."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.outputs.snapshots import crop_box
from tests.conftest import run_module
from tests.live import Broker, EdgeProcess, Subscriber, free_port, get, mosquitto_binary, serving, wait_for

DEVICE = "snappi"
BASE = f"fer-edge/{DEVICE}"
ASTRONAUT = Path(__file__).resolve().parents[2] / "edge" / "assets" / "astronaut.jpg"


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


@pytest.fixture
def face_then_none(tmp_path: Path) -> Path:
    """Six frames: the astronaut's face, nothing, the face... so a face appears three times."""
    folder = tmp_path / "frames"
    folder.mkdir()
    face = cv2.imread(str(ASTRONAUT))
    for i in range(6):
        cv2.imwrite(str(folder / f"{i}.png"), face if i % 2 == 0 else np.zeros_like(face))
    return folder


def test_mqtt_snapshot_is_a_jpeg_of_the_face_with_its_margin_and_discovery_offers_it(tmp_path: Path) -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    pytest.importorskip("paho.mqtt", reason="paho-mqtt not installed (pip install 'paho-mqtt>=2,<3')")
    broker = Broker(tmp_path)
    broker.start()
    subscriber = Subscriber(broker.port)
    jsonl = tmp_path / "frames.jsonl"
    try:
        result = run_module(
            "edge", "--source", "demo", "--demo-frames", "20", "--width", "640", "--height", "480", "--quiet",
            "--jsonl", str(jsonl), "--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--device-name", DEVICE,
            "--ha-discovery", "ha/", timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_for(lambda: subscriber.on(f"{BASE}/available")[-1:] == ["offline"], 30, "the clean 'offline'")
        snapshots = [(t, p, r) for t, p, r in subscriber.messages if t == f"{BASE}/snapshot"]
        events = [json.loads(p) for p in subscriber.on(f"{BASE}/events")]
        configs = {t: json.loads(p) for t, p, _ in subscriber.messages if t.startswith("ha/")}
        retained = Subscriber(broker.port, f"{BASE}/snapshot")  # a newcomer gets the latest face at once
        wait_for(lambda: retained.messages, 30, "the retained snapshot")
        retained.close()
    finally:
        subscriber.close()
        broker.stop()
    records = {r["frame"]: r for r in map(json.loads, jsonl.read_text().splitlines())}
    fired = [e for e in events if e["event"] in ("appeared", "changed")]
    assert fired and len(snapshots) == len(fired)
    for event, (_, payload, _) in zip(fired, snapshots, strict=True):
        image = decode(payload.encode(errors="surrogateescape"))
        box = next(f["box"] for f in records[event["frame"]]["faces"] if f["track"] == event["track"])
        x0, y0, x1, y1 = crop_box(tuple(box), (480, 640))
        assert image.shape[:2] == (y1 - y0, x1 - x0) and (x1 - x0) > box[2] and (y1 - y0) > box[3]
    assert retained.messages[0][1] == snapshots[-1][1]

    image = configs[f"ha/image/{DEVICE}_snapshot/config"]  # the trailing / of ha/ is dropped
    assert image["image_topic"] == f"{BASE}/snapshot" and image["content_type"] == "image/jpeg"
    assert (
        image["device"]["identifiers"] == [f"fer_edge_{DEVICE}"] and image["unique_id"] == f"fer_edge_{DEVICE}_snapshot"
    )
    assert f"ha/sensor/{DEVICE}_faces/config" in configs


def snapshot_after_a_few_frames(source: str) -> tuple:
    port = free_port()
    edge = EdgeProcess("--source", source, "--loop", "--quiet", "--serve", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: serving(edge, base), 60, "the web view to answer")
        wait_for(lambda: json.loads(get(base + "api/summary")[2])["frames"] > 3, 60, "a few frames")
        answer = get(base + "api/snapshot.jpg")
    finally:
        code, _, err = edge.stop()
    assert code == 0, err
    return answer


def test_web_view_serves_the_latest_snapshot_and_404_before_the_first(tmp_path: Path) -> None:
    blank = tmp_path / "blank"
    blank.mkdir()
    cv2.imwrite(str(blank / "0.png"), np.zeros((240, 320, 3), np.uint8))
    assert snapshot_after_a_few_frames(str(blank))[0] == 404
    status, headers, body = snapshot_after_a_few_frames("demo")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and decode(body).size


def test_snapshots_folder_keeps_the_newest_n(tmp_path: Path, face_then_none: Path) -> None:
    out, summary = tmp_path / "snaps", tmp_path / "summary.json"
    (tmp_path / "snaps").mkdir()
    (out / "mine.jpg").write_bytes(b"not ours")  # a file the sink did not write is never deleted
    result = run_module("edge", "--source", str(face_then_none), "--quiet", "--snapshots", str(out), "--keep", "2",
                        "--device-name", "fer-edge", "--summary-json", str(summary), timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(summary.read_text())["outputs"]["snapshots"]["written"] == 3
    names = sorted(p.name for p in out.iterdir())
    assert names[-1] == "mine.jpg" and len(names) == 3
    for name in names[:2]:
        assert re.fullmatch(r"fer-edge_0000\d\d_\d{8}-\d{6}-\d{3}Z_\d+_Happy\.jpg", name), name
        assert decode((out / name).read_bytes()).size
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left

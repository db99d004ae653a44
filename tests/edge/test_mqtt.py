"""`--mqtt`: against a real Mosquitto broker started by the test on a free localhost port."""

from __future__ import annotations

import json
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.frames import Face
from edge.outputs.events import FaceEvents, dominant
from edge.outputs.mqtt import discovery
from tests.conftest import ROOT, error_lines, run_module
from tests.live import Broker, EdgeProcess, Subscriber, free_port, mosquitto_binary, wait_for

DEVICE = "testpi"
BASE = f"fer-edge/{DEVICE}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    pytest.importorskip("paho.mqtt", reason="paho-mqtt not installed (pip install 'paho-mqtt>=2,<3')")
    running = Broker(tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    listening = Subscriber(broker.port)
    yield listening
    listening.close()


def url(broker: Broker) -> str:
    return f"mqtt://127.0.0.1:{broker.port}"


def test_messages_match_the_jsonl(tmp_path: Path, broker: Broker, subscriber: Subscriber) -> None:
    jsonl = tmp_path / "frames.jsonl"
    result = run_module(
        "edge", "--source", "demo", "--demo-frames", "40", "--quiet", "--jsonl", str(jsonl), "--mqtt", url(broker),
        "--device-name", DEVICE, "--ha-discovery", "--mqtt-summary-every", "1", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = {r["frame"]: r for r in map(json.loads, jsonl.read_text().splitlines())}
    wait_for(lambda: subscriber.on(f"{BASE}/available")[-1:] == ["offline"], 30, "the clean 'offline'")
    assert subscriber.on(f"{BASE}/available")[0] == "online"

    states = [json.loads(p) for p in subscriber.on(f"{BASE}/state")]
    assert states and all(s["source"] == "demo" for s in states)
    for state in states:
        record = records[state["frame"]]
        assert state["time"] == record["time"]
        assert state["faces"] == [{k: f[k] for k in ("track", "label", "confidence", "box")} for f in record["faces"]]
        assert state["dominant"] == (record["faces"][0]["label"] if len(record["faces"]) == 1 else state["dominant"])
    assert len(states) < len(records)  # changes and a heartbeat, not one message per frame

    events = [json.loads(p) for p in subscriber.on(f"{BASE}/events")]
    assert events[0]["event"] == "appeared"
    first = records[events[0]["frame"]]["faces"]
    assert (events[0]["track"], events[0]["label"]) in {(f["track"], f["label"]) for f in first}
    for event in events:  # each event agrees with the JSONL line of the frame that caused it
        faces = {f["track"]: f for f in records[event["frame"]]["faces"]}
        if event["event"] == "left":
            assert event["track"] not in faces
        else:
            assert faces[event["track"]]["label"] == event["label"]

    summaries = [json.loads(p) for p in subscriber.on(f"{BASE}/summary")]
    assert summaries[-1]["frames"] == len(records) and summaries[-1]["outputs"]["mqtt"]["dropped"] == 0
    assert set(summaries[-1]["labels"]) <= {f["label"] for r in records.values() for f in r["faces"]}

    configs = {t: json.loads(p) for t, p, retained in subscriber.messages if t.startswith("homeassistant/")}
    sensor = configs[f"homeassistant/sensor/{DEVICE}_dominant_emotion/config"]
    assert sensor["state_topic"] == f"{BASE}/state" and sensor["availability_topic"] == f"{BASE}/available"
    assert sensor["unique_id"] == f"fer_edge_{DEVICE}_dominant_emotion" and sensor["device"]["identifiers"]
    assert configs[f"homeassistant/sensor/{DEVICE}_faces/config"]["value_template"] == "{{ value_json.faces | count }}"
    assert sensor["default_entity_id"] == f"sensor.{DEVICE}_dominant_emotion"
    assert "mqtt: broker" in result.stdout and "dropped 0" in result.stdout


@pytest.mark.slow
def test_broker_restart_mid_run_the_run_survives_and_messages_resume(broker: Broker) -> None:
    edge = EdgeProcess(
        "--source", "demo", "--loop", "--max-frames", "1000000", "--quiet", "--mqtt", url(broker),
        "--device-name", DEVICE,
    )  # fmt: skip
    try:
        before = Subscriber(broker.port, f"{BASE}/state")
        wait_for(lambda: before.on(f"{BASE}/state"), 60, "state before the restart")
        last_before = json.loads(before.on(f"{BASE}/state")[-1])["frame"]
        before.close()
        broker.stop()
        wait_for(lambda: "lost the broker" in edge.stderr_so_far(), 30, "the run to notice")
        assert edge.alive()
        broker.start()
        after = Subscriber(broker.port, f"{BASE}/state")
        wait_for(lambda: [s for s in after.on(f"{BASE}/state") if json.loads(s)["frame"] > last_before], 90,
                 "state after the restart")  # fmt: skip
        after.close()
        assert edge.alive()
    finally:
        code, out, err = edge.stop()
    assert code == 0, err
    assert "mqtt: broker" in out and "connects 2" in out


@pytest.mark.slow
def test_kill_9_makes_the_broker_say_offline(broker: Broker, subscriber: Subscriber) -> None:
    edge = EdgeProcess("--source", "demo", "--loop", "--quiet", "--mqtt", url(broker), "--device-name", DEVICE)
    try:
        wait_for(lambda: subscriber.on(f"{BASE}/available") == ["online"], 60, "online")
        wait_for(lambda: subscriber.on(f"{BASE}/state"), 60, "a state message")
    finally:
        edge.stop(signal.SIGKILL)
    wait_for(lambda: subscriber.on(f"{BASE}/available") == ["online", "offline"], 60, "the last will")
    retained = Subscriber(broker.port, f"{BASE}/available")  # a newcomer sees the retained 'offline'
    try:
        wait_for(lambda: retained.on(f"{BASE}/available") == ["offline"], 30, "the retained offline")
    finally:
        retained.close()


def test_unreachable_broker_the_run_goes_on() -> None:
    pytest.importorskip("paho.mqtt", reason="paho-mqtt not installed (pip install 'paho-mqtt>=2,<3')")
    port = free_port()
    result = run_module("edge", "--source", "demo", "--demo-frames", "5", "--mqtt", f"mqtt://127.0.0.1:{port}",
                        "--mqtt-summary-every", "1", timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 frames, 5 faces" in result.stdout and "connected False" in result.stdout
    assert (
        f"edge: mqtt: mqtt://127.0.0.1:{port} is not reachable; the run goes on and connects when it can"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [("http://broker", "'http://broker' is not mqtt://[USER:PASS@]HOST[:PORT][/PREFIX]"),
     ("mqtt://broker:0x1", "'mqtt://broker:0x1': the port must be a number from 1 to 65535"),
     ("mqtt://broker/a/#", "'mqtt://broker/a/#': no ? or # (not in a topic prefix; %-encode them in a password)"),
     ("mqtt://broker/a+b", "'mqtt://broker/a+b': the topic prefix may not hold + or # (wildcards)")],
)  # fmt: skip
def test_bad_url_is_refused_at_parse_time(value: str, message: str) -> None:
    result = run_module("edge", "--mqtt", value, timeout=120)
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1] == f"python -m edge: error: argument --mqtt: {message} (see --help)"


def test_without_paho_edge_runs_and_mqtt_says_how_to_install() -> None:
    """paho is optional: importing edge never needs it; --mqtt without it is one line naming the fix."""
    script = textwrap.dedent("""
        import importlib.abc, runpy, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "paho":
                    raise ImportError(f"blocked: {name}")
        sys.meta_path.insert(0, Block())
        sys.argv = ["edge", "--source", "demo", "--demo-frames", "2", "--quiet", *sys.argv[1:]]
        runpy.run_module("edge", run_name="__main__")
    """)
    import subprocess
    import sys

    plain = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    wanted = subprocess.run([sys.executable, "-c", script, "--mqtt", "mqtt://localhost"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert wanted.returncode == 2
    assert error_lines(wanted.stderr) == [
        "edge: error: --mqtt needs paho-mqtt, which is not installed: pip install 'paho-mqtt>=2,<3'"
        " (or the fer-edge[mqtt] extra; edge/deploy/install-pi.sh --mqtt on a Pi)"
    ]


def face(track: int, label: str, happy: float = 0.9) -> Face:
    return Face((0, 0, 10, 10), label, happy, {"Happy": happy, "Sad": 1 - happy}, track, True)


def test_events_are_changes_not_frames() -> None:
    events = FaceEvents(hold=2)
    assert [e["event"] for e in events.update([face(1, "Happy")], 0.0)] == ["appeared"]
    assert events.update([face(1, "Happy")], 0.1) == []
    assert events.update([face(1, "Sad", 0.2)], 0.2) == []  # one frame of another label is a flicker
    assert events.update([face(1, "Happy")], 0.3) == []
    assert events.update([face(1, "Sad", 0.2), face(2, "Happy")], 0.4) == [events_of(2, "appeared", 0.4)]
    changed = events.update([face(1, "Sad", 0.2), face(2, "Happy")], 0.5)
    assert [(e["event"], e["track"], e["label"], e["previous"]) for e in changed] == [("changed", 1, "Sad", "Happy")]
    left = events.update([face(1, "Happy")], 0.6)  # a flicker back to Happy on leaving's frame: still Sad to them
    assert [(e["event"], e["track"], e["label"]) for e in left] == [("left", 2, "Happy")]
    assert [(e["event"], e["label"]) for e in events.update([], 0.7)] == [("left", "Sad")]
    assert dominant([]) == "none"
    assert dominant([face(1, "Sad", 0.45), face(2, "Happy", 0.9)]) == "Happy"  # 1.35 of Happy against 0.65 of Sad


def events_of(track: int, kind: str, time: float) -> dict:
    return {"event": kind, "track": track, "label": "Happy", "confidence": 0.9, "time": time}


def test_discovery_configs_name_their_device_and_availability() -> None:
    topics = {key: f"fer-edge/pi/{key}" for key in ("state", "available", "snapshot", "mood")}
    configs = discovery("homeassistant", "pi", topics, ["Happy"])
    assert sorted(configs) == ["homeassistant/image/pi_snapshot/config"] + [
        f"homeassistant/sensor/pi_{key}/config"
        for key in ("dominant_emotion", "faces", "faces_now", "mood_happy", "people", "room_mood")
    ]
    ids = {c["unique_id"] for c in configs.values()}
    assert len(ids) == 7 and all(c["device"]["identifiers"] == ["fer_edge_pi"] for c in configs.values())
    # D27: Home Assistant 2025.10 replaced object_id with default_entity_id (object_id stops working in 2026.4)
    assert {c["default_entity_id"]: c["object_id"] for c in configs.values()} == {
        f"{domain}.pi_{key}": f"pi_{key}" for domain, key in [("image", "snapshot")] + [
            ("sensor", key) for key in ("dominant_emotion", "faces", "faces_now", "mood_happy", "people", "room_mood")]
    }  # fmt: skip

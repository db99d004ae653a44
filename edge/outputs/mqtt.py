"""`--mqtt mqtt://[USER:PASS@]HOST[:PORT][/PREFIX]`: faces, events and summaries to an MQTT broker.

Topics (PREFIX defaults to fer-edge, DEVICE to the host name):
  PREFIX/DEVICE/available  online / offline, retained; offline is also the last will (a crash or power cut)
  PREFIX/DEVICE/state      retained: the faces now (label, confidence, box) and the dominant emotion
  PREFIX/DEVICE/events     a face appeared, changed label or left (edge/events.py): changes, not frames
  PREFIX/DEVICE/summary    the run summary every --mqtt-summary-every seconds
and, with --ha-discovery, Home Assistant discovery configs so the device shows up with two sensors.

The frame loop never waits on the network: it puts messages in a bounded queue that a publisher thread empties
while the broker is reachable; paho's own network thread (loop_start) reconnects with backoff. When the queue
is full the oldest message is dropped and counted (the summary's `mqtt.dropped`). paho-mqtt is an optional
extra, imported only when --mqtt is given.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import sys
import threading
import time
from collections.abc import Callable

from edge.common.errors import UserError
from edge.common.options import MqttUrl, version
from edge.outputs.base import Result, Sink
from edge.outputs.events import FaceEvents, dominant

QOS = 1
QUEUE_SIZE = 1000
SUMMARY_EVERY = 60.0  # seconds between summaries (--mqtt-summary-every)
STATE_EVERY = 1.0  # seconds: the retained state follows moving boxes at most this often (changes go at once)
RECONNECT_DELAY = (1, 30)  # seconds: paho doubles the wait between attempts up to the maximum
INSTALL_HINT = "pip install 'paho-mqtt>=2,<3' (or the fer-edge[mqtt] extra; edge/deploy/install-pi.sh --mqtt on a Pi)"


def default_device() -> str:
    return slug(socket.gethostname()) or "fer-edge"


def slug(text: str) -> str:
    """A name that is safe in a topic level and a Home Assistant id."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")


def discovery(ha_prefix: str, device: str, state_topic: str, available_topic: str) -> dict[str, dict]:
    """Home Assistant MQTT discovery: a "dominant emotion" sensor and a "faces" sensor on one device."""
    block = {"identifiers": [f"fer_edge_{device}"], "name": f"fer-edge {device}", "manufacturer": "fer-edge",
             "model": "facial expression recognition", "sw_version": version()}  # fmt: skip
    common = {"state_topic": state_topic, "availability_topic": available_topic, "payload_available": "online",
              "payload_not_available": "offline", "json_attributes_topic": state_topic, "device": block}  # fmt: skip
    sensors = {
        "dominant_emotion": {"name": "Dominant emotion", "icon": "mdi:emoticon-outline",
                             "value_template": "{{ value_json.dominant }}"},
        "faces": {"name": "Faces", "icon": "mdi:face-recognition", "state_class": "measurement",
                  "value_template": "{{ value_json.faces | count }}"},
    }  # fmt: skip
    return {
        f"{ha_prefix}/sensor/{device}_{key}/config": {**sensor, **common, "unique_id": f"fer_edge_{device}_{key}",
                                                      "object_id": f"{device}_{key}"}
        for key, sensor in sensors.items()
    }  # fmt: skip


class MqttPublisher(Sink):
    """The sink the run loop feeds; all network work runs on background threads."""

    name = "mqtt"

    def __init__(
        self,
        url: MqttUrl,
        device: str,
        summary_every: float = SUMMARY_EVERY,
        ha_prefix: str | None = None,
    ) -> None:
        try:
            from paho.mqtt.client import CallbackAPIVersion, Client
            from paho.mqtt.enums import MQTTErrorCode
        except ImportError:
            raise UserError(f"--mqtt needs paho-mqtt, which is not installed: {INSTALL_HINT}") from None
        self.kept_codes = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
        self.url, self.device, self.summary_every, self.ha_prefix = url, slug(device), summary_every, ha_prefix
        if not self.device:
            raise UserError(f"--device-name {device!r}: needs letters or digits")
        base = f"{url.prefix}/{self.device}"
        self.topics = {k: f"{base}/{k}" for k in ("available", "state", "events", "summary")}
        self.queue: queue.Queue[tuple[str, dict | str, bool]] = queue.Queue(maxsize=QUEUE_SIZE)
        self.connected = threading.Event()
        self.closing = threading.Event()
        self.counters = {"published": 0, "dropped": 0, "connects": 0}
        self.events = FaceEvents()
        self.last_state: tuple | None = None
        self.last_state_time = 0.0
        self.summary: Callable[[], dict] = dict
        self.said_unreachable = False
        self.client = Client(CallbackAPIVersion.VERSION2, client_id=f"fer-edge-{self.device}")
        if url.user is not None:
            self.client.username_pw_set(url.user, url.password)
        self.client.will_set(self.topics["available"], "offline", qos=QOS, retain=True)
        self.client.reconnect_delay_set(*RECONNECT_DELAY)
        self.client.max_queued_messages_set(QUEUE_SIZE)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.publisher = threading.Thread(target=self._publish_loop, daemon=True)

    # The run loop's side.

    def start(self, summary: Callable[[], dict]) -> None:
        self.summary = summary
        try:
            self.client.connect_async(self.url.host, self.url.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise UserError(f"--mqtt {self.url.host}:{self.url.port}: {exc}") from None
        self.client.loop_start()
        self.publisher.start()

    def frame(self, result: Result) -> None:
        faces, record = result.faces, result.record
        events = self.events.update(faces, record["time"])
        for event in events:
            self._put("events", {**event, "source": record["source"], "frame": record["frame"]})
        now = time.monotonic()
        shape = tuple((face.track, face.label) for face in faces)
        if events or shape != self.last_state or (faces and now - self.last_state_time >= STATE_EVERY):
            state = {
                "source": record["source"],
                "frame": record["frame"],
                "time": record["time"],
                "dominant": dominant(faces),
                "faces": [{k: f[k] for k in ("track", "label", "confidence", "box")} for f in record["faces"]],
            }
            self._put("state", state, retain=True)
            self.last_state, self.last_state_time = shape, now

    def stats(self) -> dict:
        return {"broker": f"{self.url.host}:{self.url.port}", "connected": self.connected.is_set(), **self.counters}

    def close(self) -> None:
        """Send what is queued (a few seconds at most), then say offline and disconnect cleanly."""
        if self.publisher.ident is None:  # never started (the run failed before it began)
            return
        self._put("summary", self.summary())
        if self.connected.is_set():
            deadline = time.monotonic() + 5
            while self.queue.unfinished_tasks and time.monotonic() < deadline:
                time.sleep(0.05)
        self.closing.set()
        self.publisher.join(timeout=2)
        if self.connected.is_set():
            info = self.client.publish(self.topics["available"], "offline", qos=QOS, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()

    # Background threads.

    def _put(self, topic: str, payload: dict | str, retain: bool = False) -> None:
        item = (self.topics[topic], payload, retain)
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()  # the oldest message goes: newer state matters more
                    self.queue.task_done()
                    self.counters["dropped"] += 1

    def _publish_loop(self) -> None:
        next_summary = time.monotonic() + self.summary_every
        while not self.closing.is_set():
            if time.monotonic() >= next_summary:
                self._put("summary", self.summary())
                next_summary = time.monotonic() + self.summary_every
            if not self.connected.wait(timeout=0.2):
                continue
            try:
                topic, payload, retain = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            body = payload if isinstance(payload, str) else json.dumps(payload)
            info = self.client.publish(topic, body, qos=QOS, retain=retain)
            # NO_CONN: the broker went away just now; paho keeps a QoS 1 message and sends it on reconnect.
            self.counters["published" if info.rc in self.kept_codes else "dropped"] += 1
            self.queue.task_done()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:  # e.g. a wrong password: paho keeps retrying, the log says it once
            if not self.said_unreachable:
                self._say(f"the broker refused the connection ({reason_code}); retrying, the run goes on")
                self.said_unreachable = True
            return
        self.counters["connects"] += 1
        if self.said_unreachable or self.counters["connects"] > 1:
            self._say(f"connected to {self.url.host}:{self.url.port}")
        self.said_unreachable = False
        client.publish(self.topics["available"], "online", qos=QOS, retain=True)
        if self.ha_prefix:
            topics = self.topics
            configs = discovery(self.ha_prefix, self.device, topics["state"], topics["available"])
            for topic, config in configs.items():
                client.publish(topic, json.dumps(config), qos=QOS, retain=True)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and not self.closing.is_set():
            self._say(f"lost the broker ({reason_code}); reconnecting, the run goes on")

    def _on_connect_fail(self, client, userdata) -> None:
        if not self.said_unreachable:
            self._say(f"{self.url.host}:{self.url.port} is not reachable; the run goes on and connects when it can")
            self.said_unreachable = True

    @staticmethod
    def _say(message: str) -> None:
        print(f"edge: mqtt: {message}", file=sys.stderr, flush=True)

"""`--mqtt mqtt://[USER@]HOST[:PORT][/PREFIX]`: faces, events, snapshots and summaries to an MQTT broker.

Topics (PREFIX defaults to fer-edge, DEVICE to the host name):
  PREFIX/DEVICE/available  online / offline, retained; offline is also the last will (a crash or power cut)
  PREFIX/DEVICE/state      retained: the faces now (label, confidence, box) and the dominant emotion
  PREFIX/DEVICE/events     a face appeared, changed label or left (edge/outputs/events.py): changes, not frames
  PREFIX/DEVICE/snapshot   retained: a JPEG of the face of the latest appeared/changed event (outputs/snapshots.py),
                           unless --mqtt-no-snapshots (then no picture goes to the broker, and the picture an
                           earlier run left retained there is withdrawn on connect; --privacy withdraws it too)
  PREFIX/DEVICE/summary    the run summary every --mqtt-summary-every seconds
  PREFIX/DEVICE/mood       retained: the room's mood (edge/outputs/mood.py) every --mood-every seconds, and at exit
and, with --ha-discovery, Home Assistant discovery configs so the device shows up with its sensors (the faces now,
the dominant emotion, and the room's mood: one share in % per emotion, the dominant mood, faces now, people) and
an image. On connect the publisher reads the configs retained for this device (by its identifier) and withdraws
(an empty retained message) those this run does not offer: the image under --mqtt-no-snapshots, the mood sensors
of another model's labels.

The password comes from FER_EDGE_MQTT_PASSWORD (or the file FER_EDGE_MQTT_PASSWORD_FILE names) or
--mqtt-password-file (or the URL); it is never printed: every
message shows the URL as mqtt://USER:***@HOST:PORT/PREFIX.

The frame loop never waits on the network: it puts messages in a bounded queue that a publisher thread empties
while the broker is reachable; paho's own network thread (loop_start) reconnects with backoff. A message counts
as published when the broker acknowledges it (QoS 1 PUBACK); one dropped (the queue full, larger than the
broker's maximum packet size, refused, or still unsent at exit) counts as dropped. MQTT 5, so the broker says
its maximum packet size and its reason for refusing us. paho-mqtt is an optional extra, imported only when
--mqtt is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from edge.common.errors import UserError
from edge.common.options import MQTT_TOPIC_MAX, MqttUrl, slug, version
from edge.common.secrets import from_environment, read_secret
from edge.outputs import mood
from edge.outputs.base import Result, Sink
from edge.outputs.events import FaceEvents, dominant
from edge.outputs.snapshots import encode, face_crop, snapshot_faces

QOS = 1
QUEUE_SIZE = 1000
SUMMARY_EVERY = 60.0  # seconds between summaries (--mqtt-summary-every)
SUMMARY_EVERY_RANGE = (1.0, 86400.0)  # seconds: from one a second to one a day
STATE_EVERY = 1.0  # seconds: the retained state follows moving boxes at most this often (changes go at once)
RECONNECT_DELAY = (1, 30)  # seconds: paho doubles the wait between attempts up to the maximum
STABLE_AFTER = 10.0  # seconds: a connection lost sooner than this makes the next wait longer (no flapping)
CONNACK_WAIT = 3.0  # seconds after the TCP connection for a broker's answer (CONNACK)
PASSWORD_ENV = "FER_EDGE_MQTT_PASSWORD"
TOPICS = ("available", "state", "events", "snapshot", "summary", "mood")
INSTALL_HINT = "pip install 'paho-mqtt>=2,<3' (or the fer-edge[mqtt] extra; edge/deploy/install-pi.sh --mqtt on a Pi)"


def default_device() -> str:
    """The host name, other characters than letters, digits, - and _ as _ (`pi.local`: `pi_local`)."""
    return slug(socket.gethostname()) or "fer-edge"


def password_for(url: MqttUrl, password_file: str | None, environ: os._Environ | dict[str, str]) -> MqttUrl:
    """The URL with its password from --mqtt-password-file, FER_EDGE_MQTT_PASSWORD or the file that
    FER_EDGE_MQTT_PASSWORD_FILE names (which keep it out of `ps`, the unit file and `podman inspect`), or the URL's
    own. One source only; a password needs a user."""
    password = url.password
    if password_file is not None:
        if password is not None:
            raise UserError(f"--mqtt-password-file {password_file}: the --mqtt URL already holds a password; give one")
        password = read_secret(password_file, f"--mqtt-password-file {password_file}")
    elif password is None:
        password = from_environment(PASSWORD_ENV, environ)
    if password is not None and url.user is None:
        raise UserError(f"--mqtt {url}: a password needs a user name (mqtt://USER@HOST)")
    return url.with_password(password)


def discovery(ha_prefix: str, device: str, topics: dict[str, str], labels: list[str]) -> dict[str, dict]:
    """Home Assistant MQTT discovery, all on one device: a "dominant emotion" sensor and a "faces" sensor (the
    faces now, from the state topic), the room's mood from the mood topic (a share in % per label, the dominant
    mood, faces now, people in the window), and the latest face's snapshot (an image entity)."""
    state_topic, available_topic = topics["state"], topics["available"]
    block = {"identifiers": [device_identifier(device)], "name": f"fer-edge {device}", "manufacturer": "fer-edge",
             "model": "facial expression recognition", "sw_version": version()}  # fmt: skip
    available = {"availability_topic": available_topic, "payload_available": "online",
                 "payload_not_available": "offline", "device": block}  # fmt: skip
    common = {"state_topic": state_topic, "json_attributes_topic": state_topic, **available}
    sensors = {
        "dominant_emotion": {"name": "Dominant emotion", "icon": "mdi:emoticon-outline",
                             "value_template": "{{ value_json.dominant }}"},
        "faces": {"name": "Faces", "icon": "mdi:face-recognition", "state_class": "measurement",
                  "value_template": "{{ value_json.faces | count }}"},
    }  # fmt: skip
    sensors = {key: {**sensor, **common} for key, sensor in sensors.items()}
    room = {"state_topic": topics["mood"], **available}
    for key, label in zip(mood_keys(labels), labels, strict=True):
        sensors[key] = {
            "name": f"Mood {label}", "icon": "mdi:emoticon-outline", "unit_of_measurement": "%",
            "state_class": "measurement", "value_template": f"{{{{ value_json.shares[{json.dumps(label)}] }}}}",
            **room}  # fmt: skip
    sensors["room_mood"] = {"name": "Room mood", "icon": "mdi:emoticon-outline",
                            "value_template": "{{ value_json.dominant }}", "json_attributes_topic": topics["mood"],
                            **room}  # fmt: skip
    sensors["faces_now"] = {"name": "Faces now", "icon": "mdi:account-multiple", "state_class": "measurement",
                            "value_template": "{{ value_json.faces_now }}", **room}  # fmt: skip
    sensors["people"] = {"name": "People seen", "icon": "mdi:account-group", "state_class": "measurement",
                         "value_template": "{{ value_json.people }}", **room}  # fmt: skip
    configs = {
        f"{ha_prefix}/sensor/{device}_{key}/config": {**sensor, "unique_id": f"fer_edge_{device}_{key}",
                                                      **entity_id("sensor", f"{device}_{key}")}
        for key, sensor in sensors.items()
    }  # fmt: skip
    if "snapshot" not in topics:  # --mqtt-no-snapshots: no picture goes to the broker, so no image entity
        return configs
    configs[f"{ha_prefix}/image/{device}_snapshot/config"] = {
        "name": "Latest face", "icon": "mdi:face-recognition", "image_topic": topics["snapshot"],
        "content_type": "image/jpeg", **available, "unique_id": f"fer_edge_{device}_snapshot",
        **entity_id("image", f"{device}_snapshot"),
    }  # fmt: skip
    return configs


def mood_keys(labels: list[str]) -> list[str]:
    """Each label's mood sensor key: `mood_` + its slug in lower case (`mood_happy`), or `mood_INDEX` (its place in
    the model's labels) where that slug is empty or shared (怒り and 幸せ both slug to nothing; Happy and happy to
    one), so no label's sensor silently replaces another's."""
    slugs = [slug(label).lower() for label in labels]
    return [f"mood_{name}" if name and slugs.count(name) == 1 else f"mood_{index}" for index, name in enumerate(slugs)]


def device_identifier(device: str) -> str:
    return f"fer_edge_{device}"


def entity_id(domain: str, name: str) -> dict[str, str]:
    """The entity id Home Assistant gives a discovered entity: `default_entity_id` (DOMAIN.NAME) since 2025.10,
    which replaces `object_id` (ignored from 2026.4); `object_id` stays for older Home Assistant."""
    return {"default_entity_id": f"{domain}.{name}", "object_id": name}


def packet_size(topic: str, body: bytes) -> int:
    """An upper bound on a QoS 1 PUBLISH packet's size in MQTT 5 (fixed header, topic, packet id, properties)."""
    remaining = 2 + len(topic.encode()) + 2 + 1 + len(body)
    return 1 + (1 if remaining < 128 else 2 if remaining < 16384 else 3 if remaining < 2097152 else 4) + remaining


class MqttPublisher(Sink):
    """The sink the run loop feeds; all network work runs on background threads."""

    name = "mqtt"

    def __init__(
        self,
        url: MqttUrl,
        device: str,
        summary_every: float = SUMMARY_EVERY,
        ha_prefix: str | None = None,
        labels: list[str] | None = None,
        mood_every: float = mood.EVERY,
        snapshots: bool = True,
        privacy: bool = False,
    ) -> None:
        try:
            from paho.mqtt.client import CallbackAPIVersion, Client, MQTTv5
            from paho.mqtt.enums import MQTTErrorCode
        except ImportError:
            raise UserError(f"--mqtt needs paho-mqtt, which is not installed: {INSTALL_HINT}") from None
        self.kept_codes = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
        self.url, self.device, self.summary_every, self.ha_prefix = url, slug(device), summary_every, ha_prefix
        self.labels, self.mood_every = list(labels or []), mood_every  # the model's labels: one mood sensor each
        if not self.device:
            raise UserError(f"--device-name {device[:80]!r}: needs letters or digits")
        base = f"{url.prefix}/{self.device}"
        self.topics = {k: f"{base}/{k}" for k in TOPICS if snapshots or k != "snapshot"}
        # An earlier run's retained face must not outlive a run that sends none or only covered ones (on connect).
        self.withdraw_snapshot = f"{base}/snapshot" if not snapshots or privacy else None
        self.pictures = snapshots
        self.configs = configs = discovery(ha_prefix, self.device, self.topics, self.labels) if ha_prefix else {}
        longest = max([*self.topics.values(), *configs], key=len)
        if len(longest.encode()) > MQTT_TOPIC_MAX:
            raise UserError(
                f"--mqtt prefix, --device-name and --ha-discovery make a topic of {len(longest.encode())} bytes;"
                f" MQTT allows {MQTT_TOPIC_MAX}"
            )
        self.queue: queue.Queue[tuple[str, dict | str | np.ndarray, bool]] = queue.Queue(maxsize=QUEUE_SIZE)
        self.connected = threading.Event()
        self.outcome = threading.Event()  # the first attempt ended one way or another (connected, refused, failed)
        self.closing = threading.Event()
        self.connected_at_close: bool | None = None  # the end-of-run summary, taken after close(), reports this
        self.counters = {"published": 0, "dropped": 0, "too_large": 0, "connects": 0}
        self.lock = threading.Lock()  # guards the three below between the publisher and paho's thread (never held
        self.inflight: set[int] = set()  # message ids sent, not yet acknowledged    while calling into paho)
        self.acked: dict[int, bool] = {}  # acknowledgements (True: accepted) that came before publish() returned
        self.uncounted: set[int] = set()  # the connection's own messages (online, discovery, offline)
        self.events = FaceEvents()
        self.last_state: tuple | None = None
        self.last_state_time = 0.0
        self.summary: Callable[[], dict] = dict
        self.said: set[str] = set()  # the problems already told once
        self.problem: str | None = None  # why the broker never accepted us (exit 2 at the end), or None
        self.opened_at: float | None = None  # when the TCP connection of the current attempt opened
        self.connected_at = 0.0
        self.flaps = 0  # connections in a row that were lost within STABLE_AFTER
        self.max_packet: int | None = None  # the broker's maximum packet size, from its CONNACK
        # A broker that does not say its limit (mosquitto's message_size_limit) hangs up on a message over it, and
        # paho would re-send it after each reconnect: the limit is learnt from the hang-ups instead (_learn_limit).
        self.learnt_max: int | None = None
        self.suspect: tuple[str, int] | None = None  # the topic and size the last hang-up is blamed on
        self.sizes: dict[int, int] = {}  # message id -> packet size, for the messages in flight
        self.largest_accepted = 0  # the largest packet the broker acknowledged
        self.client = Client(CallbackAPIVersion.VERSION2, client_id=f"fer-edge-{self.device}", protocol=MQTTv5)
        if url.user is not None:
            self.client.username_pw_set(url.user, url.password)
        self.client.will_set(self.topics["available"], "offline", qos=QOS, retain=True)
        self.client.reconnect_delay_set(*RECONNECT_DELAY)
        self.client.max_queued_messages_set(QUEUE_SIZE)
        self.client.on_connect, self.client.on_disconnect = self._on_connect, self._on_disconnect
        self.client.on_connect_fail, self.client.on_socket_open = self._on_connect_fail, self._on_socket_open
        self.client.on_publish, self.client.on_message = self._on_publish, self._on_retained
        self.publisher = threading.Thread(target=self._publish_loop, daemon=True)

    # The run loop's side.

    def start(self, summary: Callable[[], dict]) -> None:
        self.summary = summary
        try:
            self.client.connect_async(self.url.host, self.url.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise UserError(f"--mqtt {self.url}: {exc}") from None
        self.client.loop_start()
        self.publisher.start()

    def frame(self, result: Result) -> None:
        faces, record = result.faces, result.record
        events = self.events.update(faces, record["time"])
        for event in events:
            self._put("events", {**event, "source": record["source"], "frame": record["frame"]})
        chosen = snapshot_faces(events, faces)[-1:] if "snapshot" in self.topics else []
        for _, face in chosen:  # the newest face only: the topic keeps one image
            self._put("snapshot", face_crop(result.frame.image, face.box), retain=True)  # encoded off the loop
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
        connected = self.connected.is_set() if self.connected_at_close is None else self.connected_at_close
        return {"broker": str(self.url), "connected": connected, **self.counters}

    def close(self) -> None:
        """Send what is queued (a few seconds at most), then say offline and disconnect cleanly. Whatever was not
        acknowledged by then counts as dropped."""
        if self.publisher.ident is None:  # never started (the run failed before it began)
            return
        if not self.counters["connects"]:  # a short run: hear how the first attempt ends
            deadline = time.monotonic() + CONNACK_WAIT
            while not self.connected.is_set() and (self.opened_at is not None or not self.outcome.is_set()):
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            self._check_answer(final=True)
        summary = self.summary()
        self._put_mood(summary)  # the mood as the run ended, retained for the next reader
        self._put("summary", summary)
        deadline = time.monotonic() + 5
        while self.connected.is_set() and (self.queue.unfinished_tasks or self.inflight):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        self.closing.set()
        self.publisher.join(timeout=2)
        if self.connected.is_set():
            info = self.client.publish(self.topics["available"], "offline", qos=QOS, retain=True)
            with self.lock:
                self.uncounted.add(info.mid)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self.connected_at_close = self.connected.is_set()  # not the clean disconnect's False that follows
        self.client.disconnect()
        self.client.loop_stop()
        with self.lock:
            left = self.queue.qsize() + len(self.inflight)
            self.inflight.clear()
            self.acked.clear()
        self.counters["dropped"] += left  # still queued or never acknowledged: not delivered
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()
                self.queue.task_done()
        if not self.counters["connects"] and self.problem:  # the run went on, but nothing reached a broker
            self.error = self.problem

    # Background threads.

    def _put(self, topic: str, payload: dict | str | np.ndarray, retain: bool = False) -> None:
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

    def _put_mood(self, summary: dict) -> None:
        if "mood" in summary:  # a run summary has it; an embedding's own summary may not
            self._put("mood", summary["mood"], retain=True)

    def _publish_loop(self) -> None:
        next_summary = time.monotonic() + self.summary_every
        next_mood = time.monotonic() + self.mood_every
        while not self.closing.is_set():
            if time.monotonic() >= next_summary:
                self._put("summary", self.summary())
                next_summary = time.monotonic() + self.summary_every
            if time.monotonic() >= next_mood:  # at most one a --mood-every: a sensor, not a stream
                self._put_mood(self.summary())
                next_mood = time.monotonic() + self.mood_every
            self._check_answer()
            if not self.connected.wait(timeout=0.2):
                continue
            try:
                topic, payload, retain = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._send(topic, payload, retain)
            finally:
                self.queue.task_done()

    def _send(self, topic: str, payload: dict | str | np.ndarray, retain: bool) -> None:
        if isinstance(payload, np.ndarray):
            body = encode(payload)
        else:
            body = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        if self._too_large(topic, body):
            self.counters["dropped"] += 1
            return
        info = self.client.publish(topic, body, qos=QOS, retain=retain)
        size = packet_size(topic, body)
        with self.lock:
            # NO_CONN: the broker went away just now; paho keeps a QoS 1 message and sends it on reconnect.
            if info.rc not in self.kept_codes:
                self.counters["dropped"] += 1
            elif info.mid in self.acked:  # acknowledged before publish() returned
                accepted = self.acked.pop(info.mid)
                self.counters["published" if accepted else "dropped"] += 1
                if accepted:
                    self.largest_accepted = max(self.largest_accepted, size)
            else:
                self.inflight.add(info.mid)
                self.sizes[info.mid] = size

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self.lock:
            if mid in self.uncounted:
                self.uncounted.discard(mid)
            elif mid in self.inflight:
                self.inflight.discard(mid)
                size = self.sizes.pop(mid, 0)
                self.counters["dropped" if reason_code.is_failure else "published"] += 1  # e.g. not authorised
                if not reason_code.is_failure:
                    self.largest_accepted = max(self.largest_accepted, size)
            else:
                self.acked[mid] = not reason_code.is_failure

    def _on_socket_open(self, client, userdata, sock) -> None:
        self.opened_at = time.monotonic()

    def _check_answer(self, final: bool = False) -> None:
        """A TCP connection that brings no CONNACK: whatever is there is not an MQTT broker."""
        opened = self.opened_at
        waited = opened is not None and (final or time.monotonic() - opened >= CONNACK_WAIT)
        if waited and not self.connected.is_set():
            self._not_a_broker("it accepted the connection but never answered")

    def _not_a_broker(self, how: str) -> None:
        message = f"{self.url} is not answering as an MQTT broker ({how})"
        if not self.counters["connects"]:
            self.problem = message
        self._say_once("not a broker", f"{message}; the run goes on and connects when it can")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.opened_at = None
        self.outcome.set()
        if reason_code.is_failure:  # e.g. a wrong password: paho keeps retrying, the log says it once
            reason = str(reason_code).lower()
            if not self.counters["connects"]:
                self.problem = f"the broker at {self.url} refused the connection: {reason}"
            self._say_once(f"refused {reason}", f"the broker at {self.url} refused the connection: {reason};"
                           " retrying, the run goes on")  # fmt: skip
            return
        self.max_packet = getattr(properties, "MaximumPacketSize", None)
        self.counters["connects"] += 1
        self.connected_at = time.monotonic()
        if self.said or self.counters["connects"] > 1:
            self._say(f"connected to {self.url}")
        self.said.clear()
        self._publish_now(self.topics["available"], "online")
        if self.withdraw_snapshot and self.counters["connects"] == 1:  # later, the retained one is this run's own
            self.client.subscribe(self.withdraw_snapshot, qos=QOS)  # what is retained there: _on_retained
        if self.ha_prefix:
            for topic, config in self.configs.items():
                self._publish_now(topic, json.dumps(config))
            self.client.subscribe(f"{self.ha_prefix}/+/+/config", qos=QOS)  # the retained configs: _on_retained
        self.connected.set()

    def _on_retained(self, client, userdata, message) -> None:
        """A message retained on the broker, as the subscriptions above replay it: an earlier run's snapshot (when
        this run sends none, or only covered ones), or a discovery config of this device (by its identifier) that
        this run does not offer (an earlier run's image entity, another model's mood sensors), is withdrawn."""
        if not message.retain or not message.payload or message.topic in self.configs:
            return
        if message.topic == self.withdraw_snapshot:
            self._publish_now(message.topic, "")
            return
        try:
            identifiers = json.loads(message.payload)["device"]["identifiers"]
        except (ValueError, KeyError, TypeError):
            return  # another program's config
        if identifiers == [device_identifier(self.device)]:
            self._publish_now(message.topic, "")

    def _too_large(self, topic: str, body: bytes) -> bool:
        """Whether the broker would hang up on this message (over its maximum packet size): then it is counted and
        said once, and not sent; the run goes on."""
        size = packet_size(topic, body)
        named = ((self.max_packet, "the broker's maximum packet size"),
                 (self.learnt_max, "the size limit learnt from the broker's hang-ups"))  # fmt: skip
        limits = [(limit, what) for limit, what in named if limit is not None]
        if not limits or size <= min(limits)[0]:
            return False
        self.counters["too_large"] += 1
        limit, what = min(limits)
        self._say_once(f"too large {topic}", f"a {size}-byte message on {topic} is over {what} ({limit} bytes);"
                       " not sent, the run goes on")  # fmt: skip
        return True

    def _learn_limit(self) -> bool:
        """After the broker hung up: whether it hung up on a message too large for it, which is then dropped, with
        every other waiting message as large, and its size learnt as the limit. The suspect is the largest message
        still unacknowledged, when larger than any the broker accepted; it is convicted when the broker hangs up
        again while a message of that topic and size is still waiting (paho re-sent it, or the connection published
        its discovery config again; one hang-up suffices once a limit is known), so a network blip costs no
        message."""
        with self.client._out_message_mutex:  # paho's unacknowledged messages, re-sent after a reconnect
            waiting = [(packet_size(m.topic, m.payload), m.topic) for m in self.client._out_messages.values()]
        size, topic = max(waiting, default=(0, ""))
        if not topic or size <= self.largest_accepted:
            self.suspect = None
            return False
        if self.learnt_max is None and (topic, size) != self.suspect:
            self.suspect = (topic, size)  # once: perhaps a blip; paho re-sends it on reconnect
            return False
        with self.client._out_message_mutex:
            convicted = [mid for mid, m in self.client._out_messages.items() if packet_size(m.topic, m.payload) >= size]
            for mid in convicted:
                self.client._out_messages.pop(mid, None)  # never re-sent: each would be hung up on again
        with self.lock:
            for mid in convicted:
                if mid in self.inflight:
                    self.inflight.discard(mid)
                    self.counters["dropped"] += 1
                self.sizes.pop(mid, None)
        self.counters["too_large"] += len(convicted)
        self.learnt_max = min(size, self.learnt_max or size) - 1
        self.suspect = None
        self._say(f"the broker hung up on a {size}-byte message on {topic} (over its message size limit, such as"
                  f" Mosquitto's message_size_limit); not sent again, and messages over {self.learnt_max} bytes are"
                  " skipped; the run goes on")  # fmt: skip
        return True

    def _publish_now(self, topic: str, body: str) -> None:
        """The connection's own retained messages (online, discovery, withdrawals), sent from paho's thread, not
        counted."""
        if self._too_large(topic, body.encode()):
            return
        info = self.client.publish(topic, body, qos=QOS, retain=True)
        with self.lock:
            self.uncounted.add(info.mid)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if self.opened_at is not None:  # hung up before any CONNACK
            self.opened_at = None
            self._not_a_broker("it closed the connection without a CONNACK")
        self.outcome.set()
        if was and not self.closing.is_set():
            learnt = self._learn_limit()
            if not learnt:
                self._say(f"lost the broker ({reason_code}); reconnecting, the run goes on")
            quick = time.monotonic() - self.connected_at < STABLE_AFTER  # flapping: wait longer each time
            low, high = RECONNECT_DELAY
            self.flaps = self.flaps + 1 if quick and not learnt else 0  # a limit learnt: the cause is gone
            self.client.reconnect_delay_set(min(low * 2**self.flaps, high), high)

    def _on_connect_fail(self, client, userdata) -> None:
        self.outcome.set()
        self._say_once("unreachable", f"{self.url} is not reachable; the run goes on and connects when it can")

    def _say_once(self, key: str, message: str) -> None:
        if key not in self.said:
            self.said.add(key)
            self._say(message)

    @staticmethod
    def _say(message: str) -> None:
        print(f"edge: mqtt: {message}", file=sys.stderr, flush=True)

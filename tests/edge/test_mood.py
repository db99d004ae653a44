"""The room's mood (edge/outputs/mood.py): shares of face-seconds per emotion, people and the dominant mood over a
sliding window, and how /metrics and Home Assistant discovery carry it."""

from __future__ import annotations

import pytest

from edge.frames import Face
from edge.outputs import metrics
from edge.outputs.mood import MAX_STEP, SLICES, RoomMood
from edge.outputs.mqtt import discovery

LABELS = ["Angry", "Happy", "Sad", "Neutral"]


def face(track: int, label: str) -> Face:
    return Face((10, 10, 50, 50), label, 0.8, {label: 0.8}, track, True)


def test_shares_are_face_seconds_per_label_in_percent() -> None:
    mood = RoomMood(LABELS, window=60)
    mood.add(0.0, [face(1, "Happy")])
    for t in (1.0, 2.0, 3.0):  # three seconds of one happy and one sad face
        mood.add(t, [face(1, "Happy"), face(2, "Sad")])
    mood.add(4.0, [face(1, "Happy")])  # one more happy second
    now = mood.snapshot()
    assert now["shares"] == {"Angry": 0.0, "Happy": 57.1, "Sad": 42.9, "Neutral": 0.0}  # 4 of 7 face-seconds
    assert now["dominant"] == "Happy" and now["people"] == 2 and now["faces_now"] == 1
    assert now["face_seconds"] == 7.0 and now["window_s"] == 60


def test_the_window_slides_and_forgets_people_who_left() -> None:
    mood = RoomMood(LABELS, window=10)
    for t in range(6):
        mood.add(float(t), [face(1, "Sad")])
    for t in range(6, 30):
        mood.add(float(t), [face(2, "Happy")] if t < 25 else [])
    now = mood.snapshot()
    assert now["shares"]["Sad"] == 0.0 and now["shares"]["Happy"] == 100.0  # the sad face left 24 s ago
    assert now["people"] == 1 and now["faces_now"] == 0 and now["dominant"] == "Happy"
    for t in range(30, 45):
        mood.add(float(t), [])
    assert mood.snapshot() == {"window_s": 10, "dominant": "none", "shares": dict.fromkeys(LABELS, 0.0),
                               "people": 0, "faces_now": 0, "face_seconds": 0.0}  # fmt: skip


def test_a_stalled_camera_counts_a_short_step_not_the_gap() -> None:
    mood = RoomMood(LABELS, window=3600)
    mood.add(0.0, [face(1, "Angry")])
    mood.add(1.0, [face(1, "Angry")])
    mood.add(1000.0, [face(1, "Happy")])  # the camera was gone for 999 s
    assert mood.snapshot()["shares"] == {"Angry": 50.0, "Happy": 50.0, "Sad": 0.0, "Neutral": 0.0}
    assert MAX_STEP == 1.0


def test_a_label_outside_the_list_still_counts() -> None:
    mood = RoomMood(["Happy"], window=60)
    mood.add(0.0, [])
    mood.add(0.5, [face(3, "Contempt")])
    assert mood.snapshot()["shares"] == {"Happy": 0.0, "Contempt": 100.0}


def test_metrics_carry_the_mood_as_gauges() -> None:
    parser = pytest.importorskip("prometheus_client.parser", reason="prometheus-client not installed (the dev extra)")
    mood = RoomMood(LABELS, window=60)
    for t in range(4):
        mood.add(float(t), [face(1, "Happy"), face(2, "Happy" if t < 3 else "Sad")])
    text = metrics.render({"mood": mood.snapshot()}, LABELS)
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    shares = {s.labels["label"]: s.value for s in families["fer_edge_mood_share_ratio"].samples}
    assert families["fer_edge_mood_share_ratio"].type == "gauge" and shares == {
        "Angry": 0.0, "Happy": pytest.approx(5 / 6, abs=1e-3), "Sad": pytest.approx(1 / 6, abs=1e-3), "Neutral": 0.0}
    dominant = {s.labels["label"]: s.value for s in families["fer_edge_mood_dominant"].samples}
    assert dominant == {"Angry": 0, "Happy": 1, "Sad": 0, "Neutral": 0}
    assert families["fer_edge_mood_faces"].samples[0].value == 2
    assert families["fer_edge_mood_people"].samples[0].value == 2
    assert "fer_edge_mood" not in metrics.render({}, LABELS)  # a summary without a mood (an embedding's) has none


def test_discovery_has_a_sensor_per_emotion_share_the_dominant_mood_faces_now_and_people() -> None:
    topics = {key: f"fer-edge/pi/{key}" for key in ("state", "available", "snapshot", "mood")}
    configs = discovery("homeassistant", "pi", topics, ["Happy", "Not sure"])
    room = {t.split("/")[2]: c for t, c in configs.items() if c.get("state_topic") == "fer-edge/pi/mood"}
    assert sorted(room) == ["pi_faces_now", "pi_mood_happy", "pi_mood_not_sure", "pi_people", "pi_room_mood"]
    assert room["pi_mood_not_sure"]["value_template"] == '{{ value_json.shares["Not sure"] }}'
    assert room["pi_mood_happy"]["unit_of_measurement"] == "%" and room["pi_mood_happy"]["name"] == "Mood Happy"
    assert room["pi_room_mood"]["value_template"] == "{{ value_json.dominant }}"
    assert all(c["availability_topic"] == "fer-edge/pi/available" for c in room.values())


@pytest.mark.parametrize(
    "labels",
    [
        ["怒り", "嫌悪", "恐れ", "幸せ", "悲しみ", "驚き", "中立"],
        ["Angry", "angry", "Happy", "happy", "Sad", "Fear", "Neutral"],
    ],
)
def test_every_label_keeps_its_own_mood_sensor(labels: list[str]) -> None:
    """E18 (hostile run 2026-12-07): labels whose slugs are empty (Japanese) or differ only in case shared one sensor
    key, so Home Assistant got 1 or 5 mood sensors for 7 labels; a label with a slug of its own keeps its key."""
    topics = {key: f"fer-edge/pi/{key}" for key in ("state", "available", "snapshot", "mood")}
    configs = discovery("homeassistant", "pi", topics, labels)
    moods = {c["name"]: c["unique_id"] for c in configs.values() if c["name"].startswith("Mood ")}
    assert sorted(moods) == sorted(f"Mood {label}" for label in labels) and len(set(moods.values())) == len(labels)
    if "Sad" in labels:
        assert moods["Mood Sad"] == "fer_edge_pi_mood_sad" and moods["Mood angry"] == "fer_edge_pi_mood_1"


def test_a_days_window_holds_no_more_than_its_slices() -> None:
    """30 frames a second for a day must not keep 2.6 million frames on a Pi: the window is kept in slices."""
    mood = RoomMood(LABELS, window=86400)
    for t in range(0, 3 * 86400, 60):  # a frame a minute for three days stands for any frame rate
        mood.add(float(t), [face(t // 86400, "Happy")])
    assert len(mood.slices) <= SLICES
    now = mood.snapshot()
    assert now["people"] == 1 and now["shares"]["Happy"] == 100.0  # the first two days' tracks have left

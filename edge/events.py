"""Turn per-frame faces into the few things worth telling another system: a face appeared, its label changed,
it left. A subscriber (MQTT, Home Assistant) then hears about changes, not 30 messages a second.

Faces are followed by their track id (edge/tracking.py keeps it across frames by box overlap).
"""

from __future__ import annotations

from edge.pipeline import Face


def event(kind: str, face: Face, time: float, previous: str | None = None) -> dict:
    out = {"event": kind, "track": face.track, "label": face.label, "confidence": round(face.confidence, 4),
           "time": round(time, 4)}  # fmt: skip
    if previous is not None:
        out["previous"] = previous
    return out


class FaceEvents:
    """Remembers each present face's last reported label; `update` returns the events one frame caused."""

    def __init__(self) -> None:
        self.present: dict[int, Face] = {}

    def update(self, faces: list[Face], time: float) -> list[dict]:
        events = []
        now = {face.track: face for face in faces}
        for track, face in self.present.items():
            if track not in now:
                events.append(event("left", face, time))
        for track, face in now.items():
            before = self.present.get(track)
            if before is None:
                events.append(event("appeared", face, time))
            elif before.label != face.label:
                events.append(event("changed", face, time, previous=before.label))
        self.present = now
        return events


def dominant(faces: list[Face]) -> str:
    """The emotion with the most probability over all faces now ("none" without a face): one word for a sensor."""
    if not faces:
        return "none"
    totals: dict[str, float] = {}
    for face in faces:
        for label, p in face.probabilities.items():
            totals[label] = totals.get(label, 0.0) + p
    return max(totals, key=totals.__getitem__)

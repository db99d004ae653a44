"""Turn per-frame faces into the few things worth telling another system: a face appeared, its label changed,
it left. A subscriber (MQTT, Home Assistant) then hears about changes, not 30 messages a second.

Faces are followed by their track id (edge/tracking.py keeps it across frames by box overlap).
"""

from __future__ import annotations

from edge.frames import Face


def event(kind: str, face: Face, time: float, previous: str | None = None, label: str | None = None) -> dict:
    out = {"event": kind, "track": face.track, "label": label or face.label,
           "confidence": round(face.confidence, 4), "time": round(time, 4)}  # fmt: skip
    if previous is not None:
        out["previous"] = previous
    return out


class FaceEvents:
    """Remembers each present face's reported label; `update` returns the events one frame caused.

    A new label is reported once it has held for `hold` frames in a row, so a label that flickers for a
    frame (a blink, motion blur) does not become two messages."""

    def __init__(self, hold: int = 3) -> None:
        self.hold = hold
        self.present: dict[int, Face] = {}  # track -> the face as last seen
        self.reported: dict[int, str] = {}  # track -> the label subscribers were told
        self.streak: dict[int, int] = {}  # track -> frames in a row with a label other than the reported one

    def update(self, faces: list[Face], time: float) -> list[dict]:
        events = []
        now = {face.track: face for face in faces}
        for track, face in self.present.items():
            if track not in now:
                events.append(event("left", face, time, label=self.reported.pop(track)))
                del self.streak[track]
        for track, face in now.items():
            reported = self.reported.get(track)  # holds exactly the tracks present on the last frame
            if reported is None:
                events.append(event("appeared", face, time))
                self.reported[track], self.streak[track] = face.label, 0
            elif face.label == reported:
                self.streak[track] = 0
            else:
                same = self.present[track].label == face.label
                self.streak[track] = self.streak[track] + 1 if same else 1
                if self.streak[track] >= self.hold:
                    events.append(event("changed", face, time, previous=reported))
                    self.reported[track], self.streak[track] = face.label, 0
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

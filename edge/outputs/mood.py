"""The room's mood: one set of numbers for a room over a sliding window, not one message per face.

Over the last `window` seconds of frames: the share of face-seconds per emotion (each face counts the time
from the previous frame toward its label), the people seen (distinct tracks), the dominant mood, and the faces
on the latest frame. Pure arithmetic, no I/O: the run summary carries `snapshot()` (so /api/summary, /metrics and
the web page show it) and MQTT sends it as Home Assistant sensors. No picture goes into it.
"""

from __future__ import annotations

import threading
from collections import Counter, deque

from edge.frames import Face

WINDOW = 60.0  # seconds of frames the mood is taken over (--mood-window)
WINDOW_RANGE = (1.0, 86400.0)  # --mood-window: from a second to a day
EVERY = 10.0  # seconds between MQTT mood updates, at most one per (--mood-every)
EVERY_RANGE = (1.0, 3600.0)  # --mood-every: from a second to an hour
MAX_STEP = 1.0  # seconds: a longer gap between frames (a stalled camera) counts as this much, not as hours
NONE = "none"  # the dominant mood when no face was seen in the window


class RoomMood:
    """Face-seconds per label, and tracks, over a sliding window of frame times. Thread-safe: frames come from the
    run loop, snapshots are taken by servers' threads."""

    def __init__(self, labels: list[str], window: float = WINDOW) -> None:
        self.labels, self.window = list(labels), window
        self.lock = threading.Lock()
        self.frames: deque[tuple[float, float, Counter[str], tuple[int, ...]]] = deque()  # time, step, labels, tracks
        self.seconds: Counter[str] = Counter()  # face-seconds per label inside the window
        self.tracks: Counter[int] = Counter()  # frames per track inside the window
        self.last: float | None = None
        self.faces_now = 0

    def add(self, time: float, faces: list[Face]) -> None:
        """One frame at `time` (seconds, the source's clock) with its faces."""
        step = 0.0 if self.last is None else min(max(time - self.last, 0.0), MAX_STEP)
        labels = Counter(face.label for face in faces)
        tracks = tuple(face.track for face in faces)
        with self.lock:
            self.last, self.faces_now = time, len(faces)
            self.frames.append((time, step, labels, tracks))
            for label, n in labels.items():
                self.seconds[label] += n * step
            self.tracks.update(tracks)
            while self.frames and self.frames[0][0] < time - self.window:
                _, old_step, old_labels, old_tracks = self.frames.popleft()
                for label, n in old_labels.items():
                    self.seconds[label] -= n * old_step
                self.tracks.subtract(old_tracks)
            self.seconds, self.tracks = +self.seconds, +self.tracks  # drops what left the window, and float dust

    def snapshot(self) -> dict:
        """The mood now: `shares` in percent per label (every label of the model, in its order), `dominant`,
        `people` (tracks seen in the window), `faces_now`, `face_seconds` and `window_s`."""
        with self.lock:
            seconds = {label: max(self.seconds.get(label, 0.0), 0.0) for label in self.labels}
            seconds.update({k: max(v, 0.0) for k, v in self.seconds.items() if k not in seconds})
            people, faces_now = len(self.tracks), self.faces_now
        total = sum(seconds.values())
        shares = {label: round(100 * s / total, 1) if total > 1e-9 else 0.0 for label, s in seconds.items()}
        dominant = max(seconds, key=seconds.__getitem__) if total > 1e-9 else NONE
        return {"window_s": self.window, "dominant": dominant, "shares": shares, "people": people,
                "faces_now": faces_now, "face_seconds": round(total, 2)}  # fmt: skip

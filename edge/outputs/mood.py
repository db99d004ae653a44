"""The room's mood: one set of numbers for a room over a sliding window, not one message per face.

Over the last `window` seconds of frames (to within 1/SLICES of it): the share of face-seconds per emotion (each
face counts the time from the previous frame toward its label), the people seen (distinct tracks), the dominant
mood, and the faces on the latest frame. Pure arithmetic, no I/O: the run summary carries `snapshot()` (so
/api/summary, /metrics and the web page show it) and MQTT sends it as Home Assistant sensors. No picture goes
into it.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque

from edge.frames import Face

WINDOW = 60.0  # seconds of frames the mood is taken over (--mood-window)
WINDOW_RANGE = (1.0, 86400.0)  # --mood-window: from a second to a day
EVERY = 10.0  # seconds between MQTT mood updates, at most one per (--mood-every)
EVERY_RANGE = (1.0, 3600.0)  # --mood-every: from a second to an hour
MAX_STEP = 1.0  # seconds: a longer gap between frames (a stalled camera) counts as this much, not as hours
NONE = "none"  # the dominant mood when no face was seen in the window
SLICES = 120  # the window is kept as this many slices: it slides by 1/120 of itself, and memory stays small


class RoomMood:
    """Face-seconds per label, and tracks, over a sliding window of frame times, kept as SLICES slices of the window
    (so a day's window holds no more frames than a minute's, and it slides a slice at a time; each slice keeps the
    track ids it saw, so memory grows with the distinct faces in the window). Thread-safe: frames come from the run
    loop, snapshots are taken by servers' threads."""

    def __init__(self, labels: list[str], window: float = WINDOW) -> None:
        self.labels, self.window = list(labels), window
        self.slice = window / SLICES
        self.lock = threading.Lock()
        self.slices: deque[tuple[int, Counter[str], Counter[int]]] = deque()  # number, seconds per label, tracks
        self.last: float | None = None
        self.faces_now = 0

    def add(self, time: float, faces: list[Face]) -> None:
        """One frame at `time` (seconds, the source's clock) with its faces."""
        step = 0.0 if self.last is None else min(max(time - self.last, 0.0), MAX_STEP)
        number = math.floor(time / self.slice)
        with self.lock:
            self.last, self.faces_now = time, len(faces)
            if not self.slices or self.slices[-1][0] != number:
                self.slices.append((number, Counter(), Counter()))
            _, seconds, tracks = self.slices[-1]
            for face in faces:
                seconds[face.label] += step
                tracks[face.track] += 1
            while self.slices[0][0] <= number - SLICES:
                self.slices.popleft()

    def snapshot(self) -> dict:
        """The mood now: `shares` in percent per label (every label of the model, in its order), `dominant`,
        `people` (tracks seen in the window), `faces_now`, `face_seconds` and `window_s`."""
        seconds: Counter[str] = Counter(dict.fromkeys(self.labels, 0.0))
        tracks: set[int] = set()
        with self.lock:
            for _, part, seen in self.slices:
                seconds.update(part)
                tracks.update(seen)
            faces_now = self.faces_now
        total = sum(seconds.values())
        shares = {label: round(100 * s / total, 1) if total > 0 else 0.0 for label, s in seconds.items()}
        dominant = max(seconds, key=seconds.__getitem__) if total > 0 else NONE
        return {"window_s": self.window, "dominant": dominant, "shares": shares, "people": len(tracks),
                "faces_now": faces_now, "face_seconds": round(total, 2)}  # fmt: skip

"""What every output of a run is (`Sink`), and the processed frame it is handed (`Result`).

The run loop opens its sinks, hands each one every frame, asks each whether the run should stop, and closes
them all whatever ends the run. A sink's own reasons to end it (the window's q, a closed pipe) live with it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import cv2
import numpy as np

from edge.frames import Face, Frame, frame_record

BOX_COLOUR = (60, 200, 60)


def annotate(image: np.ndarray, faces: list[Face], fps: float | None = None) -> np.ndarray:
    """A copy of the frame with a box, label and confidence per face, and the FPS in the corner."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOUR, 2)
        text = f"{face.label} {face.confidence:.0%}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
        top = max(th + 6, y)
        cv2.rectangle(out, (x, top - th - 6), (x + tw + 6, top), BOX_COLOUR, -1)
        cv2.putText(out, text, (x + 3, top - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(out, f"{fps:.1f} FPS", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return out


class Result:
    """One processed frame as the sinks see it. Its JSON record and its annotated image are made once, when a
    sink first asks for them: a run with only a terminal builds neither."""

    def __init__(self, frame: Frame, faces: list[Face], fps: Callable[[], float]) -> None:
        self.frame, self.faces, self._fps = frame, faces, fps

    @cached_property
    def record(self) -> dict:
        return frame_record(self.frame, self.faces)

    @cached_property
    def annotated(self) -> np.ndarray:
        return annotate(self.frame.image, self.faces, self._fps())


class Sink:
    """One output of a run. `frame` runs on the frame loop and must return at once: a sink with slow work
    (encoding, network) does it on its own threads. A sink with a `name` reports `stats()` in the run summary's
    `outputs` under that name."""

    name = ""
    pictures = False  # True: this output sends or writes the frame's pixels, so --privacy covers and checks them
    # Set when this output failed (a full disk, a broker that never accepted us), at the latest by close(): the run
    # finishes the other outputs and the summary, then says it in one line and exits 2.
    error: str | None = None

    def start(self, summary: Callable[[], dict]) -> None:
        """The run begins; `summary()` returns the run summary so far, from any thread."""

    def frame(self, result: Result) -> None:
        """One processed frame."""

    def stop_reason(self) -> str | None:
        """Why the run should end after this frame (the summary's `stopped`), or None to go on."""
        return None

    def stats(self) -> dict:
        """What this sink adds to the run summary (clients served, messages dropped...)."""
        return {}

    def close(self) -> None:
        """The run ended, or failed before it began: finish writing or sending, release files, sockets, threads."""

"""`--privacy blur|box|off`: every face covered on the frame before any output sees it.

The run loop covers each frame once, between the pipeline and the sinks (edge/run.py), so the web view's video
and snapshot, MQTT's snapshot, `--snapshots`, `--save` and the window all get the covered frame, and none of them
can forget to: a frame reaches no sink before its faces are covered. The faces' labels, probabilities and boxes
(JSONL, events, metrics) are untouched.

What is covered: each face's box (the detector's, or the tracker's between detections) grown by MARGIN about its
centre, to take in hair, ears and the box's lag behind a moving head; and, for HOLD_SECONDS, the last box of a
face that was there and is not any more, so a face the detector misses for a frame does not flash through.
`blur` keeps only a BLUR_CELLS x BLUR_CELLS grid of the region's average colours, smoothly interpolated: no
feature survives it (YuNet finds no face in it, tests/edge/test_privacy.py); `box` paints the region solid.
A face the detector has never found is not covered: covering can only be as good as detection.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edge.frames import Face, Frame
from edge.outputs.snapshots import crop_box

MODES = ("off", "blur", "box")  # --privacy; "off" sends frames as they are
DEFAULT_MODE = "off"
ENVIRONMENT = "FER_EDGE_PRIVACY"  # the mode when --privacy is not given (the Pi service's env file sets blur)
MARGIN = 0.5  # the box grows by 50% (25% each side): wider than a snapshot's crop, so a snapshot is all covered
HOLD_SECONDS = 1.0  # a face that vanished stays covered at its last box this long (a missed detection, a blink)
BLUR_CELLS = 4  # the covered region keeps this many average colours across and down (8 still lets YuNet find one)
BOX_GREY = 48  # --privacy box: the level of every channel in the painted region


def privacy_mode(text: str, option: str = "--privacy") -> str:
    """A mode name from the command line or the environment, or ValueError with the one line that says why."""
    if text not in MODES:
        raise ValueError(f"{option} {text!r}: not one of {', '.join(MODES)}")
    return text


def cover_region(image: np.ndarray, region: tuple[int, int, int, int], mode: str) -> None:
    """Cover (x0, y0, x1, y1) of `image` in place: blurred beyond recognition, or painted solid."""
    x0, y0, x1, y1 = region
    if x1 <= x0 or y1 <= y0:
        return
    part = image[y0:y1, x0:x1]
    if mode == "box":
        part[...] = BOX_GREY
        return
    cells = cv2.resize(part, (min(BLUR_CELLS, x1 - x0), min(BLUR_CELLS, y1 - y0)), interpolation=cv2.INTER_AREA)
    part[...] = cv2.resize(cells, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR).reshape(part.shape)


class FaceCover:
    """Covers the faces of each frame, and the faces that just left, on a copy of the frame."""

    def __init__(self, mode: str = DEFAULT_MODE, hold: float = HOLD_SECONDS) -> None:
        self.mode, self.hold = privacy_mode(mode), hold
        self.recent: dict[int, tuple[tuple[int, int, int, int], float]] = {}  # track -> (last box, when seen)

    @property
    def on(self) -> bool:
        return self.mode != "off"

    def reset(self) -> None:
        """The next frame is unrelated to the last (another photo): nothing seen before is held on it."""
        self.recent.clear()

    def boxes(self, faces: list[Face], now: float) -> list[tuple[int, int, int, int]]:
        """The boxes to cover on a frame at time `now`: its faces', and those of faces seen within the hold."""
        for face in faces:
            self.recent[face.track] = (face.box, now)
        self.recent = {track: seen for track, seen in self.recent.items() if 0 <= now - seen[1] <= self.hold}
        return [box for box, _ in self.recent.values()]

    def cover(self, frame: Frame, faces: list[Face]) -> Frame:
        """The frame as the outputs may see it: the same frame when off or when there is nothing to cover, else
        a covered copy (the source's and the detector's image is never changed)."""
        if not self.on:
            return frame
        boxes = self.boxes(faces, frame.time)
        if not boxes:
            return frame
        image = frame.image.copy()
        for box in boxes:
            cover_region(image, crop_box(box, image.shape, MARGIN), self.mode)
        return replace(frame, image=image)

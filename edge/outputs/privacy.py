"""`--privacy blur|box|off`: every face covered on the frame before any output sees it, then the picture checked.

The run loop covers each frame once, between the pipeline and the sinks (edge/run.py), so the web view's video
and snapshot, MQTT's snapshot, `--snapshots`, `--save` and the window all get the covered frame, and none of them
can forget to: a frame reaches no sink before its faces are covered. The faces' labels, probabilities and boxes
(JSONL, events, metrics) are untouched.

What is covered: each face's box (the detector's, or the tracker's between detections) grown by MARGIN about its
centre, to take in hair, ears and the box's lag behind a moving head; and, for HOLD_SECONDS, the last box of a
face that was there and is not any more, so a face the detector misses for a frame does not flash through.
`blur` keeps only a BLUR_CELLS x BLUR_CELLS grid of the region's average colours, smoothly interpolated: no
feature survives it (YuNet finds no face in it, tests/edge/test_privacy.py); `box` paints the region solid.

Then the check (`FaceCheck`), because the pipeline's faces are only as good as its tracker and its detection
settings: a face moving faster than the tracker follows, one that walked in before asynchronous detection lands,
one too small at `--detect-width`, all leave the pipeline's boxes. The project's detector, YuNet with no smallest
face and a threshold below its own (CHECK_SCORE: the JPEG an output encodes moves a score a little; a face cut
by the frame's edge that the check scored under 0.6 scored 0.602 once saved), runs on the covered picture itself
at its full size (and, for a picture under CHECK_SMALL_SIDE, scaled up on a grey margin, as a face crop would be
looked at); every face it finds is covered, and the picture checked again, CHECK_PASSES times; a picture that
still shows one is covered whole. So no picture leaves with a face YuNet can find in it, whatever the pipeline
reported. It costs one YuNet pass at the picture's size per frame (benchmarks/extras.py's privacy cost), and
runs only when some output takes pictures. Where this OpenCV cannot run YuNet (apt's 4.6 on a Pi), the check is
Haar's frontal cascade, which misses turned, rolled, dark and cut faces: the run says so in one line
(`FaceCheck.limit`).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.detectors.base import DetectorConfig
from edge.detectors.registry import make_detector
from edge.frames import Face, Frame
from edge.outputs.snapshots import crop_box

MODES = ("off", "blur", "box")  # --privacy; "off" sends frames as they are
DEFAULT_MODE = "off"
ENVIRONMENT = "FER_EDGE_PRIVACY"  # the mode when --privacy is not given (the Pi service's env file sets blur)
MARGIN = 0.5  # the box grows by 50% (25% each side): wider than a snapshot's crop, so a snapshot is all covered
HOLD_SECONDS = 1.0  # a face that vanished stays covered at its last box this long (a missed detection, a blink)
BLUR_CELLS = 4  # the covered region keeps this many average colours across and down (8 still lets YuNet find one)
BOX_GREY = 48  # --privacy box: the level of every channel in the painted region
CHECK_SCORE = 0.5  # the check's YuNet threshold: below YuNet's own 0.6, as JPEG and annotation move a score a little
CHECK_PASSES = 2  # the check's finds covered and the picture checked again this often before it is covered whole
CHECK_SMALL_SIDE = 400  # a picture whose longer side is under this is also checked scaled up (a crop, a tiny camera)
CHECK_SCALED_SIDE = 300  # ... to this longer side, on a grey margin of CHECK_MARGIN px each side
CHECK_MARGIN = 100
CHECK_HAAR_MIN_FACE = 24  # Haar's smallest face when it is the check (full size; it finds no face under 24 px)


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


class FaceCheck:
    """The project's detector on an outgoing picture, at the picture's own size: YuNet where this OpenCV runs it,
    else Haar, with `limit` saying what that misses."""

    def __init__(self) -> None:
        self.limit: str | None = None
        try:
            self.detector = make_detector(DetectorConfig(name="yunet", detect_width=0, min_face=1))
            self.detector.net.setScoreThreshold(CHECK_SCORE)
            self.name = "yunet"
        except UserError as exc:
            self.detector = make_detector(DetectorConfig(name="haar", detect_width=0, min_face=CHECK_HAAR_MIN_FACE))
            self.name = "haar"
            reason = str(exc).removeprefix("--detector yunet ")
            misses = "which misses turned, rolled, dark and cut faces"
            self.limit = f"--privacy checks pictures with Haar, {misses}: YuNet {reason}"

    def faces(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Every face the detector finds in `image`, as x, y, w, h in its pixels."""
        found = [tuple(int(v) for v in box) for box in self.detector.detect(image)]
        height, width = image.shape[:2]
        if max(height, width) < CHECK_SMALL_SIDE:
            scale = CHECK_SCALED_SIDE / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            big = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            pad = ((CHECK_MARGIN, CHECK_MARGIN), (CHECK_MARGIN, CHECK_MARGIN)) + ((0, 0),) * (big.ndim - 2)
            padded = np.pad(big, pad, constant_values=128)
            for x, y, w, h in self.detector.detect(padded):
                found.append((round((x - CHECK_MARGIN) / scale), round((y - CHECK_MARGIN) / scale),
                              round(w / scale), round(h / scale)))  # fmt: skip
        return found


class FaceCover:
    """Covers the faces of each frame, and the faces that just left, on a copy of the frame; with `check`, then
    covers whatever face the check still finds on it."""

    def __init__(self, mode: str = DEFAULT_MODE, hold: float = HOLD_SECONDS, check: bool = True) -> None:
        self.mode, self.hold = privacy_mode(mode), hold
        self.recent: dict[int, tuple[tuple[int, int, int, int], float]] = {}  # track -> (last box, when seen)
        self.check = FaceCheck() if check and self.on else None
        self.checked = self.caught = self.whole = 0  # pictures checked, faces the check covered, pictures covered whole

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
        image = frame.image
        boxes = self.boxes(faces, frame.time)
        if boxes:
            image = image.copy()
            for box in boxes:
                cover_region(image, crop_box(box, image.shape, MARGIN), self.mode)
        if self.check is not None:
            image = self._checked(image, frame.image)
        return frame if image is frame.image else replace(frame, image=image)

    def _checked(self, image: np.ndarray, original: np.ndarray) -> np.ndarray:
        """`image` with every face the check finds covered, checked again after each round; covered whole when
        CHECK_PASSES rounds leave a face. A copy whenever anything is covered: `original` is never changed."""
        self.checked += 1
        for attempt in range(CHECK_PASSES):
            found = self.check.faces(image)
            if not found:
                return image
            image = image.copy() if image is original else image
            self.caught += len(found) if attempt == 0 else 0
            for box in found:
                cover_region(image, crop_box(box, image.shape, MARGIN), self.mode)
        if self.check.faces(image):
            self.whole += 1
            cover_region(image, (0, 0, image.shape[1], image.shape[0]), self.mode)
        return image

    def stats(self) -> dict:
        """What the check did, for the run summary."""
        if self.check is None:
            return {"checked": 0}
        return {"checked": self.checked, "detector": self.check.name, "faces_found": self.caught,
                "covered_whole": self.whole}  # fmt: skip

"""A labelled multi-face 640x480 clip built from the bundled astronaut photo: ground truth by construction.

Three copies of the photo's face (with its hair and shoulders) at three sizes move and grow or shrink over a
drifting textured background; one is mirrored, one darker. Each copy's face box is known from where and how
large it was pasted, so detection recall and precision need no hand labels. Built in memory, never stored.
Every face stays at least 52 px, above the detectors' default smallest face (`--min-face 48`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.sources.images import DEMO_IMAGE

# The face in edge/assets/astronaut.jpg (512x512), x, y, w, h: found once by the Haar cascade on the photo
# (`HaarDetector().detect`), which YuNet's squared box overlaps at IoU 0.86.
FACE_BOX = (177, 66, 95, 95)
MARGIN = 0.45  # of the face's side, kept around it in each pasted copy


@dataclass(frozen=True)
class Actor:
    """One pasted face: its side in pixels, swing of its size, path across the frame, and look."""

    side: float
    grow: float  # relative size change over the clip, peak to centre
    start: tuple[float, float]  # centre of the face at frame 0, as fractions of the frame
    swing: tuple[float, float]  # movement amplitude, as fractions of the frame
    phase: float
    mirror: bool = False
    brightness: float = 1.0


ACTORS = (
    Actor(120, 0.15, (0.24, 0.32), (0.08, 0.06), 0.0),
    Actor(88, 0.20, (0.74, 0.28), (0.10, 0.06), 1.7, mirror=True),
    Actor(66, 0.20, (0.50, 0.76), (0.25, 0.04), 3.1, brightness=0.75),
)


def _patch() -> tuple[np.ndarray, tuple[int, int, int]]:
    """The face with its surroundings cut from the photo, and the face's x, y and side inside the cut."""
    photo = cv2.imread(str(DEMO_IMAGE), cv2.IMREAD_COLOR)
    x, y, w, h = FACE_BOX
    pad = round(MARGIN * w)
    x0, y0 = max(0, x - pad), max(0, y - pad)
    cut = photo[y0 : y + h + pad, x0 : x + w + pad]
    return cut, (x - x0, y - y0, w)


def _background(size: tuple[int, int], frames: int, seed: int) -> list[np.ndarray]:
    """A smooth random texture, panned a little each frame (a handheld camera's background)."""
    width, height = size
    rng = np.random.default_rng(seed)
    big = rng.integers(40, 200, (height // 8 + 20, width // 8 + 20, 3), dtype=np.uint8)
    big = cv2.GaussianBlur(cv2.resize(big, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC), (0, 0), 6)
    out = []
    for i in range(frames):
        t = 2 * np.pi * i / max(frames, 1)
        dx, dy = round(60 + 50 * np.sin(t)), round(60 + 50 * np.cos(t))
        out.append(big[dy : dy + height, dx : dx + width].copy())
    return out


def labelled_clip(
    frames: int = 120, size: tuple[int, int] = (640, 480), seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The frames (BGR) and, for each, the true face boxes (N, 4) as x, y, w, h."""
    cut, (fx, fy, fw) = _patch()
    width, height = size
    images, truth = [], []
    for i, canvas in enumerate(_background(size, frames, seed)):
        t = 2 * np.pi * i / max(frames, 1)
        boxes = []
        for actor in ACTORS:
            side = actor.side * (1 + actor.grow * np.sin(t + actor.phase))
            scale = side / fw
            patch = cv2.resize(cut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            face_x = fx * scale
            if actor.mirror:
                patch = patch[:, ::-1]
                face_x = patch.shape[1] - (fx + fw) * scale
            if actor.brightness != 1.0:
                patch = cv2.convertScaleAbs(patch, alpha=actor.brightness)
            cx = (actor.start[0] + actor.swing[0] * np.sin(t + actor.phase)) * width
            cy = (actor.start[1] + actor.swing[1] * np.cos(t + actor.phase)) * height
            x0, y0 = round(cx - face_x - side / 2), round(cy - fy * scale - side / 2)
            ph, pw = patch.shape[:2]
            sx0, sy0 = max(0, -x0), max(0, -y0)  # the part of the patch inside the frame
            sx1, sy1 = min(pw, width - x0), min(ph, height - y0)
            canvas[y0 + sy0 : y0 + sy1, x0 + sx0 : x0 + sx1] = patch[sy0:sy1, sx0:sx1]
            boxes.append((x0 + face_x, y0 + fy * scale, side, side))
        images.append(canvas)
        truth.append(np.round(np.asarray(boxes)).astype(np.int32))
    return images, truth


FAST_STEPS = (20, 40, 70)  # px a frame: a head crossing a close camera's 640x480 view (the hostile run's clips)


def fast_clip(
    step: int, frames: int = 90, size: tuple[int, int] = (640, 480)
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The photo's face (with its hair and shoulders) moving `step` px a frame across a flat grey frame, turning
    back at each side, so it stays in view and always moves: the frames and each one's true face box (1, 4).
    Each appearance costs an asynchronous detector the frames before its first detection lands; this clip has
    one, so what it measures is how well a fast face is kept, not how soon it is first found."""
    cut, (fx, fy, fw) = _patch()
    width, height = size
    travel = width - cut.shape[1]
    y = (height - cut.shape[0]) // 2
    images, truth = [], []
    for i in range(frames):
        x = abs((step * i) % (2 * travel) - travel)  # 0 to travel and back
        canvas = np.full((height, width, 3), 90, np.uint8)
        canvas[y : y + cut.shape[0], x : x + cut.shape[1]] = cut
        images.append(canvas)
        truth.append(np.array([[x + fx, y + fy, fw, fw]], dtype=np.int32))
    return images, truth

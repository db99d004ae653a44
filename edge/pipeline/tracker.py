"""Follow faces between detections and smooth each face's probabilities over time.

Between detections (`--detect-every N`, or while the asynchronous detector works) each face is followed
by template matching in a small window around its last box, which costs a fraction of a detector pass.
Faces keep an id across detections by box overlap, so their probabilities can be smoothed without mixing
two people. A detection that lands late (made on an earlier frame) is matched to the tracks as they were
on that frame and followed from there onto the current one (`correct`).

A face moving fast (a person walking past a close camera moves 20-70 px a frame) leaves a window of half its
size within a frame or two, so each track keeps its velocity and the search window grows by it; a detection
that lands `elapsed` frames late is searched for as far as a face can move in that time (`MAX_SPEED` widths a
frame). A landed detection that still cannot be followed is kept where it was found rather than dropped: the
detector found that face, so it is reported (and covered, `--privacy`), and its next detection places it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

import cv2
import numpy as np

from edge.common.boxes import MIN_IOU, iou

MIN_MATCH_SCORE = 0.5
MAX_SPEED = 1.0  # face widths a frame: how far a landed detection's face is looked for, per frame of its lateness
SAME_SIZE = 1.5  # two boxes whose sides differ by less than this factor can be one face that moved


@dataclass
class Track:
    id: int
    box: np.ndarray  # x, y, w, h in full-resolution pixels
    template: np.ndarray | None = None  # the face at detection resolution, for following
    probabilities: np.ndarray | None = None
    angle: float = 0.0  # the face's roll when last measured (--align-eyes), kept while it is followed
    velocity: np.ndarray | None = None  # x, y full-resolution pixels a frame; None until it is first followed


class Tracker:
    def __init__(self, smooth: float = 0.0) -> None:
        if not 0.0 <= smooth < 1.0:
            raise ValueError("smooth must be in [0, 1)")
        self.smooth = smooth
        self.tracks: list[Track] = []
        self._ids = count(1)

    def reset(self) -> None:
        self.tracks = []

    def update(self, boxes: np.ndarray, small: np.ndarray | None, scale: float) -> list[Track]:
        """New detections: keep the id of the best-overlapping previous face (where it was, or where its velocity
        takes it), start new tracks otherwise.

        `small` is the detection-resolution frame the faces will be followed on; None when they never are."""
        unmatched = list(self.tracks)
        tracks = []
        for box in boxes:
            best = max(unmatched, key=lambda t: _overlap(t, box), default=None)
            if best is not None and _overlap(best, box) >= MIN_IOU:
                unmatched.remove(best)
                best.velocity = (np.asarray(box[:2]) - best.box[:2]).astype(float)  # its move since the last frame
                best.box = box
                track = best
            else:
                track = Track(next(self._ids), box)
            track.template = _crop(small, box * scale) if small is not None else None
            tracks.append(track)
        self.tracks = tracks
        return tracks

    def correct(
        self,
        boxes: np.ndarray,
        then: np.ndarray,
        seen: dict[int, np.ndarray],
        now: np.ndarray,
        scale: float,
        elapsed: int = 1,
    ) -> list[Track]:
        """Detections made `elapsed` frames ago land: `then` is that frame at detection resolution and `seen`
        each track's box on it. A detection overlapping a face as it was then keeps that face's id and is moved
        by as much as the face has moved since; every face takes its template from `then` at the detected box
        and is followed from there onto `now`, the current frame. A face new to the tracker is looked for as
        far as it can have moved in `elapsed` frames, which also gives its velocity; one that cannot be followed
        stays where it was detected (a detection is never dropped)."""
        alive = {track.id: track for track in self.tracks}
        unmatched = dict(seen)
        tracks = []
        for box in boxes:
            best = max(unmatched, key=lambda i: iou(unmatched[i], box), default=None)
            track, moved = None, np.zeros(4, dtype=int)
            if best is not None and iou(unmatched[best], box) >= MIN_IOU:
                track = alive.get(best)
                if track is not None:
                    moved[:2] = track.box[:2] - unmatched[best][:2]
                del unmatched[best]
            if track is None:  # its motion is unknown: look as far as a face moves in `elapsed` frames
                track = Track(next(self._ids), box)
            self.redetected(track, box, then, scale)
            track.box = track.box + moved
            start, velocity = track.box.copy(), track.velocity
            reach = MAX_SPEED * elapsed if velocity is None else 0.0
            self.follow_one(track, now, scale, reach)
            # A new face's velocity is its move over the `elapsed` frames; a known face keeps its own.
            track.velocity = (track.box[:2] - start[:2]) / elapsed if velocity is None else velocity
            tracks.append(track)
        self.tracks = tracks
        return tracks

    def redetected(self, track: Track, box: np.ndarray, small: np.ndarray, scale: float) -> None:
        """The detector found `track` again at `box`: follow it from there, at its new size."""
        track.box = np.asarray(box).round().astype(int)
        track.template = _crop(small, track.box * scale)

    def follow_one(self, track: Track, small: np.ndarray, scale: float, reach: float = 0.0) -> bool:
        """Move the face to where its template matches best nearby (within half its size, its velocity, and
        `reach` face widths, or MAX_SPEED widths while its velocity is unknown); False when it no longer matches.
        Its velocity becomes this frame's move."""
        if track.template is None or track.template.size == 0:
            return False
        x, y, w, h = (track.box * scale).round().astype(int)
        velocity = np.zeros(2) if track.velocity is None else track.velocity
        reach = max(reach, MAX_SPEED) if track.velocity is None else reach
        speed_x, speed_y = np.abs(velocity * scale).round().astype(int)
        pad_x = max(2, w // 2) + speed_x + round(reach * w)
        pad_y = max(2, h // 2) + speed_y + round(reach * h)
        x0, y0 = max(0, x - pad_x), max(0, y - pad_y)
        window = small[y0 : y + h + pad_y, x0 : x + w + pad_x]
        th, tw = track.template.shape
        if window.shape[0] < th or window.shape[1] < tw:
            return False
        scores = cv2.matchTemplate(window, track.template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        if best < MIN_MATCH_SCORE:
            return False
        box = np.array([(x0 + bx) / scale, (y0 + by) / scale, track.box[2], track.box[3]]).round().astype(int)
        track.velocity = (box[:2] - track.box[:2]).astype(float)
        track.box = box
        return True

    def follow(self, small: np.ndarray, scale: float) -> list[Track]:
        """Move each face to where its template matches best nearby; drop faces that no longer match."""
        self.tracks = [track for track in self.tracks if self.follow_one(track, small, scale)]
        return self.tracks

    def smoothed(self, track: Track, probabilities: np.ndarray) -> np.ndarray:
        """Exponential moving average: `smooth` is the weight of the face's history."""
        if track.probabilities is not None and self.smooth > 0:
            probabilities = self.smooth * track.probabilities + (1 - self.smooth) * probabilities
        track.probabilities = probabilities
        return probabilities


def _overlap(track: Track, box: np.ndarray) -> float:
    """How well a detection matches a track: its box, or where its velocity puts it a frame on (a fast face
    overlaps the second, not the first); failing both, a detection of a similar size within MAX_SPEED widths
    counts as MIN_IOU, so a face fast from its first frame, or turning back, keeps its id."""
    ahead = track.box if track.velocity is None else track.box + np.array([*track.velocity, 0, 0])
    side, other = float(track.box[2]), float(box[2])
    moved = np.hypot(*(np.asarray(box[:2]) + other / 2 - track.box[:2] - side / 2))
    near = moved <= MAX_SPEED * side and max(side, other) <= SAME_SIZE * min(side, other)
    return max(iou(track.box, box), iou(ahead, box), MIN_IOU if near else 0.0)


def _crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, w, h = box.round().astype(int)
    return image[max(0, y) : y + h, max(0, x) : x + w].copy()

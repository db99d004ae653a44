"""Snapshots: a JPEG of a face, with a margin, each time an event fires (a face appeared, its label changed).

One crop function serves every output that sends them: MQTT (`PREFIX/DEVICE/snapshot`, retained), the web view
(`/api/snapshot.jpg`, the latest) and `--snapshots DIR --keep N` (a JPEG file per event, the newest N kept).
Only an event costs an encode, never a frame: the frame loop copies the small crop, and the JPEG is made on a
sink's own thread (or when the web view is first asked for it).
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.common.files import probe_folder, write_bytes
from edge.frames import Face
from edge.outputs.base import Result, Sink
from edge.outputs.events import FaceEvents

MARGIN = 0.4  # the face box grows by 40% (20% each side) so the crop shows the whole head
JPEG_QUALITY = 85
KEEP = 100  # snapshot files kept in --snapshots DIR (--keep)
SNAPSHOT_EVENTS = ("appeared", "changed")
QUEUE_SIZE = 64
DEVICE = "fer-edge"  # the device part of the names when none is given


Box = tuple[int, int, int, int]


def crop_box(box: Box, shape: tuple[int, ...], margin: float = MARGIN) -> Box:
    """(x0, y0, x1, y1): the face box enlarged by `margin` about its centre, clipped to the frame."""
    x, y, w, h = box
    dx, dy = round(w * margin / 2), round(h * margin / 2)
    height, width = shape[:2]
    return max(0, x - dx), max(0, y - dy), min(width, x + w + dx), min(height, y + h + dy)


def face_crop(image: np.ndarray, box: Box) -> np.ndarray:
    """A copy of the face with its margin (the frame may be reused or freed once the loop moves on)."""
    x0, y0, x1, y1 = crop_box(box, image.shape)
    return image[y0:y1, x0:x1].copy()


def encode(crop: np.ndarray) -> bytes:
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()


def snapshot_faces(events: list[dict], faces: list[Face]) -> list[tuple[dict, Face]]:
    """The events that earn a snapshot, each with its face."""
    by_track = {face.track: face for face in faces}
    return [(e, by_track[e["track"]]) for e in events if e["event"] in SNAPSHOT_EVENTS and e["track"] in by_track]


class LatestSnapshot:
    """The newest event's face (the web view's /api/snapshot.jpg): cropped on the frame loop, encoded once when
    first asked for."""

    def __init__(self) -> None:
        self.events = FaceEvents()
        self.lock = threading.Lock()
        self.crop: np.ndarray | None = None
        self.jpeg: bytes | None = None

    def frame(self, result: Result) -> None:
        faces = result.faces
        if not faces and not self.events.present:
            return
        chosen = snapshot_faces(self.events.update(faces, result.frame.time), faces)
        if chosen:
            crop = face_crop(result.frame.image, chosen[-1][1].box)
            with self.lock:
                self.crop, self.jpeg = crop, None

    def latest(self) -> bytes | None:
        with self.lock:
            if self.jpeg is None and self.crop is not None:
                self.jpeg = encode(self.crop)
            return self.jpeg


def file_name(device: str, number: int, when: datetime, track: int, label: str) -> str:
    """`DEVICE_NUMBER_YYYYmmdd-HHMMSS-mmmZ_TRACK_LABEL.jpg`: the device, so cameras can share a folder; a number
    that only grows in the folder, by which the newest are kept whatever the clock does; the time in UTC."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-") or "face"
    when = when.astimezone(timezone.utc)
    return f"{device}_{number:06d}_{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}Z_{track}_{safe}.jpg"


def name_pattern(device: str) -> re.Pattern[str]:
    """The names `device`'s snapshots have (the only files its writer deletes); group 1 is the number."""
    return re.compile(re.escape(device) + r"_(\d{6,})_\d{8}-\d{6}-\d{3}Z_\d+_[A-Za-z0-9_-]+\.jpg")


class SnapshotWriter(Sink):
    """`--snapshots DIR --keep N`: each event's face as a JPEG file (written whole), the newest N kept.

    "Newest" is by the number in the names, which continues from the highest in the folder: neither a clock set
    back (a Pi without a real-time clock, DST) nor a time zone changed between runs makes a new file look old.
    Each device numbers and prunes only its own files (`device`: --device-name, else the host name)."""

    name = "snapshots"
    pictures = True

    def __init__(self, folder: str, keep: int = KEEP, device: str = DEVICE) -> None:
        self.folder, self.keep, self.device = Path(folder), keep, device
        self.pattern = name_pattern(device)
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"--snapshots {folder}: is a file; snapshots need a folder")
        probe_folder(self.folder, f"--snapshots {folder}", "snapshots")  # names the folder the user gave
        self.number = max(self._ours(), default=(0, None))[0]
        self.events = FaceEvents()
        self.queue: queue.Queue[tuple[str, np.ndarray] | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self.counters = {"written": 0, "dropped": 0}
        self.error: str | None = None
        self.thread = threading.Thread(target=self._write_loop, daemon=True)
        self.thread.start()

    def frame(self, result: Result) -> None:
        if not result.faces and not self.events.present:
            return
        for event, face in snapshot_faces(self.events.update(result.faces, result.frame.time), result.faces):
            self.number += 1
            name = file_name(self.device, self.number, datetime.now(timezone.utc), event["track"], event["label"])
            item = (name, face_crop(result.frame.image, face.box))
            try:
                self.queue.put_nowait(item)
            except queue.Full:  # the disk is slower than the events: lose a snapshot, never a frame
                self.counters["dropped"] += 1

    def stats(self) -> dict:
        return {"folder": str(self.folder), **self.counters}

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()  # a failed write is in `error`: the run says it once, at its end

    def _write_loop(self) -> None:
        while (item := self.queue.get()) is not None:
            name, crop = item
            try:
                write_bytes(self.folder / name, encode(crop))
                self.counters["written"] += 1
                self._prune()
            except (UserError, ValueError, OSError) as exc:
                self.counters["dropped"] += 1
                self.error = str(exc)

    def _ours(self) -> list[tuple[int, Path]]:
        """This device's snapshots in the folder, oldest first."""
        found = ((self.pattern.fullmatch(p.name), p) for p in self.folder.iterdir()) if self.folder.is_dir() else ()
        return sorted((int(match[1]), path) for match, path in found if match)

    def _prune(self) -> None:
        ours = self._ours()
        for _, old in ours[: max(0, len(ours) - self.keep)]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()

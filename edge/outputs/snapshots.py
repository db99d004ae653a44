"""Snapshots: a JPEG of a face, with a margin, each time an event fires (a face appeared, its label changed).

One crop function serves every output that sends them: MQTT (`PREFIX/DEVICE/snapshot`, retained), the web view
(`/api/snapshot.jpg`, the latest) and `--snapshots DIR --keep N` (a JPEG file per event, the newest N kept).
Only an event costs an encode, never a frame: the frame loop copies the small crop, and the JPEG is made on a
sink's own thread (or when the web view is first asked for it).
"""

from __future__ import annotations

import queue
import re
import sys
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
    Each device numbers and prunes only its own files (`device`: --device-name, else the host name), and holds a
    lock on `.DEVICE.lock` in the folder while it runs (removed at its end): a second run with the same device (two
    cameras on one host without --device-name) would prune the first's files, so it is refused. A file that cannot
    be deleted (or a folder named like a snapshot) is left, said once, and not counted against --keep."""

    name = "snapshots"
    pictures = True

    def __init__(self, folder: str, keep: int = KEEP, device: str = DEVICE) -> None:
        self.folder, self.keep, self.device = Path(folder), keep, device
        self.pattern = name_pattern(device)
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"--snapshots {folder}: is a file; snapshots need a folder")
        probe_folder(self.folder, f"--snapshots {folder}", "snapshots")  # names the folder the user gave
        self.lock = self._lock(folder)
        self.stuck: set[Path] = set()  # ours, but they could not be deleted: not counted against --keep
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
        if self.lock is not None:  # removed, then released: the folder is left as the run found it
            Path(self.lock.name).unlink(missing_ok=True)
            self.lock.close()

    def _lock(self, folder: str):
        """The device's lock in the folder, held open for the run; a UserError when another run holds it."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return None
        path = self.folder / f".{self.device}.lock"
        try:
            handle = open(path, "a+")  # noqa: SIM115 (held open for the whole run: the lock lives as long as it)
        except OSError as exc:
            raise UserError(f"--snapshots {folder}: cannot create {path.name} ({exc.strerror})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UserError(
                f"--snapshots {folder}: another run writes device {self.device}'s snapshots here, and each would"
                " prune the other's; give each camera its own --device-name"
            ) from None
        return handle

    def _write_loop(self) -> None:
        while (item := self.queue.get()) is not None:
            name, crop = item
            try:
                write_bytes(self.folder / name, encode(crop))
            except (UserError, ValueError, OSError) as exc:
                self.counters["dropped"] += 1
                self.error = f"--snapshots {exc}"  # the file, named by write_bytes
                continue
            self.counters["written"] += 1
            self._prune()

    def _ours(self) -> list[tuple[int, Path]]:
        """This device's snapshot files in the folder, oldest first (a folder or link named like one is not)."""
        found = ((self.pattern.fullmatch(p.name), p) for p in self.folder.iterdir()) if self.folder.is_dir() else ()
        return sorted((int(match[1]), path) for match, path in found if match and _plain_file(path))

    def _prune(self) -> None:
        ours = [(number, path) for number, path in self._ours() if path not in self.stuck]
        for _, old in ours[: max(0, len(ours) - self.keep)]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.stuck.add(old)
                if len(self.stuck) == 1:
                    print(f"edge: --snapshots {self.folder}: cannot delete {old.name} ({exc.strerror}); left in"
                          " place, and --keep counts the others", file=sys.stderr, flush=True)  # fmt: skip


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()

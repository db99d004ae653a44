"""What a run writes: annotated frames, JSON Lines per frame, saved video or images."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from edge.atomic import atomic_path
from edge.errors import UserError
from edge.pipeline import Face
from edge.sources import IMAGE_SUFFIXES, Frame

VIDEO_SUFFIXES = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
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


def frame_record(frame: Frame, faces: list[Face]) -> dict:
    return {
        "source": frame.name,
        "frame": frame.index,
        "time": round(frame.time, 4),
        "faces": [face.to_dict() for face in faces],
    }


class JsonlWriter:
    """One JSON object per line, flushed per frame so a stopped run leaves a valid file; `-` is stdout.

    With `max_bytes`, the file rotates like a log (`out.jsonl` -> `out.jsonl.1` ... `.keep`), for a
    service that runs for weeks. A failed write (a full disk) is cut back to the last whole line and
    reported as one line.
    """

    def __init__(self, target: str, max_bytes: int = 0, keep: int = 3) -> None:
        self.target, self.max_bytes, self.keep = target, max_bytes, keep
        self.stream: IO[bytes] | None = None if target == "-" else self._open("ab" if max_bytes else "wb")

    def _open(self, mode: str) -> IO[bytes]:
        try:
            # Unbuffered: each line is one write() that either lands or is cut back, never re-flushed later.
            return open(self.target, mode, buffering=0)
        except OSError as exc:
            raise UserError(f"{self.target}: cannot write JSONL ({exc.strerror})") from None

    def _rotate(self) -> None:
        self.stream.close()
        for index in range(self.keep - 1, 0, -1):
            older = f"{self.target}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{self.target}.{index + 1}")
        os.replace(self.target, f"{self.target}.1")
        self.stream = self._open("ab")

    def write(self, record: dict) -> None:
        line = (json.dumps(record) + "\n").encode("utf-8")
        if self.stream is None:
            sys.stdout.write(line.decode("utf-8"))
            sys.stdout.flush()
            return
        good = self.stream.seek(0, os.SEEK_END)
        if self.max_bytes and good and good + len(line) > self.max_bytes:
            self._rotate()
            good = 0
        try:
            if self.stream.write(line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self.stream.fileno(), good)
            raise UserError(f"{self.target}: cannot write JSONL ({exc.strerror}); kept the lines before") from None

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


class FrameSaver:
    """Annotated output: a video file (.mp4/.avi/.mkv), written whole then renamed, or a folder of images."""

    def __init__(self, target: str | os.PathLike, fps: float = 15.0) -> None:
        self.target = Path(target)
        self.fps = fps
        self.video = self.target.suffix.lower() in VIDEO_SUFFIXES
        self.writer: cv2.VideoWriter | None = None
        self._pending = contextlib.ExitStack()  # holds the video's temporary path until close() renames it
        if not self.video:
            self.target.mkdir(parents=True, exist_ok=True)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if not self.video:
            name = Path(frame.name)
            stem = name.stem if name.suffix.lower() in IMAGE_SUFFIXES else f"{name.stem}_{frame.index:06d}"
            with atomic_path(self.target / f"{stem}.jpg") as tmp:
                cv2.imwrite(str(tmp), image)
            return
        if self.writer is None:
            tmp = self._pending.enter_context(atomic_path(self.target))
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_SUFFIXES[self.target.suffix.lower()])
            self.writer = cv2.VideoWriter(str(tmp), fourcc, self.fps, (image.shape[1], image.shape[0]))
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        self._pending.close()

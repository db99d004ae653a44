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

from edge.atomic import atomic_path, check_writable
from edge.errors import UserError
from edge.pipeline import Face
from edge.quiet import quiet_stderr
from edge.sources import IMAGE_SUFFIXES, Frame, quiet_ffmpeg

# The containers pip's and apt's OpenCV write through FFmpeg, and the codec each gets.
VIDEO_SUFFIXES = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG", ".webm": "VP80"}
# Suffixes that mean "one video or image file" but that --save cannot write: refused rather than made a folder.
UNWRITABLE_SUFFIXES = {".wmv", ".flv", ".gif", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".vob",
                       ".asf", ".h264", ".h265", ".hevc", ".mjpeg", *IMAGE_SUFFIXES}  # fmt: skip
BOX_COLOUR = (60, 200, 60)


class Terminal:
    """Human or JSON lines on stdout/stderr that never raise: a reader that goes away (`| head -2`) or a
    full device (`> /dev/full`) is recorded in `error` for the caller to end the run on, and the stream's
    descriptor is pointed at /dev/null so that nothing later (the interpreter's exit flush) fails again."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def line(self, text: str) -> bool:
        if self.error is not None:
            return False
        try:
            print(text, file=self.stream, flush=True)
            return True
        except OSError as exc:
            self.error = exc
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            return False

    @property
    def closed_by_reader(self) -> bool:
        return isinstance(self.error, BrokenPipeError)

    def check(self, name: str) -> None:
        """Report a write failure other than a closed pipe (which is how `| head` ends a run) as one line."""
        if self.error is not None and not self.closed_by_reader:
            raise UserError(f"{name}: cannot write ({self.error.strerror})")


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fit inside `size` (width, height), centred on black: a video has one frame size."""
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    scale = min(width / image.shape[1], height / image.shape[0])
    scaled = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))))
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - scaled.shape[0]) // 2, (width - scaled.shape[1]) // 2
    out[top : top + scaled.shape[0], left : left + scaled.shape[1]] = scaled
    return out


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
        self.stdout = Terminal(sys.stdout)
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
        text = json.dumps(record)
        if self.stream is None:
            if not self.stdout.line(text):
                self.stdout.check("stdout")  # a closed pipe is left to the runner: it ends the run quietly
            return
        line = (text + "\n").encode("utf-8")
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
    """Annotated output: a video file (VIDEO_SUFFIXES), written whole then renamed, or a folder of images
    (a path without a suffix, or an existing folder). Every frame of a video is fitted to the first's size.

    The target is checked when the saver is made, before the run, so a bad path costs no work."""

    def __init__(self, target: str | os.PathLike, fps: float = 15.0) -> None:
        self.target = Path(target)
        self.fps = fps
        suffix = self.target.suffix.lower()
        self.video = suffix in VIDEO_SUFFIXES and not self.target.is_dir()
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] = (0, 0)
        self._pending = contextlib.ExitStack()  # holds the video's temporary path until close() renames it
        if self.video:
            check_writable(self.target, "video")
            return
        if suffix in UNWRITABLE_SUFFIXES and not self.target.is_dir():
            raise UserError(
                f"{target}: --save cannot write {suffix} files; give a video ({', '.join(VIDEO_SUFFIXES)})"
                " or a folder for annotated images"
            )
        if self.target.exists() and not self.target.is_dir():
            raise UserError(f"{target}: exists and is not a folder; --save writes annotated images into a folder")
        try:
            self.target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{target}: cannot make the folder for annotated images ({exc.strerror})") from None

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if not self.video:
            name = Path(frame.name)
            stem = name.stem if name.suffix.lower() in IMAGE_SUFFIXES else f"{name.stem}_{frame.index:06d}"
            with atomic_path(self.target / f"{stem}.jpg") as tmp:
                cv2.imwrite(str(tmp), image)
            return
        if self.writer is None:
            self._open((image.shape[1], image.shape[0]))
        self.writer.write(fit(image, self.size))

    def _open(self, size: tuple[int, int]) -> None:
        tmp = self._pending.enter_context(atomic_path(self.target))
        codec = VIDEO_SUFFIXES[self.target.suffix.lower()]
        quiet_ffmpeg()
        with quiet_stderr():
            self.writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), self.fps, size)
        if not self.writer.isOpened():
            self.writer = None
            with self._pending:  # the exception discards the empty temporary instead of renaming it
                raise UserError(f"{self.target}: this OpenCV cannot write {codec} video; try .avi (MJPG) or a folder")
        self.size = size

    def close(self) -> None:
        """Release and rename the video; its temporary is removed on every path, even a failed rename."""
        try:
            if self.writer is not None:
                self.writer.release()
                self.writer = None
        finally:
            self._pending.close()

"""`--save`: annotated frames as a video file, written whole then renamed, or as a folder of images."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.common.files import atomic_path, check_writable, is_special, write_bytes
from edge.common.quiet import quiet_stderr
from edge.frames import Frame
from edge.outputs.base import Result, Sink
from edge.sources.base import IMAGE_SUFFIXES, quiet_ffmpeg

# The containers pip's and apt's OpenCV write through FFmpeg, and the codec each gets.
VIDEO_SUFFIXES = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG", ".webm": "VP80"}


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


class FrameSaver(Sink):
    """Annotated output: a video file (VIDEO_SUFFIXES), written whole then renamed, or a folder of images
    (a path without a suffix, or an existing folder). Every frame of a video is fitted to the first's size.

    The target is checked when the saver is made, before the run, so a bad path costs no work."""

    pictures = True

    def __init__(self, target: str | os.PathLike, fps: float = 15.0) -> None:
        self.target = Path(target)
        self.fps = fps
        suffix = self.target.suffix.lower()
        self.video = suffix in VIDEO_SUFFIXES and not self.target.is_dir()
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] = (0, 0)
        self.tmp: Path | None = None  # the video's temporary, renamed onto the target when whole
        self.frames = 0  # frames handed to the writer
        self._pending = contextlib.ExitStack()  # holds the video's temporary path until close() renames it
        if self.video:
            check_writable(self.target, "video")
            return
        if suffix and not self.target.is_dir():  # out.txt, a typo such as clip.mp: a file was meant, not a folder
            raise UserError(
                f"{target}: --save cannot write {suffix} files; give a video ({', '.join(VIDEO_SUFFIXES)})"
                " or a folder for annotated images (a name without a suffix, or an existing folder)"
            )
        if self.target.exists() and not self.target.is_dir():
            raise UserError(f"{target}: exists and is not a folder; --save writes annotated images into a folder")
        try:
            self.target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{target}: cannot make the folder for annotated images ({exc.strerror})") from None
        if not os.access(self.target, os.W_OK | os.X_OK):  # a read-only folder: fail now, not after a frame
            raise UserError(f"{target}: cannot write annotated images into this folder ({os.strerror(errno.EACCES)})")

    def frame(self, result: Result) -> None:
        self.write(result.frame, result.annotated)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if not self.video:
            name = Path(frame.name)  # an image keeps its whole name (a.png -> a.png.jpg): a.png and a.jpg both stay
            stem = name.name if name.suffix.lower() in IMAGE_SUFFIXES else f"{name.stem}_{frame.index:06d}"
            if self.error is None:
                self._save_image(self.target / f"{stem}.jpg", image)
            return
        if self.writer is None:
            self._open((image.shape[1], image.shape[0]))
        self.writer.write(fit(image, self.size))
        self.frames += 1

    def _save_image(self, path: Path, image: np.ndarray) -> None:
        """Encode in memory, then write whole: a failed write (a full disk) names its real reason, and ends the
        run as "output failed" with the other outputs finished."""
        ok, data = cv2.imencode(".jpg", image)
        if not ok:
            self.error = f"{path}: OpenCV could not encode the annotated frame"
            return
        try:
            write_bytes(path, data.tobytes())
        except UserError as exc:
            self.error = str(exc)

    def stop_reason(self) -> str | None:
        return "output failed" if self.error else None

    def _open(self, size: tuple[int, int]) -> None:
        tmp = self.tmp = self._pending.enter_context(atomic_path(self.target))
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
        """Release and rename the video; its temporary is removed on every path, even a failed rename. A video
        that is not whole (FFmpeg only logs its failed writes: a full disk) is kept as NAME.partial.SUFFIX, or
        dropped if empty, and reported in `error`: never renamed into place as if it were whole."""
        try:
            if self.writer is not None:
                self.writer.release()
                self.writer = None
                problem = self._incomplete()
                if problem:
                    self._keep_partial(problem)
        finally:
            self._pending.close()

    def _incomplete(self) -> str | None:
        """Why the released video is not whole, or None: it must open, report as many frames as were written
        (when it reports a count), and its last frame must decode (a seek past the end of a cut file lands on
        an earlier frame, so the position after reading is checked too)."""
        if self.tmp is None or is_special(self.tmp):
            return None
        with quiet_stderr():
            capture = cv2.VideoCapture(str(self.tmp))
            try:
                count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if capture.isOpened() else 0
                whole = (
                    capture.isOpened()
                    and (count <= 0 or round(count) == self.frames)
                    and capture.set(cv2.CAP_PROP_POS_FRAMES, self.frames - 1)
                    and capture.read()[0]
                    and round(capture.get(cv2.CAP_PROP_POS_FRAMES)) == self.frames
                )
            finally:
                capture.release()
        return None if whole else no_room(self.tmp)

    def _keep_partial(self, problem: str) -> None:
        """Move what was written to NAME.partial.SUFFIX (or drop it when empty), and end the pending rename."""
        partial = self.tmp.with_name(f"{self.target.stem}.partial{self.target.suffix}")
        try:
            if self.tmp.stat().st_size > 0:
                os.replace(self.tmp, partial)
                kept = f"kept what was written as {partial}"
            else:
                kept = "nothing was written"
        except OSError as exc:
            kept = f"could not keep what was written ({exc.strerror})"
        self.error = f"{self.target}: the video is incomplete ({problem}); {kept}"
        with contextlib.suppress(_Incomplete), self._pending:  # the exception skips the rename onto the target
            raise _Incomplete


class _Incomplete(Exception):
    pass


def no_room(path: Path) -> str:
    """Why a file could not be written whole: the error of writing one more byte to it (a full disk, a file
    size limit), or else "writes failed"."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        return exc.strerror
    try:
        size = os.fstat(fd).st_size
        try:
            os.write(fd, b"\0")
        except OSError as exc:
            return exc.strerror
        os.ftruncate(fd, size)
        if os.statvfs(path).f_bavail == 0:
            return os.strerror(errno.ENOSPC)
        return "writes failed"
    finally:
        os.close(fd)

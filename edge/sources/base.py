"""Frame sources: what every source is (`Source`), how a `--source` spec picks one, and `--loop`.

Each kind of source lives in its own module (opencv: camera and video; picamera; images: files, folders and
the demo clip) and is imported only when a spec asks for it, so a Pi without picamera2 and a laptop without a
camera both run. Cameras and videos are read on their own thread (`ThreadedReader`), so capture and decoding
overlap the pipeline's work. A live camera keeps only the newest frame (the display stays real-time); a file
keeps all.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from edge.common.errors import UserError
from edge.common.urls import redact_url
from edge.frames import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
_END = object()
WAITING = object()  # what a live source yields while no frame comes (a network camera reconnecting)
_LEFT_INSIDE: list[threading.Thread] = []  # reader threads that `stop` left inside a stalled driver call


@dataclass
class SourceOptions:
    """How a source opens: each default is written here once (the CLI's --width, --height, --fps, --demo-frames)."""

    width: int = 640  # camera and demo frame width
    height: int = 480  # camera and demo frame height
    fps: float = 30.0  # Pi camera frame rate
    demo_frames: int = 90  # length of the demo clip
    detect_width: int = 0  # the Pi camera's grayscale detection stream width (0: none)
    rtsp_transport: str = "tcp"  # a network camera's RTSP transport (tcp or udp)


@dataclass
class Source:
    """An iterator of frames; `skipped` names inputs that could not be read (e.g. a corrupt image).

    `continuous` is False when consecutive frames are unrelated images, so nothing (a face's track, its
    smoothed probabilities) may carry from one to the next. `bad_frames` counts undecodable video frames;
    `reconnects` and `lost_seconds` a network camera's drops and the time without frames they cost."""

    name: str
    frames: Iterator[Frame]
    close: Callable[[], None] = lambda: None
    skipped: list[str] = field(default_factory=list)
    continuous: bool = True
    bad_frames: int = 0
    reconnects: int = 0
    lost_seconds: float = 0.0

    def __iter__(self) -> Iterator[Frame]:
        return self.frames


class ThreadedReader:
    """Calls `read()` on a background thread until it returns None; the main thread takes frames from a queue."""

    def __init__(self, read: Callable[[], object | None], live: bool) -> None:
        self.read, self.live = read, live
        self.queue: queue.Queue = queue.Queue(maxsize=1 if live else 4)
        self.stopped = threading.Event()
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _put(self, item: object) -> None:
        while not self.stopped.is_set():
            if self.live and self.queue.full():
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()  # drop the stale frame: a camera should show now, not then
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while not self.stopped.is_set():
                image = self.read()
                if image is None:
                    break
                self._put(image)
        except Exception as exc:  # a driver error ends the stream; the main thread reports it
            self.error = f"{type(exc).__name__}: {exc}"
        self._put(_END)

    def __iter__(self) -> Iterator:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            yield item

    def items(self, poll: float) -> Iterator:
        """Like iterating, but yields WAITING each `poll` seconds that no item comes, so the caller can stop."""
        while True:
            try:
                item = self.queue.get(timeout=poll)
            except queue.Empty:
                yield WAITING
                continue
            if item is _END:
                return
            yield item

    def stop(self, wait: float = 2) -> None:
        """Stop, waiting at most `wait` seconds for the thread; one still inside a driver call is left to finish
        it (see `exit_status`)."""
        self.stopped.set()
        self.thread.join(timeout=wait)
        if self.thread.is_alive():
            _LEFT_INSIDE.append(self.thread)


def exit_status(code: int) -> int:
    """A command's exit status, after its outputs are written and closed. When a reader thread is still inside a
    stalled driver call (a network camera's read, which FFmpeg ends only at its 5 s time-out), the process exits
    here at once (os._exit, after flushing stdout and stderr): Python's normal exit would tear OpenCV down under
    that thread and abort."""
    if any(thread.is_alive() for thread in _LEFT_INSIDE):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def quiet_ffmpeg() -> None:
    """Keep FFmpeg's per-frame decoder messages off the terminal: edge counts bad frames in its summary.

    OpenCV reads this once, when it first loads FFmpeg, so it is set before any capture or writer opens;
    a user who sets OPENCV_FFMPEG_LOGLEVEL themselves keeps their level."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def is_network(spec: str) -> bool:
    """rtsp://, rtsps://, http:// or https:// (edge/sources/network.py)."""
    return spec.lower().startswith(("rtsp://", "rtsps://", "http://", "https://"))


def is_live(spec: str) -> bool:
    """A camera, local or on the network: it never ends, so it cannot be looped."""
    return spec == "picam" or spec.isdigit() or is_network(spec)


def open_source(spec: str, options: SourceOptions | None = None) -> Source:
    """`demo`, `picam`, a camera index such as `0`, a network camera's URL, a video file, an image file or a
    folder of images. Each kind's module is imported only when asked for (picamera2 exists only on a Pi)."""
    options = options or SourceOptions()
    if is_network(spec):
        return _kind("network").open_network(spec, options)
    if spec == "demo":
        return _kind("images").open_demo(options.demo_frames, (options.width, options.height))
    if spec == "picam":
        return _kind("picamera").open_picamera(options.width, options.height, options.fps, options.detect_width)
    if spec.isdigit():
        return _kind("opencv").open_camera(int(spec), options.width, options.height)
    path = Path(spec)
    if path.is_dir():
        return _kind("images").open_folder(path)
    if not path.exists():
        raise UserError(
            f"{redact_url(spec)}: no such file, folder or camera (use 0, picam, demo, rtsp://…, http://…, a video or"
            " images)"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _kind("images").open_images([path], path.name)
    return _kind("opencv").open_video(path)


def _kind(module: str) -> ModuleType:
    return importlib.import_module(f"edge.sources.{module}")


def looped(open_again: Callable[[], Source]) -> Source:
    """A finite source replayed forever (`--loop`: a demo to serve), reopened each time it ends.

    Frame numbers and times run on across passes (each pass's numbers shifted past the last one's), so JSONL
    lines stay unique; unreadable inputs are named once; a pass that yields no frame ends the run rather
    than spinning."""
    first = open_again()
    looping = Source(first.name, iter(()), skipped=first.skipped, continuous=first.continuous)
    current = first
    started = time.monotonic()

    def frames() -> Iterator[Frame]:
        nonlocal current
        offset = 0
        while True:
            last = None
            for last in current:
                yield Frame(last.image, offset + last.index, last.name, time.monotonic() - started)
            current.close()
            looping.bad_frames += current.bad_frames
            if last is None:
                return
            offset += last.index + 1
            current = open_again()

    looping.frames = frames()
    looping.close = lambda: current.close()
    return looping

"""Frame sources: webcam, Pi camera, video file, image file or folder, and the built-in demo clip.

Cameras and videos are read on their own thread, so capture and decoding overlap the pipeline's
work. A live camera keeps only the newest frame (the display stays real-time); a file keeps all.
The Pi camera also delivers a small grayscale frame for detection (picamera2's lores stream).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
DEMO_IMAGE = Path(__file__).resolve().parent / "assets" / "astronaut.jpg"
_END = object()
MAX_BAD_IN_A_ROW = 300  # undecodable frames skipped in a row before a video counts as ended (10 s at 30 FPS)


@dataclass
class Frame:
    image: np.ndarray  # BGR (or grayscale) pixels
    index: int
    name: str  # the image file's name, or the source's
    time: float  # seconds since the source opened
    lores: np.ndarray | None = None  # a grayscale detection-size frame from the camera itself (picam)


@dataclass
class Source:
    """An iterator of frames; `skipped` names inputs that could not be read (e.g. a corrupt image).

    `continuous` is False when consecutive frames are unrelated images, so nothing (a face's track, its
    smoothed probabilities) may carry from one to the next. `bad_frames` counts undecodable video frames."""

    name: str
    frames: Iterator[Frame]
    close: Callable[[], None] = lambda: None
    skipped: list[str] = field(default_factory=list)
    continuous: bool = True
    bad_frames: int = 0

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

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)


def _numbered(images: Iterator[np.ndarray], name: str, started: float) -> Iterator[Frame]:
    for index, image in enumerate(images):
        yield Frame(image, index, name, time.monotonic() - started)


def quiet_ffmpeg() -> None:
    """Keep FFmpeg's per-frame decoder messages off the terminal: edge counts bad frames in its summary.

    OpenCV reads this once, when it first loads FFmpeg, so it is set before any capture or writer opens;
    a user who sets OPENCV_FFMPEG_LOGLEVEL themselves keeps their level."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def _decoded(ok: bool, image: np.ndarray | None) -> np.ndarray | None:
    return image if ok else None


def _capture_source(capture: cv2.VideoCapture, name: str, live: bool) -> Source:
    """A camera's frames numbered as they arrive; a file's numbered by their position in the video, so a
    skipped undecodable stretch does not shift the numbers of the frames after it."""
    source = Source(name, iter(()))
    started = time.monotonic()
    if live:
        reader = ThreadedReader(lambda: _decoded(*capture.read()), live)
        numbered = enumerate(reader)
    else:
        reader = ThreadedReader(_skipping_reader(capture, source), live)
        numbered = iter(reader)
    source.frames = (Frame(image, index, name, time.monotonic() - started) for index, image in numbered)

    def close() -> None:
        reader.stop()
        capture.release()

    source.close = close
    return source


def _skipping_reader(capture: cv2.VideoCapture, source: Source) -> Callable[[], tuple[int, np.ndarray] | None]:
    """A file's reader of (position, image) that seeks past frames the decoder cannot decode (a corrupt
    stretch) until the container's frame count is reached or MAX_BAD_IN_A_ROW fail in a row. Failures count
    in `source.bad_frames` once a later frame decodes: failures at the very end are the end (the count is
    often an estimate)."""
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    position = 0

    def read() -> tuple[int, np.ndarray] | None:
        nonlocal position
        for failed in range(MAX_BAD_IN_A_ROW):
            ok, image = capture.read()
            position += 1
            if ok:
                source.bad_frames += failed
                return position - 1, image
            if position >= total:
                break
            capture.set(cv2.CAP_PROP_POS_FRAMES, position)
        return None

    return read


def open_camera(index: int, width: int | None = None, height: int | None = None) -> Source:
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our one-line error says it better
    try:
        capture = cv2.VideoCapture(index)
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if not capture.isOpened():
        raise UserError(f"camera {index}: cannot be opened (not connected, busy, or no permission)")
    if width and height:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return _capture_source(capture, f"camera{index}", live=True)


def lores_size(width: int, height: int, detect_width: int) -> tuple[int, int] | None:
    """The lores stream's size for detection at `detect_width` (None: detect on the main stream). picamera2
    wants it no larger than the main stream and with even sides."""
    if not 0 < detect_width < width:
        return None
    lores_width = detect_width - detect_width % 2
    lores_height = round(height * lores_width / width)
    return lores_width, lores_height - lores_height % 2


def open_picamera(
    width: int = 640, height: int = 480, fps: float = 30.0, detect_width: int = 0, camera_class: type | None = None
) -> Source:
    """The Raspberry Pi camera through picamera2 (apt's python3-picamera2), imported only when asked for.

    With `detect_width` below `width`, a second, low-resolution YUV420 stream of that width comes with each
    frame; its Y plane is the grayscale detection frame, so the Pi never converts or resizes the full frame
    for detection (picamera2's opencv_face_detect_2.py pattern). `camera_class` stands in for Picamera2 in tests.
    """
    if camera_class is None:
        try:
            from picamera2 import Picamera2 as camera_class
        except ImportError:
            raise UserError(
                "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` and use a"
                " venv made with --system-site-packages"
            ) from None
    lores = lores_size(width, height, detect_width)
    streams = {"main": {"size": (width, height), "format": "RGB888"}}
    if lores:
        streams["lores"] = {"size": lores, "format": "YUV420"}
    try:
        camera = camera_class()
        camera.configure(camera.create_video_configuration(**streams, controls={"FrameRate": fps}))
        camera.start()
    except (RuntimeError, IndexError) as exc:
        raise UserError(f"picam: cannot be opened ({exc})") from None

    # picamera2's "RGB888" is laid out B, G, R in memory: already what OpenCV expects.
    def read() -> tuple[np.ndarray, np.ndarray | None]:
        if not lores:
            return camera.capture_array("main"), None
        (image, yuv), _ = camera.capture_arrays(["main", "lores"])
        # YUV420 is the Y plane (height rows) then U and V; rows may be padded beyond the width (the stride).
        return image, yuv[: lores[1], : lores[0]]

    reader = ThreadedReader(read, live=True)
    started = time.monotonic()

    def frames() -> Iterator[Frame]:
        for index, (image, small) in enumerate(reader):
            yield Frame(image, index, "picam", time.monotonic() - started, small)

    def close() -> None:
        reader.stop()
        camera.stop()
        camera.close()

    return Source("picam", frames(), close=close)


def open_video(path: Path) -> Source:
    quiet_ffmpeg()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise UserError(f"{path}: cannot be opened as a video")
    return _capture_source(capture, path.name, live=False)


def open_images(paths: list[Path], name: str) -> Source:
    """Unrelated still images (not continuous); ends with a UserError if not one of them could be read."""
    source = Source(name, iter(()), continuous=False)
    started = time.monotonic()

    def frames() -> Iterator[Frame]:
        index = 0
        for path in paths:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                source.skipped.append(path.name)
                continue
            yield Frame(image, index, path.name, time.monotonic() - started)
            index += 1
        if index == 0 and len(paths) == 1:
            raise UserError(f"{paths[0]}: not a readable image")
        if index == 0:
            raise UserError(f"{name}: none of the {len(paths)} images could be read ({', '.join(source.skipped)})")

    source.frames = frames()
    return source


def demo_frames(count: int = 90, size: tuple[int, int] = (640, 480)) -> Iterator[np.ndarray]:
    """The bundled portrait drifting and zooming across a grey frame: a clip that needs no camera."""
    photo = cv2.imread(str(DEMO_IMAGE), cv2.IMREAD_COLOR)
    if photo is None:
        raise UserError(f"{DEMO_IMAGE}: the demo image is missing from this copy of edge/")
    width, height = size
    base = 0.75 * min(width, height) / max(photo.shape[:2])
    for i in range(count):
        phase = 2 * np.pi * i / max(count, 1)
        scale = base * (1.0 + 0.15 * np.sin(phase))
        shown = photo.shape[1] * scale
        x = (width - shown) / 2 + 0.25 * (width - shown) * np.sin(phase)
        y = (height - photo.shape[0] * scale) / 2 + 0.1 * height * np.cos(phase)
        matrix = np.array([[scale, 0, x], [0, scale, y]], dtype=np.float64)
        yield cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(90, 90, 90))


def open_demo(count: int = 90, size: tuple[int, int] = (640, 480)) -> Source:
    return Source("demo", _numbered(demo_frames(count, size), "demo", time.monotonic()))


def is_live(spec: str) -> bool:
    """A camera: it never ends, so it cannot be looped."""
    return spec == "picam" or spec.isdigit()


def open_source(
    spec: str, width: int = 640, height: int = 480, fps: float = 30.0, demo_frames: int = 90, detect_width: int = 0
) -> Source:
    """`demo`, `picam`, a camera index such as `0`, a video file, an image file or a folder of images.
    `detect_width`: the Pi camera's detection stream width (0: none)."""
    if spec == "demo":
        return open_demo(demo_frames, (width, height))
    if spec == "picam":
        return open_picamera(width, height, fps, detect_width)
    if spec.isdigit():
        return open_camera(int(spec), width, height)
    path = Path(spec)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise UserError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
        return open_images(images, path.name)
    if not path.exists():
        raise UserError(f"{spec}: no such file, folder or camera (use 0, picam, demo, a video or images)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return open_images([path], path.name)
    return open_video(path)


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

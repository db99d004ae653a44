"""A network camera or stream (`--source rtsp://…`, `rtsps://…`, `http(s)://…`) through FFmpeg, kept alive.

Anything pip OpenCV's FFmpeg reads works: RTSP with H.264 or MJPEG, HTTP MJPEG (another fer-edge's
`/stream.mjpg`). The capture runs on its own thread with open and read time-outs, so a stalled network read
never blocks the frame loop; the loop sees `WAITING` every `POLL_S` while no frame comes, and can stop. When the
stream drops, the thread reconnects with capped exponential backoff (`RECONNECT_FIRST_S` doubling up to
`RECONNECT_MAX_S`), counting `reconnects` and `lost_seconds` for the run summary. The URL is only ever shown
through `redact_url`, so a camera's password never reaches a log, a summary, JSONL, the page or MQTT.

A hostile or broken camera cannot take the memory of a Pi: frames over the 50 MP cap (edge/common/limits.py)
are refused from the stream's header when it opens and each time it reopens (OpenCV scales a frame that grows
mid-stream to the size the stream opened with), and no single allocation inside FFmpeg may exceed
`MAX_ALLOC_BYTES`, which bounds one MJPEG part that claims gigabytes (FFmpeg would buffer it whole until the
read time-out: 1.2 GB in 5 s on loopback).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import time
from collections.abc import Iterator

import cv2

from edge.common.errors import UserError
from edge.common.limits import MAX_IMAGE_PIXELS, limit_text, over_limit
from edge.common.urls import redact_url, unescaped_password
from edge.frames import Frame
from edge.sources.base import _END, WAITING, Source, SourceOptions, ThreadedReader, quiet_ffmpeg

TRANSPORTS = ("tcp", "udp")  # --rtsp-transport's choices; the default is SourceOptions.rtsp_transport
OPEN_TIMEOUT_S = 5.0  # connecting and reading the stream's description
READ_TIMEOUT_S = 5.0  # no frame for this long: the stream has dropped
RECONNECT_FIRST_S = 0.5  # the first wait before reconnecting; doubled after each failed try
RECONNECT_MAX_S = 2.0  # the longest wait between tries (a refused try costs nothing; see benchmarks/reconnect.py)
POLL_S = 0.25  # how often the frame loop gets a WAITING while no frame comes (so Ctrl-C stops it)
CAPTURE_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
USER_OPTIONS = os.environ.get(CAPTURE_OPTIONS)  # the user's own, before this module sets it
# FFmpeg's largest single allocation: a BGRA frame at the pixel cap (OpenCV's BGR copy of a frame at the cap is
# one 150 MB block), so frames within the cap decode and one MJPEG part stops growing there.
MAX_ALLOC_BYTES = 4 * MAX_IMAGE_PIXELS


@functools.cache
def cap_ffmpeg_allocations() -> bool:
    """Set FFmpeg's `av_max_alloc` in the libavutil this OpenCV loaded (found in /proc/self/maps, so Linux only:
    elsewhere nothing changes and False is returned)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libavutil" in line}
    except OSError:
        return False
    for path in sorted(paths):
        try:
            ctypes.CDLL(path).av_max_alloc(ctypes.c_size_t(MAX_ALLOC_BYTES))
        except (OSError, AttributeError):
            continue
        return True
    return False


def size_problem(capture: cv2.VideoCapture) -> str | None:
    """Why the stream's frames are refused (over the pixel cap, from its header), or None."""
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return f"{width}x{height} frames are over {limit_text()}" if over_limit(width, height) else None


def capture_options(url: str, transport: str, current: str | None) -> str | None:
    """FFmpeg's options for this URL (OPENCV_FFMPEG_CAPTURE_OPTIONS, `key;value|key;value`): RTSP over
    `transport`, on top of what the user set themselves (their own rtsp_transport wins)."""
    if not url.lower().startswith(("rtsp://", "rtsps://")):
        return current
    if current and "rtsp_transport;" in current:
        return current
    return f"{current}|rtsp_transport;{transport}" if current else f"rtsp_transport;{transport}"


def open_capture(url: str, transport: str) -> cv2.VideoCapture | None:
    """The stream opened through FFmpeg with the time-outs, or None when it cannot be (nothing printed)."""
    quiet_ffmpeg()  # also keeps FFmpeg from logging the URL, credentials and all
    cap_ffmpeg_allocations()
    options = capture_options(url, transport, USER_OPTIONS)
    if options:
        os.environ[CAPTURE_OPTIONS] = options  # OpenCV reads it at each open
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(READ_TIMEOUT_S * 1000),
    ]  # fmt: skip
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # OpenCV's warning would name the URL
    try:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if capture.isOpened():
        return capture
    capture.release()
    return None


class NetworkReader(ThreadedReader):
    """The capture thread: reads frames, and on a drop reconnects with backoff until it is stopped. It owns
    the capture (releases it itself), so stopping never waits for a stalled network call.

    The time without frames (`lost_seconds`) runs from the last frame before a drop (a read that fails or times
    out) to the first frame after it, or to the stop when the camera has not come back by then."""

    def __init__(self, url: str, transport: str, capture: cv2.VideoCapture, source: Source) -> None:
        self.url, self.transport, self.capture, self.source = url, transport, capture, source
        self.lock = threading.Lock()  # guards the two below and the source's counters (the thread and stop)
        self.last_frame = time.monotonic()  # when the last frame came (or the stream opened)
        self.lost_since: float | None = None  # the start of the outage in progress, if any
        super().__init__(lambda: None, live=True)

    def _run(self) -> None:
        try:
            while not self.stopped.is_set():
                ok, image = self.capture.read() if self.capture is not None else (False, None)
                if ok and image is not None:
                    with self.lock:
                        self.last_frame = time.monotonic()
                        if self.lost_since is not None:
                            self.source.reconnects += 1
                            self.source.lost_seconds += self.last_frame - self.lost_since
                            self.lost_since = None
                    self._put(image)
                    continue
                with self.lock:  # the frames stopped at the last one, not when the read gave up on them
                    self.lost_since = self.last_frame if self.lost_since is None else self.lost_since
                self._release()
                self.capture = self._reconnect()
                if self.error:
                    break
        except Exception as exc:  # a driver error ends the stream; the main thread reports it
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._release()
        self._put(_END)

    def _reconnect(self) -> cv2.VideoCapture | None:
        """Try again after 0.5 s, 1 s, then every RECONNECT_MAX_S, until it opens or the run stops."""
        delay = RECONNECT_FIRST_S
        while not self.stopped.wait(delay):
            capture = open_capture(self.url, self.transport)
            if capture is not None:
                self.error = size_problem(capture)  # the camera now sends frames over the cap: the run ends
                if self.error:
                    capture.release()
                    return None
                return capture
            delay = min(delay * 2, RECONNECT_MAX_S)
        return None

    def _release(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None

    def stop(self) -> None:
        """Stop at once: the thread ends by itself when it waits to reconnect or a frame is due; one inside a
        stalled network call is left to FFmpeg's time-out (`exit_status` then ends the process without waiting).
        An outage still open counts up to now."""
        stopping = time.monotonic()
        super().stop(wait=POLL_S)
        with self.lock:
            if self.lost_since is not None:
                self.source.lost_seconds += stopping - self.lost_since
                self.lost_since = None


def lower_scheme(url: str) -> str:
    """The URL with its scheme in lower case: FFmpeg's protocol names are, and `RTSP://` would open nothing."""
    scheme, separator, rest = url.partition("://")
    return scheme.lower() + separator + rest


def open_network(url: str, options: SourceOptions | None = None) -> Source:
    """A live network stream; a UserError (naming the redacted URL) when it cannot be opened at all."""
    options = options or SourceOptions()
    url = lower_scheme(url)
    name = redact_url(url)
    capture = open_capture(url, options.rtsp_transport)
    if capture is None:
        if unescaped_password(url):
            raise UserError(f"{name}: cannot be opened: %-encode a / ? or # in the password (%2F %3F %23)")
        raise UserError(
            f"{name}: cannot be opened (no answer within {OPEN_TIMEOUT_S:g} s, a wrong path or credentials,"
            " or a format FFmpeg does not read)"
        )
    problem = size_problem(capture)
    if problem:
        capture.release()
        raise UserError(f"{name}: {problem}")
    source = Source(name, iter(()))
    reader = NetworkReader(url, options.rtsp_transport, capture, source)
    started = time.monotonic()

    def frames() -> Iterator[Frame | object]:
        index = 0
        for item in reader.items(POLL_S):
            if item is WAITING:
                yield WAITING
                continue
            yield Frame(item, index, name, time.monotonic() - started)
            index += 1
        if reader.error:
            raise UserError(f"{name}: {redact_url(reader.error)}")

    source.frames = frames()
    source.close = reader.stop
    return source

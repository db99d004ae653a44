"""A network camera or stream (`--source rtsp://…`, `rtsps://…`, `http(s)://…`) through FFmpeg, kept alive.

Anything pip OpenCV's FFmpeg reads works: RTSP with H.264 or MJPEG, HTTP MJPEG (another fer-edge's
`/stream.mjpg`). The capture runs on its own thread with open and read time-outs, so a stalled network read
never blocks the frame loop; the loop sees `WAITING` every `POLL_S` while no frame comes, and can stop. When the
stream drops, the thread reconnects with capped exponential backoff (`RECONNECT_FIRST_S` doubling up to
`RECONNECT_MAX_S`), counting `reconnects` and `lost_seconds` for the run summary. The URL is only ever shown
through `redact_url`, so a camera's password never reaches a log, a summary, JSONL, the page or MQTT.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import cv2

from edge.common.errors import UserError
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
    the capture (releases it itself), so stopping never waits for a stalled network call."""

    def __init__(self, url: str, transport: str, capture: cv2.VideoCapture, source: Source) -> None:
        self.url, self.transport, self.capture, self.source = url, transport, capture, source
        super().__init__(lambda: None, live=True)

    def _run(self) -> None:
        lost_since = None
        try:
            while not self.stopped.is_set():
                ok, image = self.capture.read() if self.capture is not None else (False, None)
                if ok and image is not None:
                    if lost_since is not None:
                        self.source.reconnects += 1
                        self.source.lost_seconds += time.monotonic() - lost_since
                        lost_since = None
                    self._put(image)
                    continue
                lost_since = lost_since if lost_since is not None else time.monotonic()
                self._release()
                self.capture = self._reconnect()
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
                return capture
            delay = min(delay * 2, RECONNECT_MAX_S)
        return None

    def _release(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None

    def stop(self) -> None:
        """Stop and wait for the thread: at once when it waits to reconnect or a frame is due, at worst a
        time-out when it is inside a stalled network call. (A thread still inside FFmpeg when Python exits
        would abort the process.)"""
        self.stopped.set()
        self.thread.join(timeout=max(OPEN_TIMEOUT_S, READ_TIMEOUT_S) + 1)


def open_network(url: str, options: SourceOptions | None = None) -> Source:
    """A live network stream; a UserError (naming the redacted URL) when it cannot be opened at all."""
    options = options or SourceOptions()
    name = redact_url(url)
    capture = open_capture(url, options.rtsp_transport)
    if capture is None:
        if unescaped_password(url):
            raise UserError(f"{name}: cannot be opened: %-encode a / ? or # in the password (%2F %3F %23)")
        raise UserError(
            f"{name}: cannot be opened (no answer within {OPEN_TIMEOUT_S:g} s, a wrong path or credentials,"
            " or a format FFmpeg does not read)"
        )
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

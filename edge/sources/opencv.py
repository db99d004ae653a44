"""A camera (`--source 0`) or a video file through OpenCV, read on its own thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge.common.errors import UserError
from edge.common.limits import limit_text, over_limit
from edge.frames import Frame
from edge.sources.base import Source, ThreadedReader, quiet_ffmpeg

MAX_BAD_IN_A_ROW = 300  # undecodable frames skipped in a row before a video counts as ended (10 s at 30 FPS)


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


def open_video(path: Path) -> Source:
    quiet_ffmpeg()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise UserError(f"{path}: cannot be opened as a video")
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if over_limit(width, height):  # each decoded frame would take more memory than a Pi has
        capture.release()
        raise UserError(f"{path}: {width}x{height} frames are over {limit_text()}")
    return _capture_source(capture, path.name, live=False)

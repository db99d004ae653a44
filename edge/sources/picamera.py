"""The Raspberry Pi camera (`--source picam`) through picamera2, with a small grayscale stream for detection."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from edge.common.errors import UserError
from edge.frames import Frame
from edge.sources.base import Source, SourceOptions, ThreadedReader


def lores_size(width: int, height: int, detect_width: int) -> tuple[int, int] | None:
    """The lores stream's size for detection at `detect_width` (None: detect on the main stream). picamera2
    wants it no larger than the main stream and with even sides."""
    if not 0 < detect_width < width:
        return None
    lores_width = detect_width - detect_width % 2
    lores_height = round(height * lores_width / width)
    return lores_width, lores_height - lores_height % 2


def open_picamera(
    width: int = SourceOptions.width,
    height: int = SourceOptions.height,
    fps: float = SourceOptions.fps,
    detect_width: int = 0,
    camera_class: type | None = None,
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

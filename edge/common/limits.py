"""How large an input edge decodes: one cap for images, video frames and network frames, so a Pi with 1-2 GB
of memory survives a hostile file or camera.

OpenCV refuses an image over `OPENCV_IO_MAX_IMAGE_PIXELS` from its header, before allocating it, but it reads
that variable once, when cv2 loads. `edge/__init__` therefore calls `cap_image_decoding` before anything in
edge imports cv2, so `python -m edge` (and any program that imports edge before cv2) decodes no image over the
cap, whatever the user's shell holds. A user who sets the variable themselves keeps their value.
"""

from __future__ import annotations

import os

# The largest image or video frame decoded: a 415 KB PNG of 20000x20000 takes 2.4 GB, and a Pi has 1-8 GB.
MAX_IMAGE_PIXELS = 50_000_000
OPENCV_CAP = "OPENCV_IO_MAX_IMAGE_PIXELS"


def cap_image_decoding() -> None:
    """Set OpenCV's decode cap; must run before the first `import cv2` to take effect."""
    os.environ.setdefault(OPENCV_CAP, str(MAX_IMAGE_PIXELS))


def over_limit(width: int, height: int) -> bool:
    return width * height > MAX_IMAGE_PIXELS


def limit_text() -> str:
    """The cap as the messages name it: `the 50-megapixel limit`."""
    return f"the {MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit"

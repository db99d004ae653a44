"""Reading an image file, for every stage: the one place an image is decoded from a path, under the decode cap.

The cap itself (`OPENCV_IO_MAX_IMAGE_PIXELS`, edge/common/limits.py) only holds when cv2 loads after
`edge/__init__` set it; every stage's package imports edge first (train/, convert/, benchmarks/ `__init__`), so
`python -m train`, `convert`, `edge` and `benchmarks` all refuse an image over it from its header. Here an image
that cannot be read comes back as None, and `unreadable` says why in words a message can use.
"""

from __future__ import annotations

import stat
from pathlib import Path

import cv2
import numpy as np

from edge.common.limits import limit_text
from edge.common.quiet import quiet_stderr


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """The image (BGR, or gray with IMREAD_GRAYSCALE), or None when it cannot be read, is not a regular file (a
    FIFO would block, a device never end), or is over the decode cap (refused from its header)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None
        with quiet_stderr():  # libjpeg and libpng print their warnings on fd 2 themselves (a cut file)
            return cv2.imread(str(path), flags)
    except (OSError, cv2.error):  # cv2.error: over OPENCV_IO_MAX_IMAGE_PIXELS, set before cv2 loaded
        return None


def unreadable(path: Path) -> str:
    """Why an image could not be read: the file's own error (Permission denied), not a file, its size, or its
    content."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            return "not a regular file (a folder, device or FIFO), so not an image"
        with open(path, "rb"):
            pass
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    try:
        with quiet_stderr():
            cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error:
        return f"not read: over {limit_text()} for an image"
    return "not a readable image"

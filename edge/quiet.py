"""Keep what a native library prints straight to file descriptor 2 off the terminal, for one call.

LiteRT announces its XNNPACK delegate and OpenCV's FFmpeg writer reports codec fallbacks on fd 2, where no
Python setting reaches them. edge reports the outcome of both itself, in one line when something is wrong.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point fd 2 at /dev/null while the block runs (Python's own messages are raised, not printed, there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

"""`--show`: the annotated frames in a window; q in the window ends the run."""

from __future__ import annotations

import os
import sys

import cv2

from edge.common.errors import UserError
from edge.outputs.base import Result, Sink

WINDOW = "fer-edge"


class Window(Sink):
    """Refused when made, before the run, where there is no display or no GUI in this OpenCV."""

    pictures = True

    def __init__(self) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UserError("--show needs a display (DISPLAY is not set); use --save or --jsonl instead")
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise UserError("--show: this OpenCV has no GUI support (headless build); use --save or --jsonl") from None
        self.quit = False

    def frame(self, result: Result) -> None:
        cv2.imshow(WINDOW, result.annotated)
        self.quit = cv2.waitKey(1) & 0xFF == ord("q")

    def stop_reason(self) -> str | None:
        return "q pressed" if self.quit else None

    def close(self) -> None:
        cv2.destroyAllWindows()

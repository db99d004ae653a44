"""Lines on stdout or stderr (the per-frame lines, the summary, JSONL to `-`) that never raise."""

from __future__ import annotations

import contextlib
import os
from typing import IO

from edge.common.errors import UserError
from edge.common.text import visible
from edge.frames import Face, Frame
from edge.outputs.base import Result, Sink


class Terminal:
    """Human or JSON lines on stdout/stderr that never raise: a reader that goes away (`| head -2`) or a
    full device (`> /dev/full`) is recorded in `error` for the caller to end the run on, and the stream's
    descriptor is pointed at /dev/null so that nothing later (the interpreter's exit flush) fails again."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def line(self, text: str) -> bool:
        if self.error is not None:
            return False
        try:
            print(visible(text), file=self.stream, flush=True)  # a label or file name cannot drive the terminal
            return True
        except OSError as exc:
            self.error = exc
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            return False

    @property
    def closed_by_reader(self) -> bool:
        return isinstance(self.error, BrokenPipeError)

    def check(self, name: str) -> None:
        """Report a write failure other than a closed pipe (which is how `| head` ends a run) as one line."""
        if self.error is not None and not self.closed_by_reader:
            raise UserError(f"{name}: cannot write ({self.error.strerror})")

    def stop_reason(self) -> str | None:
        """A reader that went away (`| head -2`) has read enough; any other failure (a full device) ends the run."""
        if self.error is None:
            return None
        return "output closed" if self.closed_by_reader else "output failed"


def describe(frame: Frame, faces: list[Face]) -> str:
    found = "; ".join(f"{f.label} {f.confidence:.2f} at {list(f.box)}" for f in faces) or "no face"
    return f"frame {frame.index:>5} {frame.name}: {found}"


class Lines(Sink):
    """One human-readable line per frame (the default; `--quiet` turns it off)."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    def frame(self, result: Result) -> None:
        self.terminal.line(describe(result.frame, result.faces))

    def stop_reason(self) -> str | None:
        return self.terminal.stop_reason()

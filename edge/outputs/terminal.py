"""Lines on stdout or stderr (the per-frame lines, the summary, JSONL to `-`) that never raise."""

from __future__ import annotations

import contextlib
import os
from typing import IO

from edge.common.errors import UserError


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
            print(text, file=self.stream, flush=True)
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

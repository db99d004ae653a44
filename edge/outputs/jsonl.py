"""`--jsonl FILE|-`: one JSON object per frame, flushed per frame; rotated like a log with `--jsonl-max-mb`."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from typing import IO

from edge.common.errors import UserError
from edge.outputs.base import Result, Sink
from edge.outputs.terminal import Terminal

KEEP = 3  # rotated files kept (--jsonl-keep)


class JsonlWriter(Sink):
    """One JSON object per line, flushed per frame so a stopped run leaves a valid file; `-` is stdout.

    With `max_bytes`, the file rotates like a log (`out.jsonl` -> `out.jsonl.1` ... `.keep`), for a
    service that runs for weeks. A failed write (a full disk) is cut back to the last whole line and
    reported as one line.
    """

    def __init__(self, target: str, max_bytes: int = 0, keep: int = KEEP) -> None:
        self.target, self.max_bytes, self.keep = target, max_bytes, keep
        self.stdout = Terminal(sys.stdout)
        self.stream: IO[bytes] | None = None if target == "-" else self._open("ab" if max_bytes else "wb")

    def _open(self, mode: str) -> IO[bytes]:
        try:
            # Unbuffered: each line is one write() that either lands or is cut back, never re-flushed later.
            return open(self.target, mode, buffering=0)
        except OSError as exc:
            raise UserError(f"{self.target}: cannot write JSONL ({exc.strerror})") from None

    def _rotate(self) -> None:
        self.stream.close()
        for index in range(self.keep - 1, 0, -1):
            older = f"{self.target}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{self.target}.{index + 1}")
        os.replace(self.target, f"{self.target}.1")
        self.stream = self._open("ab")

    def frame(self, result: Result) -> None:
        self.write(result.record)

    def stop_reason(self) -> str | None:
        return self.stdout.stop_reason()

    def write(self, record: dict) -> None:
        text = json.dumps(record)
        if self.stream is None:
            if not self.stdout.line(text):
                self.stdout.check("stdout")  # a closed pipe is left to stop_reason: it ends the run quietly
            return
        line = (text + "\n").encode("utf-8")
        good = self.stream.seek(0, os.SEEK_END)
        if self.max_bytes and good and good + len(line) > self.max_bytes:
            self._rotate()
            good = 0
        try:
            if self.stream.write(line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self.stream.fileno(), good)
            raise UserError(f"{self.target}: cannot write JSONL ({exc.strerror}); kept the lines before") from None

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

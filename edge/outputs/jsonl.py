"""`--jsonl FILE|-`: one JSON object per frame, flushed per frame; rotated like a log with `--jsonl-max-mb`."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Callable
from typing import IO

from edge.common.errors import UserError
from edge.common.files import check_writable, is_special
from edge.outputs.base import Result, Sink
from edge.outputs.terminal import Terminal

KEEP = 3  # rotated files kept (--jsonl-keep)


class JsonlWriter(Sink):
    """One JSON object per line, flushed per frame so a stopped run leaves a valid file; `-` is stdout.

    With `max_bytes`, the file rotates like a log (`out.jsonl` -> `out.jsonl.1` ... `.keep`), for a
    service that runs for weeks. A pipe, FIFO or device (`/dev/stdout`) is written as lines come, never
    rotated. A failed write (a full disk) is cut back to the last whole line and ends the run as
    "output failed" with `error` set: the other outputs and the summary are still finished.
    """

    def __init__(self, target: str, max_bytes: int = 0, keep: int = KEEP) -> None:
        self.target, self.max_bytes, self.keep = target, max_bytes, keep
        self.stdout = Terminal(sys.stdout)
        if max_bytes and (target == "-" or is_special(target)):  # checked before opening: a FIFO's open blocks
            raise UserError(
                f"{target}: --jsonl-max-mb rotates a file, this is a pipe or device; give a file or no --jsonl-max-mb"
            )
        # Checked now, emptied only in start(): a run refused after this sink is made (another output's check)
        # must leave an existing file as it was. "ab" changes nothing; a missing file is not created yet.
        self.stream: IO[bytes] | None = None
        special = target != "-" and is_special(target)  # a FIFO or device (/dev/null) is written as it is
        self.empty_at_start = not max_bytes and not special
        if target != "-":
            if max_bytes or special or os.path.exists(target):
                self._open_checked()
            else:
                check_writable(target, "JSONL")
        self.seekable = self.stream is not None and self.stream.seekable()

    def _open_checked(self) -> None:
        self.stream = self._open("ab")
        if self.stream.seekable():
            try:  # a file that cannot be written as a log (/proc/version) fails here, before the first frame
                self.stream.seek(0, os.SEEK_END)
            except OSError as exc:
                self.stream.close()
                raise UserError(f"{self.target}: cannot write JSONL ({exc.strerror})") from None

    def start(self, summary: Callable[[], dict]) -> None:
        """Every check has passed: a new run's file starts empty (without --jsonl-max-mb, which appends)."""
        if self.target == "-":
            return
        if self.stream is None:
            self._open_checked()
            self.seekable = self.stream.seekable()
        elif self.empty_at_start and self.seekable:
            try:
                self.stream.truncate(0)
            except OSError as exc:
                raise UserError(f"{self.target}: cannot write JSONL ({exc.strerror})") from None

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
        if self.error is None:
            self.write(result.record)

    def stop_reason(self) -> str | None:
        return "output failed" if self.error else self.stdout.stop_reason()

    def write(self, record: dict) -> None:
        text = json.dumps(record)
        if self.stream is None:
            if not self.stdout.line(text):
                self.stdout.check("stdout")  # a closed pipe is left to stop_reason: it ends the run quietly
            return
        line = (text + "\n").encode("utf-8")
        good = None
        try:
            if self.seekable:
                good = self.stream.seek(0, os.SEEK_END)
                if self.max_bytes and good and good + len(line) > self.max_bytes:
                    self._rotate()
                    good = 0
            written = 0
            while written < len(line):  # a short write is retried: the retry raises the real reason (ENOSPC, EFBIG)
                count = self.stream.write(line[written:])
                if not count:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                written += count
        except OSError as exc:
            if good is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.stream.fileno(), good)
            self.error = f"{self.target}: cannot write JSONL ({exc.strerror}); kept the lines before"

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

"""Keep what native libraries print straight to file descriptors 1 and 2 off the terminal.

`quiet_stderr`, for one call: LiteRT announces its XNNPACK delegate and OpenCV's FFmpeg writer reports codec
fallbacks on fd 2, where no Python setting reaches them. edge reports the outcome of both itself, in one line
when something is wrong.

`quiet_native`, for a whole command while Python keeps printing: TensorFlow's C++ start-up lines go to fd 2
and `TF_CPP_MIN_LOG_LEVEL` does not remove them all (TF 2.21), and its converter's Python code prints to
stdout, which would break `convert --json`. While the block runs, fd 1 and 2 point at a temporary file and
Python's own `sys.stdout` and `sys.stderr` are rebuilt over copies of the real descriptors: our messages still
reach the terminal, the libraries' do not. Python warnings raised inside are dropped too. `hide_stdout` is for
commands whose own messages inside the block go to stderr and whose stdout must stay machine-readable:
Python-level prints to stdout inside the block are hidden as well (with `enabled` False, for --verbose, they
go to stderr instead). When something other than a UserError escapes the block (a bug, whose traceback
follows), the end of what the libraries wrote is replayed on stderr first, so nothing needed to understand it
is lost.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

from edge.common.errors import UserError

REPLAYED_BYTES = 4000  # how much of the libraries' output is replayed before a bug's traceback


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


def _stream_over(fd: int, like: io.TextIOBase) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        os.fdopen(os.dup(fd), "wb", buffering=0),
        encoding=getattr(like, "encoding", None) or "utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )


@contextlib.contextmanager
def quiet_native(enabled: bool = True, hide_stdout: bool = False) -> Iterator[None]:
    """Within the block, native writes to fd 1/2 are discarded; Python's sys.stdout/sys.stderr still work."""
    if not enabled:
        with contextlib.redirect_stdout(sys.stderr) if hide_stdout else contextlib.nullcontext():
            yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    streams = (sys.stdout, sys.stderr)
    out, err = _stream_over(saved[1], sys.stdout), _stream_over(saved[2], sys.stderr)
    try:
        with tempfile.TemporaryFile() as log, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fd in (1, 2):
                os.dup2(log.fileno(), fd)
            sys.stdout, sys.stderr = (io.StringIO() if hide_stdout else out), err
            try:
                yield
            except Exception as exc:
                if not isinstance(exc, UserError):  # a bug's traceback follows: keep what the libraries said
                    log.seek(0)
                    err.write(log.read()[-REPLAYED_BYTES:].decode(errors="replace"))
                raise
            finally:
                for stream in (out, err):
                    stream.flush()
                for fd in (1, 2):
                    os.dup2(saved[fd], fd)
                sys.stdout, sys.stderr = streams
    finally:
        for fd in saved.values():
            os.close(fd)
        out.close()
        err.close()

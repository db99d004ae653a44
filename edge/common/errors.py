"""The one exception type every stage turns into a one-line message and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

from edge.common.text import visible
from edge.common.urls import redact_text


class UserError(Exception):
    """Bad input from the user (a file, a row, a flag): reported as one line, never a traceback."""

    exit_code = 2


def described(exc: BaseException, limit: int = 160) -> str:
    """An exception as `Type: first line of its message`, for one-line errors about a library's failure."""
    first = (str(exc).strip().splitlines() or [""])[0][:limit]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def run_cli(main: Callable[[], int], prog: str) -> int:
    """Run a stage's main: a UserError becomes `prog: error: message` on stderr and exit code 2.

    Every stage's errors leave here, so this is where a secret the user typed (a camera URL given where a file
    was expected, to any command) is hidden, whatever message echoed it."""
    try:
        return main()
    except UserError as exc:
        print(visible(redact_text(f"{prog}: error: {exc}"), keep=""), file=sys.stderr)  # one line, no secret
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130

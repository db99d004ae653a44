"""The one exception type every stage turns into a one-line message and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input from the user (a file, a row, a flag): reported as one line, never a traceback."""

    exit_code = 2


def run_cli(main: Callable[[], int], prog: str) -> int:
    """Run a stage's main: a UserError becomes `prog: error: message` on stderr and exit code 2."""
    try:
        return main()
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130

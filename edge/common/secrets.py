"""Values that may be secret (a camera URL with its password, the web view's token, the broker's password), read
from the environment or from a file, so that they never need the command line, where `ps` shows them.

A variable NAME may instead be given as NAME_FILE, the path of a file that holds the value: the form containers
pass secrets in (podman and Docker secrets, compose's `secrets:`, mounted at /run/secrets/NAME), because a
value set in a container's environment shows in `podman inspect` and a file's content does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from edge.common.errors import UserError
from edge.common.files import read_capped

FILE_SUFFIX = "_FILE"  # NAME_FILE names the file that holds NAME's value
MAX_SECRET_BYTES = 4096  # a password, token or camera URL: one line


def read_secret(path: str, named_by: str) -> str:
    """The text of a secret's file, without the line break an editor leaves at its end; an unreadable or empty
    file is one line that starts with `named_by` (how the user named the file: `--mqtt-password-file PATH`,
    `NAME_FILE=PATH`), never with the value. Read capped and regular (`read_capped`): a link to /dev/zero would
    be read for ever."""
    if not Path(path).exists():
        raise UserError(f"{named_by}: cannot read it (No such file or directory)")
    try:
        value = read_capped(path, "secret file", MAX_SECRET_BYTES).decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise UserError(f"{named_by}: cannot read it (not UTF-8 text)") from None
    except UserError as exc:
        raise UserError(f"{named_by}: {str(exc).removeprefix(f'{Path(path)}: ')}") from None
    if not value:
        raise UserError(f"{named_by}: the file is empty")
    return value


def from_environment(name: str, environ: Mapping[str, str]) -> str | None:
    """$NAME, else the content of the file $NAME_FILE names, else None (an empty variable counts as unset).
    Both set is refused: which one wins would be a guess."""
    value, path = environ.get(name) or None, environ.get(name + FILE_SUFFIX) or None
    if value is not None and path is not None:
        raise UserError(f"{name} and {name}{FILE_SUFFIX} are both set; give one")
    return read_secret(path, f"{name}{FILE_SUFFIX}={path}") if path is not None else value

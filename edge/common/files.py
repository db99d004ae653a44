"""Write files whole or not at all, so an interrupted run never leaves a half-written model or report.

A regular file is written to a temporary file beside it and renamed over it. Two kinds of target are not
replaced, because replacing them destroys what the user pointed at: a symlink is followed and its real target
is replaced (the link stays), and a FIFO or device (`/dev/null`, `/dev/stdout`, a named pipe) is opened and
written in place.

Temporary files are named `.NAME.tmp-PID-RANDOM` (with NAME's suffix, which some writers need). Every stop
path removes its own; a process killed with SIGKILL cannot, so a process's first write into a folder removes
the temporaries there whose process no longer exists (once per folder: a folder of saved frames gets
thousands of writes).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from edge.common.errors import UserError

TEMP_MARK = ".tmp-"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_swept: set[Path] = set()  # folders this process has already cleared of dead processes' temporaries


def is_special(path: str | os.PathLike) -> bool:
    """A FIFO, device or socket (followed through symlinks): neither a regular file, a folder, nor missing."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def real_target(path: str | os.PathLike) -> Path:
    """Where writing `path` lands: a symlink's final target (followed even when it does not exist yet), or
    `path` itself for a special file (`/dev/stdout` resolves to a `pipe:[...]` name that cannot be opened)."""
    return Path(path) if is_special(path) else Path(os.path.realpath(path))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether `a` and `b` are one file: by device and inode when both exist (symlinks, hard links), else by
    their real paths (an output not written yet, through a symlink)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_distinct(paths: dict[str, str | os.PathLike | None]) -> None:
    """Refuse an output that is the input or another output (option -> path; None: not given), before any work:
    writing it would truncate what is being read, or one output would overwrite another. A FIFO or device
    (`/dev/null` for two outputs) is written in place and may be named twice."""
    named = [(option, path) for option, path in paths.items() if path is not None and not is_special(path)]
    for index, (first, first_path) in enumerate(named):
        for option, path in named[index + 1 :]:
            if same_file(first_path, path):
                kind = "folder" if os.path.isdir(path) else "file"
                raise UserError(f"{path}: {option} and {first} name the same {kind}; give {option} another path")


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # no signal 0 there: os.kill would terminate the process, so leave its files alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def remove_stale_temps(folder: Path) -> None:
    """Remove the temporaries in `folder` left by processes killed before they could clean up (once a process)."""
    if folder in _swept:
        return
    _swept.add(folder)
    for leftover in folder.glob(f".*{TEMP_MARK}*"):
        pid = leftover.name.rsplit(TEMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            with suppress(OSError):
                leftover.unlink()


PROBE_BYTES = 4096  # a probe this size, synced, also finds a disk that is full, not only one that is read-only


def probe_folder(folder: Path, named: str | os.PathLike, what: str) -> None:
    """Fail now, before a long run, if files cannot be written into `folder` (created if missing): permissions,
    a read-only or a full disk. The one line names `named` (what the user gave) and `what` it is for."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".probe{TEMP_MARK}{os.getpid()}-", dir=folder)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{named}: cannot write the {what} here ({exc.strerror or exc})") from None


def check_writable(path: str | os.PathLike, what: str = "output") -> None:
    """Fail now, before a long run, if `path` could not be written at its end (a folder, no permission)."""
    target = real_target(path)
    if target.is_dir():
        raise UserError(f"{path}: is a folder; the {what} needs a file name")
    if is_special(target):
        if not os.access(target, os.W_OK):
            raise UserError(f"{path}: cannot write the {what} here ({os.strerror(13)})")
        return
    probe_folder(target.parent, path, what)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a path to write; a temporary beside `path` is renamed onto it only if the block succeeds.

    `suffix` is for writers that insist on a file extension (Keras wants `.keras` or `.weights.h5`).
    A FIFO or device is yielded as it is, to be written in place. An OSError becomes a one-line UserError.
    """
    target = real_target(path)
    try:
        if is_special(target):
            yield target
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target.parent)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}{TEMP_MARK}{os.getpid()}-",
            suffix=suffix if suffix is not None else target.suffix,
            dir=target.parent,
        )
        os.close(fd)
        tmp = Path(tmp_name)
        umask = os.umask(0)
        os.umask(umask)
        try:
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result should be an ordinary file
            yield tmp
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def check_regular(path: str | os.PathLike, what: str) -> None:
    """Refuse in one line a path that is missing, a folder, or not a regular file (a device such as `/dev/zero`
    never ends, a FIFO blocks): for files read as a stream, whose size is not capped (a FER-2013 CSV)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UserError(f"{path}: no {what} found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        raise UserError(f"{path}: not a regular file (a device, FIFO or socket), so not a {what}")


def read_capped(path: str | os.PathLike, what: str, max_bytes: int) -> bytes:
    """A regular file's bytes, or a one-line UserError naming the file: missing, a folder, a FIFO or device
    (`/dev/zero` would be read forever, a FIFO would block), or over `max_bytes`, checked from its size before
    anything is read and again while reading (a file that grows). Every stage reads untrusted files through this.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens without a writer, not blocks
    except FileNotFoundError:
        raise UserError(f"{path}: no {what} found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        mode, size = os.fstat(fd).st_mode, os.fstat(fd).st_size  # of what was opened: no swap after a check
        if stat.S_ISDIR(mode):
            raise UserError(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(mode):
            raise UserError(f"{path}: not a regular file (a device, FIFO or socket), so not a {what}")
        if size > max_bytes:
            raise UserError(f"{path}: too large for a {what} ({size:,} bytes; at most {max_bytes:,})")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise UserError(f"{path}: too large for a {what} (over {max_bytes:,} bytes)")
    return data


def inside(folder: str | os.PathLike, name: str, what: str) -> Path:
    """`folder/name` for a name that a file (a manifest, a labels.csv) gives, refused in one line when it leaves
    `folder`: absolute, climbing out with `..`, or a link resolving outside it. Every stage that opens paths named
    by a file it reads goes through this, so no such file can make it read (or disclose the size of) another."""
    folder = Path(folder)
    path = folder / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise UserError(f"{path}: the {what} must lie inside {folder} (no absolute path, no ..)")
    if not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder)):
        raise UserError(f"{path}: the {what} is a link to a file outside {folder}")
    return path


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# One folder swapped in whole (the converted model folder, a training run's resume state): its files are written
# into a staging folder beside the target, flushed, then exchanged with the target in one renameat2 call on Linux;
# elsewhere two renames, whose interrupted state the next read or write repairs (`recover`).


def staging_path(target: Path) -> Path:
    return target.parent / f".{target.name}.staging"


def _old_path(target: Path) -> Path:
    return target.parent / f".{target.name}.old"


def real_folder(target: Path) -> Path:
    """Where a folder really is: a symlink's final target, so a swap replaces that folder and keeps the link."""
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def recover(target: Path) -> None:
    """Finish what an interrupted two-rename swap left: put the old folder back if the target is missing."""
    target = real_folder(target)
    old = _old_path(target)
    if old.is_dir() and not target.exists():
        os.rename(old, target)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with Linux renameat2(RENAME_EXCHANGE); False where that is not available."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in(staging: Path, target: Path) -> None:
    """Make the staging folder the target (a symlink's target folder, keeping the link), as one unit; the old
    folder is deleted afterwards.

    An OSError raised here means the old folder is still the target. Once the new one is in place, failing to
    delete the old one is not an error: the next write removes what is left.
    """
    target = real_folder(target)
    recover(target)
    old = _old_path(target)
    shutil.rmtree(old, ignore_errors=True)
    if not target.exists():
        os.rename(staging, target)
    elif _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)
    else:
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)


def sync_folder(folder: Path) -> None:
    """Flush the staging files to disk before the swap, so a power cut cannot swap in empty files."""
    for path in [*folder.iterdir(), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""Writing files so that nothing the user had is lost: a temporary file beside the destination,
synced to the disk, then a rename, and the folder synced: after a crash or a power cut the path
holds the old file or the new one, whole.

What may be written: a new path or a regular file. A directory, a device node (/dev/null,
/dev/full), a FIFO or a socket is refused, never replaced. A symbolic link is written through:
the file it points to is replaced and the link stays, except a link owned by someone else in a
shared sticky folder such as /tmp (the kernel's protected_symlinks rule), which is refused.
A new file gets mode 0666 less the umask, as `open` would give it; a replaced file keeps its mode.
"""
from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path
from typing import NoReturn

from .errors import SpecError

# the temporaries write_atomically leaves only if it is killed: .NAME.XXXXXXXX.tmp (the random
# part from mkstemp's alphabet, so those of older versions are recognised too)
_TEMPORARY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
_NOT_A_FILE_HINT = "give the path of a new file, or of a regular file to replace"


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words (from os.stat's st_mode)."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def require_file(path: str | Path, what: str, hint: str | None = None) -> os.stat_result:
    """The status of `path` (links followed) if it is a regular file; SpecError saying what it is
    otherwise: missing, unreadable, or a directory, device, FIFO or socket (reading a FIFO or a
    device would block or never end). `what` names the file in the message ("model", "data")."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise SpecError(f"no such {what} file: {path}", hint=hint) from None
    except OSError as error:  # a loop of links, a folder that cannot be searched
        raise SpecError(f"cannot read the {what} file {path}: {error.strerror or error}", hint=hint) from None
    if not stat.S_ISREG(status.st_mode):
        raise SpecError(f"the {what} file {path} is {kind_of(status.st_mode)}, not a regular file", hint=hint)
    return status


def read_bounded(path: str | Path, limit: int, own: bool = False) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes; OSError otherwise.
    Checked on the open file, so nothing put in its place meanwhile is read, and opened without
    blocking, so a FIFO there does not wait for a writer. `own`: also refuse a link (not
    followed) and a file of another user (for files read back from a cache)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (getattr(os, "O_NOFOLLOW", 0) if own else 0)
    handle = os.open(path, flags)
    try:
        found = os.fstat(handle)
        if not stat.S_ISREG(found.st_mode) or (own and found.st_uid != os.getuid()):
            raise OSError(f"{path} is not a regular file" + (" of this user's" if own else ""))
        chunks, left = [], limit + 1
        while left and (chunk := os.read(handle, left)):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(handle)
    if not left:
        raise OSError(f"{path} holds more than {limit} bytes")
    return b"".join(chunks)


def _refuse(path, reason: str, hint: str | None = None) -> NoReturn:
    raise SpecError(f"cannot write {path}: {reason}", hint=hint)


def _check_link(path: Path) -> None:
    """Refuse a symlink that someone else planted in a world-writable sticky folder (/tmp):
    following it would let them choose which of our files we overwrite."""
    link, folder = os.lstat(path), os.stat(path.parent)
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    if shared and link.st_uid not in (os.geteuid(), folder.st_uid):
        _refuse(path, "it is a symbolic link owned by another user in a shared folder; it is not followed",
                "give a path that is not a link someone else made")


def check_folder(folder: str | Path, path=None) -> None:
    """SpecError unless files can be made in `folder` (or, if it does not exist yet, in the
    nearest folder above it that does). `path` is what the message names (default the folder)."""
    folder, path = Path(folder), path or folder
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        _refuse(path, "it is not a folder" if existing == path else f"{existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        _refuse(path, f"no permission to write in {existing}")


def destination(path: str | Path) -> Path:
    """The file that writing `path` creates or replaces: `path` itself, or the target of a
    symlink. SpecError (naming `path` and what it is) for anything but a new path or a regular
    file in a folder that can be written."""
    path = Path(path)
    target = path
    try:
        if path.is_symlink():
            _check_link(path)
            target = Path(os.path.realpath(path))
        mode = os.stat(target).st_mode if os.path.lexists(target) else None
    except OSError as error:  # a loop of links, a folder we may not look into
        _refuse(path, error.strerror or str(error))
    if mode is not None and not stat.S_ISREG(mode):
        _refuse(path, f"it is {kind_of(mode)}, not a regular file", _NOT_A_FILE_HINT)
    check_folder(target.parent, path)
    return target


def check_not_read(path: str | Path, read, what: str) -> None:
    """SpecError if writing `path` would replace one of the files `read` (the same file by any
    path or link): the command's own input would be lost. `what` names the output ("--out")."""
    for source in read:
        try:
            same = os.path.samefile(path, source)
        except OSError:  # one of them does not exist (yet): not the same file
            continue
        if same:
            _refuse(path, f"it is {source}, which the command reads; {what} would replace it",
                    f"give {what} another path")


def _create_temporary(target: Path) -> tuple[int, Path]:
    """A new, empty .NAME.XXXXXXXX.tmp beside `target`, opened for writing. Mode 0666 lets the
    kernel apply the umask, as it does for any new file (mkstemp would force 0600)."""
    for _ in range(100):
        name = "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(8))
        temporary = target.with_name(f".{target.name}.{name}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut (the folder's entry is data too); a file
    system that cannot sync a folder is left to its own ordering."""
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write bytes to `path` through a temporary file and a rename, so a crash leaves no half
    file; SpecError (naming the path) if it cannot be written."""
    target = destination(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        kept_mode = stat.S_IMODE(os.stat(target).st_mode) if target.exists() else None
        handle, temporary = _create_temporary(target)
    except OSError as error:
        _refuse(path, error.strerror or str(error))
    try:
        with os.fdopen(handle, "wb") as file:
            if kept_mode is not None:
                os.fchmod(file.fileno(), kept_mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the data reaches the disk before the name does
        os.replace(temporary, target)
        _sync_folder(target.parent)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):  # a full disk, a folder made read-only meanwhile
            _refuse(path, error.strerror or str(error))
        raise


def remove_stale_temporaries(folder: str | Path, names) -> list[Path]:
    """Delete the temporaries write_atomically left in `folder` for files called `names` when
    it was killed mid-write. Only call this while no one else can be writing them (a run lock)."""
    removed = []
    for entry in os.scandir(folder):
        match = _TEMPORARY.fullmatch(entry.name)
        if match and match["name"] in names and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed

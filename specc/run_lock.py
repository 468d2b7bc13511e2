"""One training run per folder at a time.

A run holds an exclusive `flock` on RUN/.specc-train.lock for as long as it writes there; the
file says who holds it (pid, host, start time), for the message another run gets. The kernel
drops the lock when its process dies, however it dies, so a lock file left behind blocks nobody.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .atomic import check_folder, remove_stale_temporaries
from .errors import SpecError

LOCK_NAME = ".specc-train.lock"


def _holder_text(handle: int) -> str:
    """Who holds the lock, in words, from the lock file's content (written right after locking)."""
    try:
        holder = json.loads(os.pread(handle, 4096, 0).decode())
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "starting just now"


class RunLock:
    """`with RunLock(folder, names):` makes the folder if needed, takes its lock (SpecError if
    another run holds it), removes the stale temporaries of the run's files `names`, and on
    leaving releases the lock (and removes the folder if it made it and it stayed empty)."""

    def __init__(self, folder: str | Path, names=()):
        self.folder, self.names = Path(folder), tuple(names)
        self.path = self.folder / LOCK_NAME
        self.handle: int | None = None
        self.made_folder = False

    def __enter__(self) -> RunLock:
        check_folder(self.folder)
        try:
            self.made_folder = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
            self.handle = self._lock()
        except OSError as error:
            raise SpecError(f"cannot write the run folder {self.folder}: {error.strerror or error}") from None
        remove_stale_temporaries(self.folder, self.names)
        return self

    def _lock(self) -> int:
        """The open, locked lock file, now naming this process."""
        while True:
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_text(handle)
                os.close(handle)
                raise SpecError(f"the run folder {self.folder} is in use by another specc train ({holder})",
                                hint="wait for that run to end, or give this one another --out") from None
            # the holder before us may have removed the file between our open and our lock:
            # then we locked a file no one else will see, so try again on the one that is there
            try:
                if os.stat(self.path).st_ino == os.fstat(handle).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(handle)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(handle, 0)
        os.pwrite(handle, json.dumps(holder).encode(), 0)
        return handle

    def __exit__(self, *exc) -> None:
        # unlink before unlocking, so no one can lock the old file once we let go
        self.path.unlink(missing_ok=True)
        os.close(self.handle)
        if self.made_folder:
            try:
                self.folder.rmdir()  # only if nothing was written: a run that failed before it began
            except OSError:
                pass

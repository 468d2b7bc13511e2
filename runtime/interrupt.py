"""Ctrl-C as a flag: while a training run is under way, SIGINT never raises KeyboardInterrupt
(which can land anywhere: inside NumPy, a finalizer, a half-written file, printing `Exception
ignored` lines); it sets `CTRL_C.requested`, and the run stops at the next safe point with a
checkpoint. Imports nothing heavy, so the CLI can install it before it loads NumPy."""
from __future__ import annotations

import signal


class StopFlag:
    """A context manager that turns SIGINT into `requested = True`. Nested uses share one flag
    (the CLI's covers the whole command, the trainer's the epochs), so a Ctrl-C is never lost
    between them."""

    def __init__(self):
        self.requested = False
        self.depth = 0
        self.previous = None

    def __enter__(self) -> StopFlag:
        if self.depth == 0:
            self.requested = False
            self.previous = None
            try:
                # a process started with Ctrl-C ignored (a background job of a script) keeps ignoring it
                if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
                    self.previous = signal.signal(signal.SIGINT, self._request)
            except ValueError:  # not the main thread: Ctrl-C cannot reach us here anyway
                pass
        self.depth += 1
        return self

    def _request(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        self.depth -= 1
        if self.depth == 0 and self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


CTRL_C = StopFlag()  # signals belong to the process: one flag for it

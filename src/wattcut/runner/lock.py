"""One study per output folder: an exclusive lock held for the whole run.

The lock is ``fcntl.flock`` on ``<out>/.wattcut.lock``, which holds the owner's PID. The
kernel drops a flock when its process dies, however it dies, so a lock left by a killed
run is stale by construction and the next run simply takes it over.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from wattcut.errors import UserInputError

LOCK_NAME = ".wattcut.lock"


class OutputLock:
    """Context manager: hold ``<out>/.wattcut.lock`` or refuse with the holder's PID."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserInputError(
                f'Another wattcut run (PID {holder}) is writing into the output folder "{self.path.parent}".',
                "Wait for it to finish, or choose another folder with --out: two runs in one folder would compete "
                "for the CPU and corrupt each other's measurements.",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # a stale PID from a killed run is overwritten here
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

"""One writer per data home and role: ``tradesig feed`` holds the ``feed`` lock, ``tradesig trade start`` the
``trade`` lock. Readers (``history``, ``report``, viewers) never lock.

The lock is ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``HOME/locks/ROLE.lock`` (advisory, released by the kernel when
the process dies — a ``kill -9`` leaves no stale lock). The holder writes its PID into the file so a second
writer can say who holds it. flock(2): locks belong to the open file description, so two opens in one process
conflict too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from tradesig.errors import ConfigError, TradesigError

Role = Literal["feed", "trade"]


class HomeLocked(TradesigError):
    """Another process holds this role's lock on the data home (exit 2)."""


class HomeLock:
    """The ``role`` writer lock of ``home``. :meth:`acquire` raises :class:`HomeLocked` naming the holder's PID,
    or :class:`ConfigError` when the home cannot hold a lock file (unwritable, under a file)."""

    def __init__(self, home: Path | str, role: Role) -> None:
        self.home = Path(home)
        self.role = role
        self.path = self.home / "locks" / f"{role}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot create the {self.role} lock {self.path}: {exc.strerror or exc}",
                              "use a writable data home (--home)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise HomeLocked(f"another 'tradesig {self.role}' (PID {holder}) is writing the data home {self.home}",
                             "stop it first, or use another --home") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@contextlib.contextmanager
def hold(home: Path | str, role: Role) -> Iterator[HomeLock]:
    """``with hold(home, "feed"):`` — the role's writer lock for the block (errors as :meth:`HomeLock.acquire`)."""
    lock = HomeLock(home, role)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


__all__ = ["HomeLock", "HomeLocked", "Role", "hold"]

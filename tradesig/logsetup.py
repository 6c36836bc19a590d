"""Logging of every tradesig process: to stderr, with the syslog priority when stderr is the journal.

Under systemd, stderr is connected to journald and ``$JOURNAL_STREAM`` holds that stream's ``device:inode``
(systemd.exec(5), "$JOURNAL_STREAM"). When stderr matches it, each line starts with its ``<N>`` priority
prefix (sd-daemon(3), SD_ERR … SD_DEBUG; parsed by journald's stream reader) and carries no timestamp, since
journald stamps each entry itself; ``journalctl -p warning`` then shows warnings and worse. Anywhere else (a
terminal, a pipe, a file) the format is ``time LEVEL logger: message``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO

#: Python level → syslog priority, as sd-daemon.h names them (SD_CRIT 2, SD_ERR 3, SD_WARNING 4, SD_INFO 6,
#: SD_DEBUG 7).
SYSLOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"


def syslog_priority(levelno: int) -> int:
    """The sd-daemon priority of a Python log level (a level between two named ones takes the lower one's)."""
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


class JournalFormatter(logging.Formatter):
    """``<N>LEVEL logger: message``; every line of a multi-line record (a traceback) carries the prefix."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def stream_is_journal(stream: IO[str], environ: dict[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journald stream named by ``$JOURNAL_STREAM`` (``device:inode``)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, sep, inode = value.partition(":")
    if not sep or not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def configure_logging(verbose: int = 0, stream: IO[str] | None = None) -> None:
    """Log WARNING and worse (``-v`` INFO, ``-vv`` DEBUG) to ``stream`` (default stderr), in the journal's
    format when it is the journal, else with a timestamp. Replaces handlers set by an earlier call."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter() if stream_is_journal(stream) else logging.Formatter(TERMINAL_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_tradesig", False)]:
        root.removeHandler(old)
    handler._tradesig = True  # type: ignore[attr-defined]
    if not root.handlers:
        root.addHandler(handler)
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))

"""The event log: trading events (signals, orders, fills, risk actions) as append-only JSON lines.

File per IST date of the event time: ``home/events/YYYY-MM-DD.jsonl``; one JSON object per line with ``"kind"``,
``"ts"`` (ISO 8601, UTC, microseconds) and the payload's fields. Each append takes an exclusive ``flock`` on the
file for the duration of one ``write`` + ``fsync``, so lines from several processes never interleave and a line
is on disk when :meth:`EventLog.append` returns. Files are never rewritten. A torn last line (crash mid-write)
is skipped by :meth:`EventLog.read` with a warning.

Idempotent events: a payload carrying ``"key"`` (e.g. a signal's ``symbol|signal|bar_ts``) is appended only if
no event of the same kind with that key is already in the day's file. The check runs under the same lock as
the write, so however many processes follow the hub or restart, one key is recorded once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RESERVED_KEYS = ("kind", "ts")


from tradesig.jsonenc import json_default_utc as _default  # noqa: E402 - the one encoder


class EventLog:
    """Append-only JSONL event files under ``home/events``.

    ``home``: the data home. Appends are fsync'd; reads never block or are blocked by writers.
    """

    def __init__(self, home: Path | str) -> None:
        self.home = Path(home)
        self.directory = self.home / "events"

    def path(self, day: date) -> Path:
        return self.directory / f"{day.isoformat()}.jsonl"

    def append(self, kind: str, payload: dict[str, Any], ts: datetime) -> bool:
        """Append one event. ``ts``: aware event time (stored as ISO UTC; the file is chosen by its IST date).
        Returns False (and writes nothing) when the payload has a ``key`` already recorded for ``kind`` that day.

        Raises ValueError for a naive ``ts``, an empty ``kind``, or a payload using the keys "kind"/"ts";
        TypeError when the payload is not JSON-serialisable (datetimes, dates, enums, dataclasses are).
        """
        if ts.tzinfo is None:
            raise ValueError("event ts must be timezone-aware")
        if not kind:
            raise ValueError("event kind must not be empty")
        clash = [k for k in RESERVED_KEYS if k in payload]
        if clash:
            raise ValueError(f"payload must not use the reserved keys {clash}")
        from tradesig.clock import ist_date

        record = {"kind": kind, "ts": ts.astimezone(UTC).isoformat(timespec="microseconds"), **payload}
        line = (json.dumps(record, default=_default, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        first = not self.directory.is_dir()
        if first:
            self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(ist_date(ts)), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                key = payload.get("key")
                if key is not None and self._has_key(fd, kind, str(key)):
                    return False
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        if first:  # the events view of tradesig.duckdb becomes a glob (see tradesig.store.db)
            from tradesig.store.db import write_catalog

            write_catalog(self.home)
        return True

    @staticmethod
    def _has_key(fd: int, kind: str, key: str) -> bool:
        """Whether the (locked) file behind ``fd`` holds an event of ``kind`` with payload ``key``."""
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
        needle = json.dumps(key, ensure_ascii=False).encode()
        if needle not in data:
            return False
        for raw in data.split(b"\n"):
            if needle in raw:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if record.get("kind") == kind and record.get("key") == key:
                    return True
        return False

    def read(self, start_date: date, end_date: date | None = None,
             kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Events of the IST dates ``start_date..end_date`` (inclusive; default one day), in file order, as the
        dicts written (``ts`` stays an ISO UTC string). ``kinds``: keep only these kinds."""
        end_date = end_date or start_date
        wanted = set(kinds) if kinds is not None else None
        out: list[dict[str, Any]] = []
        day = start_date
        while day <= end_date:
            path = self.path(day)
            if path.exists():
                out.extend(self._read_file(path, wanted))
            day += timedelta(days=1)
        return out

    @staticmethod
    def _read_file(path: Path, wanted: set[str] | None) -> list[dict[str, Any]]:
        data = path.read_bytes()
        lines = data.split(b"\n")
        out = []
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            last = number == len(lines)  # no newline after it: possibly torn
            try:
                record = json.loads(raw)
            except ValueError:
                if last:
                    log.warning("events %s: torn last line %d ignored (%d bytes)", path, number, len(raw))
                else:
                    log.warning("events %s: line %d is not JSON, skipped", path, number)
                continue
            if wanted is None or record.get("kind") in wanted:
                out.append(record)
        return out


__all__ = ["EventLog"]

"""The journal: raw websocket frames exactly as received, with their receive time — the feed's source of truth.

Layout: ``home/journal/YYYY-MM-DD/seg-<UTC stamp>-<pid>.bin`` (IST date of the receive time). Each
:class:`Journal` writer opens its own segment per date (one writer per file; a restart never appends after a
possibly torn tail). Record format (big-endian)::

    u32 length of payload | i64 recv_ts (µs since the Unix epoch, UTC) | u32 CRC-32 of payload | payload

:meth:`Journal.append` buffers; :meth:`Journal.flush` writes the batch out and fsyncs (call it once per received
batch). After a crash the last record may be truncated: readers stop at the first incomplete or CRC-failing
record of a segment, report it (:attr:`JournalScan.torn`) and yield everything before it.

Recovery: every record has a :class:`JournalPosition` (date, segment, offset, next offset). The feed remembers the
position of the last record it has durably processed and resumes with ``records(date, after=position)`` — each
record is then processed exactly once.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IqI")
MAX_RECORD = 64 * 1024 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class JournalPosition:
    """Where a record lives: ``segment`` file name within ``journal/<date>``, byte ``offset`` of its header,
    ``next_offset`` just after it. Ordered by (date, segment, offset); segment names sort by creation time."""

    date: date
    segment: str
    offset: int
    next_offset: int


@dataclass(frozen=True)
class JournalRecord:
    """One frame: aware UTC ``recv_ts``, the raw bytes, and its position."""

    recv_ts: datetime
    data: bytes
    position: JournalPosition


@dataclass
class TornTail:
    """A segment whose tail is incomplete or corrupt: bytes from ``offset`` on (``length`` of them) are ignored."""

    segment: str
    offset: int
    length: int
    reason: str


@dataclass
class JournalScan:
    """Result of :meth:`Journal.scan`: the records of a date and any torn tails found."""

    records: list[JournalRecord] = field(default_factory=list)
    torn: list[TornTail] = field(default_factory=list)


def _to_us(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError("recv_ts must be timezone-aware")
    delta = ts.astimezone(UTC) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class Journal:
    """Writer and reader of the raw-frame journal under ``home/journal``.

    A writer instance owns the segments it creates; readers (any process) use :meth:`records`, :meth:`read` or
    :meth:`scan` and see everything flushed so far.
    """

    def __init__(self, home: Path | str) -> None:
        self.home = Path(home)
        self.directory = self.home / "journal"
        self._fh: BinaryIO | None = None
        self._day: date | None = None
        self._segment: str | None = None
        self._offset = 0
        self._buffer: list[bytes] = []
        #: bytes written to the segment since its last fsync
        self._unsynced = False
        #: [start, end) of the current segment's IST date in µs since the epoch (append's same-day check)
        self._day_us = (0, 0)
        self.torn: list[TornTail] = []

    # ------------------------------------------------------------------ writing
    def _open_segment(self, day: date, recv_ts: datetime) -> None:
        self._close_segment()
        directory = self.directory / day.isoformat()
        directory.mkdir(parents=True, exist_ok=True)
        name = f"seg-{recv_ts.astimezone(UTC).strftime('%Y%m%dT%H%M%S%f')}-{os.getpid()}.bin"
        path = directory / name
        n = 0
        while path.exists():  # two segments opened in the same microsecond by this pid
            n += 1
            path = directory / name.replace(".bin", f"-{n}.bin")
        self._fh = open(path, "xb")  # noqa: SIM115 - kept open across calls, closed by close()
        self._day, self._segment, self._offset = day, path.name, 0
        from tradesig.clock import IST

        midnight = _to_us(datetime(day.year, day.month, day.day, tzinfo=IST))
        self._day_us = (midnight, _to_us(datetime.combine(day + timedelta(days=1), datetime.min.time(), IST)))

    def _close_segment(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    def append(self, frame: bytes, recv_ts: datetime) -> JournalPosition:
        """Add one raw frame received at aware ``recv_ts``; buffered until :meth:`flush`. Returns its position.

        A new IST date starts a new segment (in ``journal/<new date>``). ValueError for a naive ``recv_ts``.
        Called once per received frame: the IST date is only worked out when ``recv_ts`` leaves the current
        segment's day."""
        us = _to_us(recv_ts)
        if len(frame) > MAX_RECORD:
            raise ValueError(f"frame of {len(frame)} bytes exceeds the journal limit {MAX_RECORD}")
        if self._fh is None or not self._day_us[0] <= us < self._day_us[1]:
            from tradesig.clock import ist_date

            day = ist_date(recv_ts)
            if self._fh is None or day != self._day:
                self._open_segment(day, recv_ts)
        record = HEADER.pack(len(frame), us, zlib.crc32(frame)) + frame
        self._buffer.append(record)
        start = self._offset
        self._offset = end = start + len(record)
        return JournalPosition(self._day, self._segment, start, end)  # type: ignore[arg-type]

    def flush(self, fsync: bool = True) -> None:
        """Write the buffered records to the segment and (by default) fsync: call once per received batch."""
        if self._fh is None:
            return
        if self._buffer:
            self._fh.write(b"".join(self._buffer))
            self._buffer.clear()
            self._fh.flush()
            self._unsynced = True
        if fsync and self._unsynced:
            os.fsync(self._fh.fileno())
            self._unsynced = False

    def sync_handle(self) -> int | None:
        """Write the buffered records out and return a duplicate file descriptor of the segment for the caller to
        ``os.fsync`` and ``os.close`` (on another thread: the fsync then does not block this one); None when
        everything written is already fsync'd. The segment counts as fsync'd from here on: the caller's fsync
        covers every byte written so far, even if the segment is closed meanwhile."""
        self.flush(fsync=False)
        if self._fh is None or not self._unsynced:
            return None
        self._unsynced = False
        return os.dup(self._fh.fileno())

    def close(self) -> None:
        """Flush and close the current segment."""
        self._close_segment()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def segments(self, day: date) -> list[Path]:
        """Segment files of an IST date, in creation order."""
        directory = self.directory / day.isoformat()
        return sorted(directory.glob("seg-*.bin")) if directory.is_dir() else []

    def dates(self) -> list[date]:
        """IST dates that have a journal directory."""
        if not self.directory.is_dir():
            return []
        out = []
        for p in self.directory.iterdir():
            try:
                out.append(date.fromisoformat(p.name))
            except ValueError:
                continue
        return sorted(out)

    def records(self, day: date, after: JournalPosition | None = None) -> Iterator[JournalRecord]:
        """Records of ``day`` in order; with ``after``, only those strictly after that position (recovery).

        A torn tail ends its segment: it is logged once and appended to :attr:`torn`."""
        for path in self.segments(day):
            if after is not None and (day, path.name) < (after.date, after.segment):
                continue
            start = after.next_offset if after is not None and (day, path.name) == (after.date, after.segment) \
                else 0
            yield from self._segment_records(day, path, start)

    def _segment_records(self, day: date, path: Path, start: int) -> Iterator[JournalRecord]:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(start)
            offset = start
            while offset < size:
                header = fh.read(HEADER.size)
                reason = None
                if len(header) < HEADER.size:
                    reason = "truncated header"
                else:
                    length, us, crc = HEADER.unpack(header)
                    if length > MAX_RECORD:
                        reason = f"implausible length {length}"
                    else:
                        data = fh.read(length)
                        if len(data) < length:
                            reason = f"truncated record ({len(data)} of {length} bytes)"
                        elif zlib.crc32(data) != crc:
                            reason = "CRC mismatch"
                if reason is not None:
                    torn = TornTail(path.name, offset, size - offset, reason)
                    self.torn.append(torn)
                    log.warning("journal %s: torn tail at offset %d (%d bytes ignored): %s",
                                path, offset, size - offset, reason)
                    return
                end = offset + HEADER.size + length
                yield JournalRecord(_from_us(us), data, JournalPosition(day, path.name, offset, end))
                offset = end

    def read(self, day: date) -> Iterator[tuple[datetime, bytes]]:
        """``(recv_ts, frame)`` of every intact record of ``day``, in order (torn tails skipped and reported)."""
        for record in self.records(day):
            yield record.recv_ts, record.data

    def scan(self, day: date) -> JournalScan:
        """All intact records of ``day`` plus the torn tails found (for checks and reports)."""
        before = len(self.torn)
        records = list(self.records(day))
        return JournalScan(records, self.torn[before:])


__all__ = ["Journal", "JournalPosition", "JournalRecord", "JournalScan", "TornTail"]

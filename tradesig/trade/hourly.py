"""The engine's bars: :class:`MinuteBar` (what the feed delivers) and :class:`HourlyAggregator` (session-aligned
hourly bars built live, equal to ``tradesig.store.bars.resample(…, "1h")``), and :func:`hourly_bar_end`.

Prices in index points; times aware (UTC in, UTC out); session hours and the hourly grid from tradesig.store.bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tradesig.clock import IST, to_ist
from tradesig.store.session import ANCHOR_MINUTE, session_hours

__all__ = ["MinuteBar", "HourlyAggregator", "hourly_bar_end"]


@dataclass(frozen=True)
class MinuteBar:
    """A bar as the engine consumes it: ``ts`` aware start, prices in index points, ``minutes`` its length."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    minutes: int = 1

    @classmethod
    def from_row(cls, row: Mapping[str, Any], minutes: int = 1) -> MinuteBar:
        return cls(row["ts"], float(row["open"]), float(row["high"]), float(row["low"]), float(row["close"]),
                   minutes)


class HourlyAggregator:
    """Builds closed session-aligned hourly bars (09:15, 10:15 … 14:15 and the short 15:15–15:30 bar; the
    grid and session hours of tradesig.store.bars) from 1-minute bars arriving in order — the live counterpart of
    ``tradesig.store.bars.resample(…, "1h")``. Minutes outside the regular session are ignored.

    ``add(bar)`` returns the hourly bars it closes: the previous bucket when a bar of a later bucket arrives, and
    the bar's own bucket when the bar ends on the bucket's end. ``flush(now)`` closes a bucket whose end passed.
    ``add_late(bar)`` takes a minute that arrives after a later one of the same, still open, bucket (a feed that
    republishes backfilled minutes out of order).
    """

    def __init__(self) -> None:
        self._key: tuple[date, int] | None = None
        self._end: datetime | None = None
        self._bar: list[float] | None = None
        self._start: datetime | None = None
        self._minutes: set[datetime] = set()

    def _bucket(self, ts: datetime) -> tuple[date, int, datetime, datetime] | None:
        local = to_ist(ts)
        minute = local.hour * 60 + local.minute
        open_m, close_m = session_hours(local.date())
        if not open_m <= minute < close_m:
            return None
        anchor = ANCHOR_MINUTE if open_m <= ANCHOR_MINUTE else open_m
        if minute < anchor:
            return None
        start_m = anchor + (minute - anchor) // 60 * 60
        end_m = min(start_m + 60, close_m)
        midnight = datetime.combine(local.date(), time(0), tzinfo=IST)
        return local.date(), start_m, midnight + timedelta(minutes=start_m), midnight + timedelta(minutes=end_m)

    def _emit(self) -> dict[str, Any] | None:
        if self._bar is None:
            return None
        o, h, low, c = self._bar
        assert self._start is not None and self._end is not None
        out = {"ts": self._start.astimezone(UTC), "open": o, "high": h, "low": low, "close": c,
               "end": self._end.astimezone(UTC)}
        self._key = self._bar = self._start = self._end = None
        self._minutes = set()
        return out

    def add_late(self, bar: MinuteBar) -> bool:
        """Merge a minute older than the newest one added into the open bucket: high/low, and the open when it
        is the bucket's earliest minute so far. False (ignored) when its bucket is not the open one or the minute
        was already added."""
        bucket = self._bucket(bar.ts)
        if bucket is None or self._bar is None or self._key != bucket[:2] or bar.ts in self._minutes:
            return False
        self._bar[1] = max(self._bar[1], bar.high)
        self._bar[2] = min(self._bar[2], bar.low)
        if bar.ts < min(self._minutes):
            self._bar[0] = bar.open
        self._minutes.add(bar.ts)
        return True

    def add(self, bar: MinuteBar) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        bucket = self._bucket(bar.ts)
        if bucket is None:
            return out
        day, start_m, start, end = bucket
        if self._key is not None and self._key != (day, start_m):
            closed = self._emit()
            if closed:
                out.append(closed)
        if self._bar is None:
            self._key, self._start, self._end = (day, start_m), start, end
            self._bar = [bar.open, bar.high, bar.low, bar.close]
        else:
            self._bar[1] = max(self._bar[1], bar.high)
            self._bar[2] = min(self._bar[2], bar.low)
            self._bar[3] = bar.close
        self._minutes.add(bar.ts)
        if bar.ts + timedelta(minutes=bar.minutes) >= end:
            closed = self._emit()
            if closed:
                out.append(closed)
        return out

    def flush(self, now: datetime | None = None) -> list[dict[str, Any]]:
        if self._bar is None or (now is not None and self._end is not None and now < self._end):
            return []
        closed = self._emit()
        return [closed] if closed else []



def hourly_bar_end(ts: datetime) -> datetime:
    """End (aware UTC) of the session-aligned hourly bar starting at ``ts``: one hour later, or the session close
    for the short last bar (session hours of tradesig.store.bars)."""
    if ts.tzinfo is UTC:  # a backtest's bars: the arithmetic in UTC, the session close looked up once per date
        day = ts.astimezone(IST).date()
        close_utc = _CLOSES_UTC.get(day)
        if close_utc is None:
            _, close_m = session_hours(day)
            close_utc = _CLOSES_UTC[day] = (datetime.combine(day, time(0), tzinfo=IST)
                                            + timedelta(minutes=close_m)).astimezone(UTC)
        end_utc = ts + _HOUR
        return min(end_utc, close_utc) if ts < close_utc else end_utc
    local = to_ist(ts)
    _, close_m = session_hours(local.date())
    close = datetime.combine(local.date(), time(0), tzinfo=IST) + timedelta(minutes=close_m)
    end = local + timedelta(hours=1)
    return min(end, close).astimezone(ts.tzinfo) if local < close else end.astimezone(ts.tzinfo)




_HOUR = timedelta(hours=1)
#: IST date -> its session's close, aware UTC (hourly_bar_end; the session hours of a date never change in a run)
_CLOSES_UTC: dict[date, datetime] = {}

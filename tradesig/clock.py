"""Time: IST/UTC helpers and the ``Clock`` interface.

Nothing outside this module reads the wall clock (``datetime.now()``): strategy, order, risk, signal and feed
logic take a :class:`Clock`, so backtest, paper and live differ only in which clock they are given.
Timestamps are stored timezone-aware in UTC and shown in IST (Asia/Kolkata, UTC+05:30, no DST).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


class Clock(Protocol):
    """Market time and waiting, for everything that trades (NautilusTrader's clock owns time *and* waiting).

    ``now()`` the market's time, timezone-aware UTC; ``monotonic()`` seconds of the broker's clock, for rate
    limits and timeouts (the wall clock live and against a replaying sim); ``sleep(seconds)`` waits ``seconds``
    of *market* time (a replay clock scales them by its ``speed``; a manual clock advances); ``speed`` market
    seconds per monotonic second (1.0 except when following a replay).
    """

    speed: float

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real wall clock (UTC) and the process monotonic clock, in seconds; ``sleep`` blocks the thread."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to: for tests, backtests and the sim's replay.

    ``start`` must be timezone-aware. ``advance`` and ``set`` never move time backwards
    (``ValueError``), so event order stays causal. ``sleep(seconds)`` advances the clock (a wait costs market
    time and returns at once).
    """

    speed = 1.0

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta | float) -> datetime:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware time")
        utc = when.astimezone(UTC)  # ``when`` itself when it is in UTC
        now = self.advance(utc - self._now)
        if now == utc:  # keep the caller's object (the same instant): look-ups keyed by identity (to_ist) then hit
            self._now = now = utc
        return now


def last_completed_session(calendar: Any, ts: datetime) -> date:
    """The IST date of the last session whose continuous trading had ended by aware ``ts``: today once its close
    (15:30 IST, or a special session's close) has passed, otherwise the previous trading day. The one rule for
    "which day" of jobs run after the close or caught up later (``report`` without ``--date``).

    ``calendar``: a :class:`tradesig.calendar.MarketCalendar` (its ``session(day)`` and
    ``previous_trading_day(day)``; session times per the NSE/BSE market timings it documents). Raises what those
    raise (``CalendarCoverageError`` outside its coverage) and ``ValueError`` for a naive ``ts``.
    """
    local = to_ist(ts)
    session = calendar.session(local.date())
    if session is not None and local >= session.close:
        return local.date()
    return calendar.previous_trading_day(local.date())


def to_ist(ts: datetime) -> datetime:
    """Convert an aware datetime to IST. A naive datetime is refused (``ValueError``): its zone is unknown.

    The last answer is kept for the same datetime object (an engine asks again and again about its clock's
    ``now()``, and a conversion to a ZoneInfo zone costs microseconds; datetimes are immutable)."""
    global _LAST_IST
    last = _LAST_IST
    if last[0] is ts:
        return last[1]
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()} has no time zone")
    local = ts.astimezone(IST)
    _LAST_IST = (ts, local)
    return local


#: (the datetime last converted by to_ist, its IST value): one tuple, replaced whole, so threads see a pair
_LAST_IST: tuple[datetime | None, datetime] = (None, datetime(1970, 1, 1, tzinfo=IST))


def ist(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An aware IST datetime from its parts (convenience for tests and fixed times)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=IST)


def ist_date(ts: datetime) -> date:
    """The IST calendar date of an aware datetime: the trading date it belongs to."""
    return to_ist(ts).date()


def parse_datetime_ist(text: str) -> datetime:
    """Parse ``YYYY-MM-DD[ HH:MM[:SS]]`` or ISO 8601; a value without a zone is taken as IST.

    Raises ``ValueError`` with the offending text when it is not a date/time.
    """
    value = text.strip().replace("T", " ", 1) if "T" in text and "+" not in text else text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not a date/time: {text!r} (use YYYY-MM-DD or 'YYYY-MM-DD HH:MM')") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=IST)


def parse_date(text: str) -> date:
    """Parse ``YYYY-MM-DD``; raises ``ValueError`` naming the text otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)") from exc

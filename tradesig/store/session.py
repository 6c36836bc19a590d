"""The regular-session model of the bars, without polars: intervals, the 09:15 anchor, the session eras and a
date's session hours and breaks (minutes after midnight IST). :mod:`tradesig.store.bars` re-exports all of it;
the module exists so that code needing only the session (the engine's hourly bars, the backtest's bar cache) does
not import polars. Sources of the eras: :mod:`tradesig.store.bars`' docstring (NSE announcements).
"""

from __future__ import annotations

from datetime import date

#: Supported intervals, finest first.
INTERVALS: tuple[str, ...] = ("1m", "5m", "15m", "1h", "4h", "1d")
STATUSES: tuple[str, ...] = ("complete", "partial", "backfilled")

_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 24 * 60}
ANCHOR_MINUTE = 9 * 60 + 15  # 09:15 IST, minutes after midnight

# (first date of the era, open minute, close minute) — see the module docstring for sources.
SESSION_ERAS: tuple[tuple[date, int, int], ...] = (
    (date(1990, 1, 1), 9 * 60 + 55, 15 * 60 + 30),
    (date(2010, 1, 4), 9 * 60, 15 * 60 + 30),
    (date(2010, 10, 18), 9 * 60 + 15, 15 * 60 + 30),
)


def interval_minutes(interval: str) -> int:
    """Length of ``interval`` in minutes (``1d`` = 1440; a daily bar is the whole session). ValueError if unknown."""
    try:
        return _MINUTES[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; use one of {', '.join(INTERVALS)}") from None


def _special_sessions() -> dict[date, tuple[int, int, tuple[tuple[int, int], ...]]]:
    from tradesig.calendar import special_session_minutes  # the shipped special sessions (no pandas)

    return special_session_minutes()


def session_breaks(day: date) -> tuple[tuple[int, int], ...]:
    """Breaks without continuous trading inside ``day``'s session (a special session's, e.g. a DR drill's), as
    (start, end) minutes after midnight IST, end exclusive; () on a regular day."""
    special = _special_sessions().get(day)
    return special[2] if special else ()


def session_hours(day: date) -> tuple[int, int]:
    """Regular-session (open, close) of ``day`` as minutes after midnight IST; the close minute is exclusive.
    A special session of the shipped calendar (Muhurat, budget weekend, DR drill; tradesig.calendar) has its own
    hours."""
    special = _special_sessions().get(day)
    if special:
        return special[0], special[1]
    hours = SESSION_ERAS[0][1:]
    for first, open_m, close_m in SESSION_ERAS:
        if day >= first:
            hours = (open_m, close_m)
    return hours


__all__ = ["INTERVALS", "STATUSES", "ANCHOR_MINUTE", "SESSION_ERAS", "interval_minutes", "session_hours",
           "session_breaks"]

"""Weekly zones: the context the S1–S8 signals read, computed from the previous week's bars (pure, no I/O).

Specification: shared/SIGNALS.md, "Weekly context". From the previous week (the last week with at least 20
hourly bars): ``pw_high``, ``pw_low``, ``pw_close`` (close of its last hourly bar); ``max_body`` / ``min_body``
= the highest max(open, close) / lowest min(open, close) over its session-anchored 4-hour bars (09:15–13:15 and
13:15–15:30 IST). Resistance zone [min(pw_high, max_body), max(pw_high, max_body)], support zone
[min(pw_low, min_body), max(pw_low, min_body)], margins max(3·zone width, 5 ticks), bias from which body
extreme the previous close is nearer to.

Prices are index points (rupees for the index value); timestamps are aware datetimes (bar *start*), weeks are
Monday–Sunday in IST (a Saturday/Sunday special session belongs to the week of the Monday before it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, ClassVar

from tradesig.clock import IST
from tradesig.market import TICK_SIZE

#: A week needs at least this many closed hourly bars to serve as "the previous week" (SIGNALS.md).
MIN_WEEK_BARS = 20
#: Start of the second session-anchored 4-hour bar, IST (the first is 09:15–13:15).
FOUR_HOUR_SPLIT = time(13, 15)


class Bias(str, Enum):
    """Weekly bias: which previous-week body extreme the previous close is nearer to."""

    BULLISH = "BULLISH"
    BEARISH = "BEARISH"
    NEUTRAL = "NEUTRAL"


@dataclass(frozen=True)
class HourlyBar:
    """One closed hourly bar: ``ts`` aware datetime of the bar start (UTC or IST), prices in index points."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float

    #: ``ts`` in IST, and ``day`` the bar's IST trading date: set on each bar when it is made (not dataclass
    #: fields: not in asdict/repr/eq), since the signal rules ask for them on every bar of the week
    ist: ClassVar[datetime]
    day: ClassVar[date]

    def __post_init__(self) -> None:
        local = self.ts.astimezone(IST)
        object.__setattr__(self, "ist", local)
        object.__setattr__(self, "day", local.date())


def as_hourly_bar(bar: Any) -> HourlyBar:
    """Coerce a mapping (a polars row dict with BAR_SCHEMA keys) or an object with ``ts, open, high, low,
    close`` attributes into :class:`HourlyBar`. Raises ``ValueError`` for a naive ``ts``."""
    if isinstance(bar, HourlyBar):
        return bar
    get = bar.__getitem__ if type(bar) is dict or isinstance(bar, Mapping) else (lambda k: getattr(bar, k))
    ts = get("ts")
    if ts.tzinfo is None:
        raise ValueError(f"bar ts {ts.isoformat()} is naive; bars carry aware timestamps")
    return HourlyBar(ts=ts, open=float(get("open")), high=float(get("high")), low=float(get("low")),
                     close=float(get("close")))


def week_start(day: date) -> date:
    """The Monday of ``day``'s Monday–Sunday week (the key of a trading week)."""
    monday = _MONDAYS.get(day)
    if monday is None:
        monday = _MONDAYS[day] = day - timedelta(days=day.weekday())
    return monday


#: date -> week_start(date), asked for on every hourly bar (a few thousand dates in a long backtest)
_MONDAYS: dict[date, date] = {}


def four_hour_bodies(bars: Sequence[HourlyBar]) -> list[tuple[float, float]]:
    """(open, close) of each session-anchored 4-hour bar built from hourly bars, in order.

    A 4-hour bar is 09:15–13:15 or 13:15–15:30 IST of one date: its open is the open of its first hourly bar,
    its close the close of its last. Only open/close are needed for the body extremes.
    """
    out: list[tuple[float, float]] = []
    key: tuple[date, bool] | None = None
    for b in bars:
        local = b.ist
        k = (local.date(), local.time() >= FOUR_HOUR_SPLIT)
        if k != key:
            out.append((b.open, b.close))
            key = k
        else:
            out[-1] = (out[-1][0], b.close)
    return out


@dataclass(frozen=True)
class WeeklyContext:
    """The zones, margins and bias of one week, from the previous week's bars (index points).

    ``week`` is the Monday of the week the context applies to; ``source_week`` the Monday of the week it was
    computed from; ``source_bars`` how many hourly bars that week had.
    """

    week: date
    source_week: date
    source_bars: int
    pw_high: float
    pw_low: float
    pw_close: float
    max_body: float
    min_body: float
    res_bottom: float
    res_top: float
    sup_bottom: float
    sup_top: float
    margin_high: float
    margin_low: float
    bias: Bias

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (dates ISO, bias as its name) for JSON and the events log."""
        data = {name: getattr(self, name) for name in _CONTEXT_FIELDS}  # every value a scalar: asdict's copy
        data["week"] = self.week.isoformat()
        data["source_week"] = self.source_week.isoformat()
        data["bias"] = self.bias.value
        return data


_CONTEXT_FIELDS = tuple(f.name for f in fields(WeeklyContext))


def weekly_context(previous_week: Sequence[Any], week: date, tick: float = TICK_SIZE) -> WeeklyContext:
    """The :class:`WeeklyContext` for ``week`` (its Monday) from the previous week's closed hourly bars.

    ``previous_week``: that week's hourly bars in time order (HourlyBar, mappings or row objects). Raises
    ``ValueError`` when it is empty. The caller decides which week qualifies (:data:`MIN_WEEK_BARS`).
    """
    bars = [as_hourly_bar(b) for b in previous_week]
    if not bars:
        raise ValueError("no bars for the previous week")
    pw_high = max(b.high for b in bars)
    pw_low = min(b.low for b in bars)
    pw_close = bars[-1].close
    bodies = four_hour_bodies(bars)
    max_body = max(max(o, c) for o, c in bodies)
    min_body = min(min(o, c) for o, c in bodies)
    res_bottom, res_top = min(pw_high, max_body), max(pw_high, max_body)
    sup_bottom, sup_top = min(pw_low, min_body), max(pw_low, min_body)
    margin_high = max(3 * (res_top - res_bottom), 5 * tick)
    margin_low = max(3 * (sup_top - sup_bottom), 5 * tick)
    d_res = abs(pw_close - max_body)
    d_sup = abs(pw_close - min_body)
    bias = Bias.BULLISH if d_sup < d_res else Bias.BEARISH if d_res < d_sup else Bias.NEUTRAL
    return WeeklyContext(week=week, source_week=week_start(bars[0].day), source_bars=len(bars), pw_high=pw_high,
                         pw_low=pw_low, pw_close=pw_close, max_body=max_body, min_body=min_body,
                         res_bottom=res_bottom, res_top=res_top, sup_bottom=sup_bottom, sup_top=sup_top,
                         margin_high=margin_high, margin_low=margin_low, bias=bias)

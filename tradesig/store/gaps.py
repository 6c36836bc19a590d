"""What the stored 1m bars do not yet vouch for: per symbol and IST day, the minutes stored ``partial`` (owed a
backfill: docs/feed.md "Bar states") and the regular-session minutes with no bar at all.

Read-only (no lock); the feed's next start retries the partial minutes of the days it seeds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from tradesig.clock import IST
from tradesig.store.bars import session_hours
from tradesig.store.datasets import Store


def _ranges(minutes: list[datetime]) -> str:
    """``09:15-09:17, 11:08`` (IST) from sorted UTC minute starts."""
    out: list[str] = []
    run: list[datetime] = []
    for m in minutes:
        if run and m - run[-1] != timedelta(minutes=1):
            out.append(_span(run))
            run = []
        run.append(m)
    if run:
        out.append(_span(run))
    return ", ".join(out)


def _span(run: list[datetime]) -> str:
    a, b = (t.astimezone(IST).strftime("%H:%M") for t in (run[0], run[-1]))
    return a if a == b else f"{a}-{b}"


def bar_gaps(home: Path | str, symbols: list[str] | None = None, start: date | None = None,
             end: date | None = None, *, now: datetime | None = None) -> list[dict[str, object]]:
    """Rows ``{symbol, date, partial, missing, partial_minutes, missing_minutes}`` (counts, and IST ranges such
    as ``"11:08-11:10"``) for every (symbol, IST day) with stored 1m bars between ``start`` and ``end`` (inclusive)
    that has a partial or missing regular-session minute. Minutes after ``now`` (aware) are not missing yet."""
    store = Store(home)
    rows: list[dict[str, object]] = []
    for symbol in symbols or store.symbols("1m"):
        bars = store.read_bars(symbol, "1m", start, end)
        if bars.is_empty():
            continue
        bars = bars.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("_d"))
        for (day,), part in bars.partition_by("_d", as_dict=True, maintain_order=True).items():
            open_m, close_m = session_hours(day)
            first = datetime(day.year, day.month, day.day, tzinfo=IST) + timedelta(minutes=open_m)
            every = [(first + timedelta(minutes=i)).astimezone(UTC) for i in range(close_m - open_m)]
            if now is not None:
                every = [m for m in every if m + timedelta(minutes=1) <= now]
            have = set(part["ts"].to_list())
            partial = sorted(part.filter(pl.col("status") == "partial")["ts"].to_list())
            missing = [m for m in every if m not in have]
            if partial or missing:
                rows.append({"symbol": symbol, "date": day, "partial": len(partial), "missing": len(missing),
                             "partial_minutes": _ranges(partial), "missing_minutes": _ranges(missing)})
    return rows


__all__ = ["bar_gaps"]

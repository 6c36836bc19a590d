"""Batch glue between the store and the pure signal code: what ``tradesig signals`` calls (does I/O).

- :func:`boards` — the board of each symbol at a moment (default: the last closed bar) or on every closed bar
  of a date range, from bars in the Store (``home/bars``), with enough earlier bars loaded for the indicators'
  warm-up (EMA200 …).
- :func:`weekly_events` — the S1–S8 events of a date range from stored hourly bars, each appended to the events
  log once (:func:`record_events`; idempotency key ``symbol|signal|bar_ts``).
- :func:`load_chain` — option-chain snapshots from a Parquet file (for the PCR signal).

"Closed" means the bar's end (start + interval, capped at the 15:30 close) is not after ``now`` (a Clock).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tradesig.clock import IST, Clock, ist_date
from tradesig.errors import DataError
from tradesig.signals.board import Board, bar_end, board_series
from tradesig.signals.strategies import ExpiryFn, SignalEvent, WeeklyZoneEngine

if TYPE_CHECKING:
    from tradesig.config import LoadedConfig

log = logging.getLogger(__name__)

#: Bars the board wants before the first bar shown (EMA200 plus slack for its seed).
WARMUP_BARS = 260
#: Weeks of hourly bars read before the first week asked for by :func:`weekly_events` (for its context).
CONTEXT_WEEKS = 6
EVENT_KIND = "signal"


def lookback_days(interval: str) -> int:
    """Calendar days to read before a start date so the board has :data:`WARMUP_BARS` bars and a prior week."""
    from tradesig.store.bars import interval_minutes

    per_day = max(1, 375 // interval_minutes(interval)) if interval != "1d" else 1
    sessions = math.ceil(WARMUP_BARS / per_day) + 7
    return int(sessions * 7 / 5) + 7


def _closed(bars: pl.DataFrame, interval: str, now: datetime) -> pl.DataFrame:
    """The bars whose end (start + interval, capped at the session close) is not after ``now``."""
    from tradesig.store.bars import interval_minutes

    if bars.is_empty():
        return bars
    surely = (now - timedelta(minutes=interval_minutes(interval))).astimezone(UTC)
    done = bars.filter(pl.col("ts") <= surely)
    tail = bars.filter(pl.col("ts") > surely)
    if tail.is_empty():
        return done
    keep = [bar_end(ts, interval) <= now for ts in tail.get_column("ts").to_list()]
    return pl.concat([done, tail.filter(pl.Series(keep, dtype=pl.Boolean))])


def calendar_expiry(loaded: LoadedConfig) -> ExpiryFn:
    """``weekly_expiry`` of the market calendar of this configuration (its override file included)."""
    from tradesig.calendar import get_calendar

    return get_calendar(loaded).weekly_expiry


def load_chain(path: Path | str) -> pl.DataFrame:
    """Option-chain snapshots from Parquet, normalised to ``snapshot_ts`` (aware UTC), ``expiry`` (Date),
    ``option_type`` ("PE"/"CE"), ``oi`` (Float64). Accepts the NSE scraper layout of ../shared/data/options
    (``expiry`` text plus ``expiry_date``). Raises :class:`DataError` when unreadable or columns are missing."""
    try:
        df = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"cannot read option chain {path}: {exc}", "pass a Parquet file of chain snapshots") from None
    if "expiry_date" in df.columns:
        df = df.with_columns(pl.col("expiry_date").alias("expiry"))
    need = {"expiry", "option_type", "oi"} - set(df.columns)
    if need:
        raise DataError(f"option chain {path} lacks column(s) {', '.join(sorted(need))}",
                        "expected expiry/expiry_date, option_type, oi and snapshot_ts")
    cols = [pl.col("expiry").cast(pl.Date), pl.col("option_type").cast(pl.Utf8), pl.col("oi").cast(pl.Float64)]
    if "snapshot_ts" in df.columns:
        ts = pl.col("snapshot_ts")
        if getattr(df.schema["snapshot_ts"], "time_zone", None) is None:
            ts = ts.dt.replace_time_zone("Asia/Kolkata")
        cols.insert(0, ts.dt.convert_time_zone("UTC"))
    return df.select(cols)


def _store(loaded: LoadedConfig) -> Any:
    from tradesig.store.datasets import Store

    return Store(loaded.home)


def _symbols(loaded: LoadedConfig, symbols: Sequence[str]) -> list[str]:
    from tradesig.market import canonical_symbol

    names = list(symbols) or list(loaded.settings.feed.symbols)
    out = []
    for name in names:
        try:
            out.append(canonical_symbol(name))
        except KeyError as exc:
            raise DataError(str(exc.args[0]), "use NIFTY, BANKNIFTY or SENSEX") from None
    return out


def boards(loaded: LoadedConfig, symbols: Sequence[str], interval: str, *, clock: Clock,
           at: datetime | None = None, start: date | None = None, end: date | None = None,
           chain: pl.DataFrame | None = None) -> list[Board]:
    """Boards from stored bars.

    Without ``start``: one board per symbol on its last bar closed at ``at`` (default ``clock.now()``).
    With ``start`` (and ``end``, default ``start``; inclusive IST dates): a board on every closed bar of those
    dates, per symbol, in time order. Symbols default to ``settings.feed.symbols`` (symbols without bars are
    then skipped). Raises :class:`DataError` when a named symbol — or every default one — has no bars.
    """
    now = clock.now()
    explicit = bool(symbols)
    names = _symbols(loaded, symbols)
    store = _store(loaded)
    out: list[Board] = []
    missing: list[str] = []
    for sym in names:
        if start is None:
            moment = at or now
            day = ist_date(moment)
            bars = store.read_bars(sym, interval, day - timedelta(days=lookback_days(interval)), day)
            bars = _closed(bars, interval, min(moment, now))
            if bars.is_empty():
                missing.append(sym)
                continue
            out.append(board_series(bars, interval=interval, chain=chain, settings=loaded.settings,
                                    symbol=sym).board_at(-1))
            continue
        last = end or start
        bars = store.read_bars(sym, interval, start - timedelta(days=lookback_days(interval)), last)
        bars = _closed(bars, interval, now)
        series = board_series(bars, interval=interval, chain=chain, settings=loaded.settings, symbol=sym) \
            if not bars.is_empty() else None
        shown = [i for i, ts in enumerate(series.ts if series else []) if start <= ist_date(ts) <= last]
        if not shown:
            missing.append(sym)
            continue
        out.extend(series.board_at(i) for i in shown)  # type: ignore[union-attr]
    if missing and (explicit or not out):
        when = (f"on {start.isoformat()}" + (f"..{end.isoformat()}" if end and end != start else "")
                if start else f"up to {(at or now).astimezone(IST):%Y-%m-%d %H:%M} IST")
        raise DataError(f"no closed {interval} bars for {', '.join(missing)} {when}",
                        "import bars (tradesig history import) or run the feed")
    return out


def weekly_events(loaded: LoadedConfig, symbols: Sequence[str], start: date, end: date, *, clock: Clock,
                  expiry_fn: ExpiryFn | None = None, record: bool = True) -> tuple[list[SignalEvent], int]:
    """S1–S8 events whose bar falls on ``start``..``end`` (inclusive IST dates), from stored hourly bars.

    Hourly bars are read from :data:`CONTEXT_WEEKS` weeks before ``start`` so the first week has its context
    (the result equals a scan of the whole history: triggers reset weekly and the context needs only the last
    full week). Only bars closed by ``clock.now()`` count. With ``record``, each event is appended to the events
    log once. Returns ``(events, newly_recorded)``. Raises :class:`DataError` when no symbol has hourly bars.
    """
    if end < start:
        raise DataError(f"--to {end.isoformat()} is before --from {start.isoformat()}")
    now = clock.now()
    store = _store(loaded)
    events: list[SignalEvent] = []
    found = False
    for sym in _symbols(loaded, symbols):
        bars = store.read_bars(sym, "1h", start - timedelta(weeks=CONTEXT_WEEKS), end)
        bars = _closed(bars, "1h", now)
        if bars.is_empty():
            continue
        found = True
        engine = WeeklyZoneEngine(sym, loaded.settings, expiry_fn=expiry_fn or calendar_expiry(loaded))
        events.extend(e for e in engine.scan(bars) if start <= ist_date(e.bar_ts) <= end)
    if not found:
        raise DataError(f"no hourly bars between {start.isoformat()} and {end.isoformat()}",
                        "import bars (tradesig history import) or run the feed")
    events.sort(key=lambda e: (e.bar_ts, e.symbol))
    added = record_events(loaded.home, events) if record else 0
    return events, added


def record_events(home: Path, events: Sequence[SignalEvent]) -> int:
    """Append each event to the events log (kind ``signal``, ts = the bar's close) unless an event with the same
    key (``symbol|signal|bar_ts``) is already there — the log checks the key under its lock, so concurrent
    followers and the trade engine record it once. Returns how many were appended."""
    if not events:
        return 0
    from tradesig.store.events import EventLog

    log_ = EventLog(home)
    added = sum(log_.append(EVENT_KIND, e.to_dict(), e.entry_ts) for e in events)
    if added:
        log.info("signals: recorded %d new signal event(s)", added)
    return added


__all__ = ["boards", "weekly_events", "record_events", "load_chain", "lookback_days", "EVENT_KIND"]

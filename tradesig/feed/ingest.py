"""The ingest pipeline: raw frame → journal → decoded ticks (Parquet) → 1m bars → 5m/15m/1h/4h bars.

Synchronous and single-threaded (the asyncio service calls it between socket reads); no wall-clock reads (a
:class:`~tradesig.clock.Clock` is given). Order of durability, per DESIGN.md "Storage":

1. :meth:`Ingestor.on_frame` appends the raw frame to the journal *before* anything else (written to the OS at
   once; fsync'd before every ticks part), then decodes it (vectorised, :func:`decode_frame`).
2. :meth:`Ingestor.flush` writes the decoded ticks as one Parquet part per IST date. Each tick row carries the
   journal position of its frame (``journal_segment``, ``journal_next``), so the stored ticks themselves say how far
   the journal has been processed: :meth:`Ingestor.recover` resumes after the largest stored position — exactly
   once, whatever instant a ``kill -9`` hit (a part is written to a temp name and renamed: all or nothing).
3. The :class:`BarBuilder` closes 1m bars as the *market clock* (the latest exchange timestamp seen, less a 2 s
   grace) passes each minute; OHLC of LTP, volume = increase of the cumulative traded volume
   (:func:`tradesig.store.bars.ticks_to_bars`). An index has no volume: its bars take the volume of its
   current-month future (``index_future``), null when the future reports none. 5m/15m/1h/4h bars are
   resampled (:func:`tradesig.store.bars.resample`) once every minute of their bucket has closed.

Bar status: ``complete`` from continuous live ticks; minutes touched by a gap (disconnect, stall, restart, token
expiry, polled data) are *dirty*: they are not written from live ticks but re-fetched from the historical API
(``backfilled``); if that is impossible they are written from what was seen, ``partial``.

Extra tick columns beyond the codec's: ``symbol`` (tradesig key or tradingsymbol), ``polled`` (Boolean: from
REST ``/quote`` polling, not the ticker), ``source`` ("kite", "sim", "breeze"), ``journal_segment``,
``journal_next``.

JSON journal records: a raw Kite ticker frame never starts with ``{`` (that would be a packet count of 31,488 or
more); records starting with ``{`` are JSON documents written by the feed itself — ``{"kind": "polled", ...}``
(REST quotes) and ``{"kind": "breeze", ...}`` (Breeze ticks) — decoded by :func:`json_record_ticks`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tradesig.clock import Clock, ist_date
from tradesig.feed.kite_protocol import TickBatch, decode_frame, tick_schema
from tradesig.store.bars import (
    BAR_SCHEMA,
    empty_bars,
    interval_minutes,
    resample,
    session_hours,
    ticks_to_bars,
)
from tradesig.store.datasets import Store
from tradesig.store.events import EventLog
from tradesig.store.journal import Journal, JournalPosition

log = logging.getLogger(__name__)

HIGHER_INTERVALS = ("5m", "15m", "1h", "4h")
PUBLISH_LAST = 3  # bars per symbol and interval sent to viewers from one write
GRACE = timedelta(seconds=2)
_MINUTE = timedelta(minutes=1)
_US = pl.Datetime("us", "UTC")
_SLIM = ["symbol", "last_price", "volume_traded", "oi", "exchange_timestamp", "recv_ts", "polled"]


def floor_minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Gap:
    """A stretch without live ticker data for one instrument: ``start`` (last tick before) to ``end`` (first
    tick after), aware UTC; ``cause`` one of network/stall/closed/protocol/rate_limit/token/restart/start."""

    symbol: str
    start: datetime
    end: datetime
    cause: str

    def minutes(self) -> list[datetime]:
        """Bar starts (UTC) of every minute the gap touches, both ends included."""
        out, m = [], floor_minute(self.start)
        while m <= self.end:
            out.append(m)
            m += _MINUTE
        return out

    def as_event(self) -> dict[str, Any]:
        return {"instrument": self.symbol, "from": self.start, "to": self.end, "cause": self.cause}


@dataclass
class IngestStats:
    frames: int = 0
    heartbeats: int = 0
    ticks: int = 0
    polled_ticks: int = 0
    bad_packets: int = 0
    ticks_written: int = 0
    bars_written: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    backfilled: int = 0
    recovered_records: int = 0
    recovered_ticks: int = 0


def quote_ticks(quotes: dict[str, Any], tokens: dict[str, int], recv_ts: datetime) -> pl.DataFrame:
    """Tick rows (codec columns, mode "quote") from a Kite ``/quote`` response ``{"NSE:NIFTY 50": {...}}``.

    ``tokens`` maps the response keys to instrument tokens (the response's own ``instrument_token`` wins).
    Prices rupees; ``timestamp``/``last_trade_time`` are naive IST strings or datetimes (Kite's REST form) or ISO.
    """
    rows = []
    for key, q in quotes.items():
        ohlc = q.get("ohlc") or {}
        rows.append({
            "instrument_token": int(q.get("instrument_token") or tokens.get(key, 0)),
            "mode": "quote", "tradable": not key.startswith(("NSE:NIFTY", "BSE:SENSEX")),
            "last_price": float(q["last_price"]) if q.get("last_price") is not None else None,
            "last_traded_quantity": q.get("last_quantity"),
            "average_traded_price": q.get("average_price"),
            "volume_traded": q.get("volume"),
            "total_buy_quantity": q.get("buy_quantity"), "total_sell_quantity": q.get("sell_quantity"),
            "open": ohlc.get("open"), "high": ohlc.get("high"), "low": ohlc.get("low"), "close": ohlc.get("close"),
            "change": q.get("net_change"),
            "last_trade_time": _rest_time(q.get("last_trade_time")),
            "exchange_timestamp": _rest_time(q.get("timestamp")),
            "oi": q.get("oi"), "oi_day_high": q.get("oi_day_high"), "oi_day_low": q.get("oi_day_low"),
        })
    schema = tick_schema()
    df = pl.DataFrame(rows, schema={k: v for k, v in schema.items() if k in rows[0]} if rows else None)
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in df.columns]
    df = df.with_columns(missing) if missing else df
    return df.select([pl.col(c).cast(t) for c, t in schema.items()]).with_columns(
        pl.lit(recv_ts).cast(_US).alias("recv_ts"))


def _rest_time(value: Any) -> datetime | None:
    from tradesig.clock import IST

    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        ts = value
    else:
        try:
            ts = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=IST)
    return ts.astimezone(UTC)


def json_record_ticks(doc: dict[str, Any], recv_ts: datetime) -> pl.DataFrame:
    """Tick rows of a JSON journal record (``kind`` "polled" or "breeze"); empty for unknown kinds."""
    kind = doc.get("kind")
    if kind == "polled":
        return quote_ticks(doc["quotes"], {k: int(v) for k, v in doc.get("tokens", {}).items()}, recv_ts)
    if kind == "breeze":
        from tradesig.feed.breeze_ws import breeze_ticks

        return breeze_ticks(doc["ticks"], recv_ts)
    log.warning("journal: unknown JSON record kind %r ignored", kind)
    return pl.DataFrame()


class BarBuilder:
    """Incremental 1m bars (and higher intervals) from tick frames; see the module docstring for the rules.

    ``store``: where bars go; ``source``: recorded per bar row; ``index_future``: index symbol → the tradingsymbol
    of the future whose volume its bars take; ``on_bar``: called with each written bar as a dict (hub).
    """

    def __init__(self, store: Store, source: str, *, index_future: dict[str, str] | None = None,
                 on_bar: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.store = store
        self.source = source
        self.index_future = dict(index_future or {})
        self.on_bar = on_bar
        self.market_clock: datetime | None = None
        self._pending: list[pl.DataFrame] = []
        self._carry = pl.DataFrame()
        self._last_seen: dict[str, datetime] = {}
        self._open_gaps: dict[str, tuple[datetime, str]] = {}
        self.dirty: dict[str, set[datetime]] = {}
        self.gaps: list[Gap] = []
        self._day: date | None = None
        self._day_bars = empty_bars()
        self._written_higher: dict[str, pl.DataFrame] = {}
        self.written: dict[str, int] = {}
        self._live_dirty_ticks: list[pl.DataFrame] = []
        #: a symbol first seen after 09:15 gets a "start" gap from the open (its bars are backfilled)
        self.backfill_from_open = True
        #: symbols whose gaps are backfilled from the historical API (None: all); the others' gap minutes are
        #: written from what was seen, "partial" (the feed limits this to indices and futures: an option
        #: chain of 40+ contracts would cost 40+ historical calls per reconnect at Kite's 3 requests/s)
        self.backfill_symbols: set[str] | None = None

    # ------------------------------------------------------------------------------------------------ gaps
    def open_gap(self, cause: str, symbols: Iterable[str] | None = None, since: datetime | None = None) -> None:
        """The live stream stopped (``cause``): every known symbol (or ``symbols``) has a gap from its last tick
        (or ``since``) until its next live ticker tick."""
        for symbol in (symbols if symbols is not None else list(self._last_seen)):
            start = since or self._last_seen.get(symbol)
            if start is not None and symbol not in self._open_gaps:
                self._open_gaps[symbol] = (start, cause)

    def end_gaps(self, end: datetime) -> list[Gap]:
        """Stopping with gaps still open (no live data came back, e.g. the session ended): close each at
        ``end`` (capped at that day's session close) so its minutes can be backfilled. Returns the gaps."""
        closed = []
        for symbol, (start, cause) in list(self._open_gaps.items()):
            open_m, close_m = session_hours(ist_date(start))
            local = start.astimezone(_ist())
            session_close = local.replace(hour=close_m // 60, minute=close_m % 60, second=0,
                                          microsecond=0).astimezone(UTC)
            stop = min(end, session_close - timedelta(microseconds=1))
            del self._open_gaps[symbol]
            if stop <= start:
                continue
            gap = Gap(symbol, start, stop, cause)
            closed.append(gap)
            self.gaps.append(gap)
            self.dirty.setdefault(symbol, set()).update(gap.minutes())
        return closed

    def _late_start(self, firsts: dict[str, datetime]) -> None:
        """A symbol first seen after the session opened (feed started late): gap from the open ("start")."""
        for symbol, first in firsts.items():
            if symbol in self._last_seen or symbol in self._open_gaps:
                continue
            if self.backfill_symbols is not None and symbol not in self.backfill_symbols:
                continue
            day = ist_date(first)
            open_m, close_m = session_hours(day)
            opened = datetime(day.year, day.month, day.day, open_m // 60, open_m % 60, tzinfo=_ist()).astimezone(UTC)
            closes = opened + timedelta(minutes=close_m - open_m)
            if opened < floor_minute(first) < closes and self.store.read_bars(symbol, "1m", day).is_empty():
                self._open_gaps[symbol] = (opened, "start")

    def _close_gaps(self, firsts: dict[str, datetime]) -> list[Gap]:
        closed = []
        for symbol, first in firsts.items():
            opened = self._open_gaps.get(symbol)
            if opened is None:
                continue
            start, cause = opened
            if first <= start:
                continue  # a replayed/stale packet: the gap stays open until data newer than its start
            del self._open_gaps[symbol]
            gap = Gap(symbol, start, first, cause)
            closed.append(gap)
            self.gaps.append(gap)
            self.dirty.setdefault(symbol, set()).update(gap.minutes())
        return closed

    # ------------------------------------------------------------------------------------------------ ticks
    def add(self, ticks: pl.DataFrame) -> list[Gap]:
        """Take new ticks (codec columns + symbol, recv_ts, polled); returns gaps closed by them."""
        if ticks.is_empty():
            return []
        slim = ticks.select([c for c in _SLIM if c in ticks.columns])
        # a packet without an exchange timestamp (ltp/quote modes, REST quotes without one) takes the market
        # clock at its receipt: the latest exchange timestamp received before it (none yet: no bar for it)
        event = pl.col("exchange_timestamp")
        if self.market_clock is not None:
            event = pl.coalesce(event.forward_fill(), pl.lit(self.market_clock).cast(_US))
        else:
            event = event.forward_fill()
        slim = slim.with_columns(pl.col("exchange_timestamp").is_not_null().alias("_stamped"), event.alias("_t"))
        slim = slim.with_columns(pl.col("_t").alias("exchange_timestamp"))
        if self._open_gaps:
            # while a symbol's gap is open its unstamped packets have no trustworthy time: not in its bars
            slim = slim.filter(pl.col("_stamped") | ~pl.col("symbol").is_in(list(self._open_gaps)))
        if "polled" not in slim.columns:
            slim = slim.with_columns(pl.lit(False).alias("polled"))
        slim = slim.filter(pl.col("_t").is_not_null() & pl.col("last_price").is_not_null())
        if slim.is_empty():
            return []
        live = slim.filter(~pl.col("polled"))
        polled = slim.filter(pl.col("polled"))
        closed: list[Gap] = []
        if not live.is_empty():
            firsts = live.filter(pl.col("_stamped")).group_by("symbol").agg(pl.col("_t").min())
            first_map = dict(zip(firsts["symbol"].to_list(), firsts["_t"].to_list(), strict=True))
            if self.backfill_from_open:
                self._late_start(first_map)
            closed = self._close_gaps(first_map)
        if not polled.is_empty():
            per = polled.group_by("symbol").agg(pl.col("_t").dt.truncate("1m").unique())
            for symbol, minutes in zip(per["symbol"].to_list(), per["_t"].to_list(), strict=True):
                self.dirty.setdefault(symbol, set()).update(minutes)
        lasts = slim.group_by("symbol").agg(pl.col("_t").max())
        for symbol, t in zip(lasts["symbol"].to_list(), lasts["_t"].to_list(), strict=True):
            if t > self._last_seen.get(symbol, t - _MINUTE):
                self._last_seen[symbol] = t
        newest = slim["_t"].max()
        if self.market_clock is None or newest > self.market_clock:
            self.market_clock = newest
        self._pending.append(slim.drop("_stamped"))
        return closed

    def boundary(self) -> datetime | None:
        """Minutes starting before this (UTC) are closed: floor(market clock − 2 s grace)."""
        if self.market_clock is None:
            return None
        return floor_minute(self.market_clock - GRACE)

    def close_minutes(self, upto: datetime | None = None, *, final: bool = False) -> pl.DataFrame:
        """Build and store the 1m bars of every minute before ``upto`` (default :meth:`boundary`); returns them.

        ``final``: the feed is stopping — every pending minute is closed (``partial`` if it ends after ``upto``).
        """
        upto = upto or self.boundary()
        if upto is None or not self._pending:
            return empty_bars()
        pending = pl.concat(self._pending, how="diagonal_relaxed") if len(self._pending) > 1 else self._pending[0]
        if final:
            closed, rest = pending, pending.clear()
        else:
            limit = pl.lit(upto).cast(_US)
            closed = pending.filter(pl.col("_t") < limit)
            rest = pending.filter(pl.col("_t") >= limit)
        self._pending = [rest] if not rest.is_empty() else []
        if closed.is_empty():
            return empty_bars()
        frame = pl.concat([self._carry, closed], how="diagonal_relaxed") if not self._carry.is_empty() else closed
        bars = ticks_to_bars(frame.drop("_t"), now=upto if final else None)
        if not self._carry.is_empty():
            carried = self._carry.group_by("symbol").agg(pl.col("_t").max().dt.truncate("1m").alias("_cm"))
            bars = (bars.join(carried, on="symbol", how="left")
                    .filter(pl.col("_cm").is_null() | (pl.col("ts") > pl.col("_cm"))).drop("_cm"))
        self._carry = closed.sort("_t").group_by("symbol", maintain_order=True).last()
        bars = self._index_volume(bars)
        live, dirty = self._split_dirty(bars)
        if not dirty.is_empty():
            self._live_dirty_ticks.append(dirty)
        self._write_1m(live)
        return live

    def _index_volume(self, bars: pl.DataFrame) -> pl.DataFrame:
        if not self.index_future or bars.is_empty():
            return bars
        fut_syms = {f: i for i, f in self.index_future.items()}
        fut = (bars.filter(pl.col("symbol").is_in(list(fut_syms)))
               .select(pl.col("symbol").replace_strict(fut_syms, return_dtype=pl.Utf8).alias("symbol"), "ts",
                       pl.col("volume").alias("_fv")))
        if fut.is_empty():
            return bars
        return (bars.join(fut, on=["symbol", "ts"], how="left")
                .with_columns(pl.when(pl.col("symbol").is_in(list(self.index_future)) & (pl.col("_fv") > 0))
                              .then(pl.col("_fv")).otherwise(pl.col("volume")).alias("volume"))
                .drop("_fv").select(list(BAR_SCHEMA)))

    def _split_dirty(self, bars: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        if not self.dirty or bars.is_empty():
            return bars, bars.clear()
        keys = pl.DataFrame({"symbol": [s for s, ms in self.dirty.items() for _ in ms],
                             "ts": [m for ms in self.dirty.values() for m in ms]},
                            schema={"symbol": pl.Utf8, "ts": _US})
        dirty = bars.join(keys, on=["symbol", "ts"], how="semi")
        return bars.join(keys, on=["symbol", "ts"], how="anti"), dirty

    # ------------------------------------------------------------------------------------------------ backfill
    def backfill_requests(self, upto: datetime | None = None) -> list[tuple[str, datetime, datetime]]:
        """(symbol, first minute, last minute) ranges of dirty minutes that have closed (before ``upto``,
        default :meth:`boundary`), UTC bar starts. Symbols outside ``backfill_symbols`` are not listed."""
        upto = upto or self.boundary()
        out = []
        for symbol, minutes in self.dirty.items():
            if self.backfill_symbols is not None and symbol not in self.backfill_symbols:
                continue
            ready = sorted(m for m in minutes if upto is not None and m < upto
                           and symbol not in self._open_gaps)
            if ready:
                out.append((symbol, ready[0], ready[-1]))
        return out

    def apply_backfill(self, symbol: str, bars: pl.DataFrame, first: datetime, last: datetime) -> int:
        """Store historical 1m bars (status ``backfilled``) for ``symbol``'s dirty minutes in [first, last];
        minutes the history lacks are written from live ticks as ``partial``. Returns bars written."""
        wanted = {m for m in self.dirty.get(symbol, set()) if first <= m <= last}
        if not wanted:
            return 0
        got = bars.filter(pl.col("ts").is_in(list(wanted))).with_columns(pl.lit("backfilled").alias("status"),
                                                                            pl.lit(symbol).alias("symbol"))
        covered = set(got["ts"].to_list())
        fallback = self._dirty_live(symbol, wanted - covered, "partial")
        self.dirty[symbol] -= wanted
        out = pl.concat([got.select(list(BAR_SCHEMA)), fallback], how="vertical_relaxed")
        self._write_1m(out)
        return out.height

    def _dirty_live(self, symbol: str, minutes: set[datetime], status: str) -> pl.DataFrame:
        if not minutes or not self._live_dirty_ticks:
            return empty_bars()
        frame = pl.concat(self._live_dirty_ticks, how="vertical_relaxed")
        return (frame.filter((pl.col("symbol") == symbol) & pl.col("ts").is_in(list(minutes)))
                .unique(subset=["symbol", "ts"], keep="last").with_columns(pl.lit(status).alias("status")))

    def give_up_backfill(self) -> int:
        """Write every closed dirty minute from live ticks as ``partial`` (no historical API). Returns bars."""
        total = 0
        for symbol, first, last in self.backfill_requests():
            total += self.apply_backfill(symbol, empty_bars(), first, last)
        return total

    # ------------------------------------------------------------------------------------------------ writing
    def _write_1m(self, bars: pl.DataFrame) -> None:
        if bars.is_empty():
            return
        bars = bars.sort(["symbol", "ts"])
        self.written["1m"] = self.written.get("1m", 0) + self.store.write_bars(bars, "1m", self.source)
        if self.on_bar is not None:
            # live: one bar per symbol per minute; a backfill writes hundreds at once — viewers get the newest
            # few (history is on disk), so a catch-up never floods the hub
            for row in bars.group_by("symbol", maintain_order=True).tail(PUBLISH_LAST).sort("ts") \
                    .iter_rows(named=True):
                self.on_bar({"interval": "1m", **row})
        day = ist_date(bars["ts"].max())
        if self._day != day:
            self._day, self._day_bars, self._written_higher = day, empty_bars(), {}
        self._day_bars = pl.concat([self._day_bars, bars.filter(pl.col("ts").dt.convert_time_zone("Asia/Kolkata")
                                                                .dt.date() == day)])
        self._day_bars = self._day_bars.unique(["symbol", "ts"], keep="first", maintain_order=True)
        self._write_higher(final=False)

    def _write_higher(self, *, final: bool) -> None:
        """Resample the day's 1m bars and store every higher-interval bucket that has closed (all, when
        ``final``), once; buckets touching a dirty minute wait for its backfill. One store write per interval."""
        if self._day_bars.is_empty() or self._day is None:
            return
        upto = self.boundary()
        if not final and upto is None:
            return
        day = self._day
        open_m, close_m = session_hours(day)
        anchor = datetime(day.year, day.month, day.day, 9, 15, tzinfo=_ist()).astimezone(UTC)
        session_close = datetime(day.year, day.month, day.day, close_m // 60, close_m % 60,
                                 tzinfo=_ist()).astimezone(UTC)
        source = self._day_bars
        window = None
        if not final:  # only buckets that can still close need their minutes (the widest is 4 h)
            window = pl.lit(upto - timedelta(hours=4, minutes=15)).cast(_US)
            source = source.filter(pl.col("ts") >= window)
        for interval in HIGHER_INTERVALS:
            step = interval_minutes(interval)
            out = resample(source, interval)
            if out.is_empty():
                continue
            end = pl.min_horizontal(pl.col("ts") + pl.duration(minutes=step), pl.lit(session_close).cast(_US))
            if not final:
                # closed, and wholly inside the window (an older bucket still waiting is written at the end)
                out = out.filter((end <= pl.lit(upto).cast(_US)) & (pl.col("ts") >= window))
                touched = {(symbol, anchor + timedelta(minutes=((m - anchor).total_seconds() // 60) // step * step))
                           for symbol, minutes in self.dirty.items() for m in minutes}
                if touched:
                    keys = pl.DataFrame({"symbol": [k[0] for k in touched], "ts": [k[1] for k in touched]},
                                        schema={"symbol": pl.Utf8, "ts": _US})
                    out = out.join(keys, on=["symbol", "ts"], how="anti")
            done = self._written_higher.get(interval)
            if done is not None and not out.is_empty():
                out = out.join(done, on=["symbol", "ts"], how="anti")
            if out.is_empty():
                continue
            self.written[interval] = self.written.get(interval, 0) + self.store.write_bars(out, interval, self.source)
            keys = out.select("symbol", "ts")
            self._written_higher[interval] = keys if done is None else pl.concat([done, keys])
            if self.on_bar is not None:
                for row in out.group_by("symbol", maintain_order=True).tail(PUBLISH_LAST).iter_rows(named=True):
                    self.on_bar({"interval": interval, **row})

    def finish(self, now: datetime | None = None) -> None:
        """Stopping: close every pending minute (complete when it ended by ``now``/the market clock, else
        partial), write unresolved dirty minutes as partial, then every higher-interval bucket."""
        upto = max(x for x in (now, self.market_clock) if x is not None) if (now or self.market_clock) else None
        if upto is not None:
            self.close_minutes(upto, final=True)
        for symbol, minutes in list(self.dirty.items()):
            if minutes:
                self.apply_backfill(symbol, empty_bars(), min(minutes), max(minutes))
        self._write_higher(final=True)


def _ist():
    from tradesig.clock import IST

    return IST


class Ingestor:
    """Journal + decode + ticks Parquet + :class:`BarBuilder`, for one data home.

    ``symbols``: instrument token → symbol (index key or tradingsymbol); ``source``: "kite", "sim" or "breeze";
    ``on_ticks``: called with each frame's ticks as viewer "tick" dicts (hub fan-out), may be None.
    """

    def __init__(self, home: Path | str, clock: Clock, *, symbols: dict[int, str] | None = None,
                 source: str = "kite", index_future: dict[str, str] | None = None,
                 on_bar: Callable[[dict[str, Any]], None] | None = None,
                 on_ticks: Callable[[list[dict[str, Any]]], None] | None = None,
                 flush_ticks: int = 100_000) -> None:
        self.home = Path(home)
        self.clock = clock
        self.source = source
        from tradesig.market import TOKEN_TO_SYMBOL

        self.symbols: dict[int, str] = {**TOKEN_TO_SYMBOL, **(symbols or {})}
        self.journal = Journal(self.home)
        self.store = Store(self.home)
        self.events = EventLog(self.home)
        self.bars = BarBuilder(self.store, source, index_future=index_future, on_bar=on_bar)
        self.on_ticks = on_ticks
        self.flush_ticks = flush_ticks
        self.stats = IngestStats()
        self._chunks: list[tuple[np.ndarray, int, JournalPosition, bool]] = []
        self._json_frames: list[pl.DataFrame] = []
        self._pending_ticks = 0
        self.last_tick_ts: datetime | None = None

    # ---------------------------------------------------------------------------------------------- live input
    def on_frame(self, data: bytes, recv_ts: datetime) -> int:
        """Journal one binary ticker frame, decode it, buffer its ticks; returns the number of ticks (0 for a
        heartbeat). Bad packets are counted (``stats.bad_packets``), never raised."""
        position = self.journal.append(data, recv_ts)
        self.journal.flush(fsync=False)
        self.stats.frames += 1
        frame = decode_frame(data)
        if frame.errors:
            self.stats.bad_packets += len(frame.errors)
            log.warning("ticker frame with %d bad packet(s): %s", len(frame.errors), frame.errors[0])
        if frame.heartbeat:
            self.stats.heartbeats += 1
            return 0
        n = len(frame.ticks)
        if n:
            us = int((recv_ts - _EPOCH).total_seconds() * 1_000_000)
            self._chunks.append((frame.ticks.array, us, position, False))
            self._pending_ticks += n
            self.stats.ticks += n
            self.last_tick_ts = recv_ts
            if self.on_ticks is not None:
                self.on_ticks(self.hub_rows(frame.ticks.array, False))
            if self._pending_ticks >= self.flush_ticks:
                self.flush()
        return n

    def on_json(self, doc: dict[str, Any], recv_ts: datetime) -> int:
        """Journal a JSON record (REST-polled quotes or Breeze ticks, see module docstring) and buffer its ticks."""
        raw = json.dumps(doc, separators=(",", ":"), default=str).encode()
        position = self.journal.append(raw, recv_ts)
        self.journal.flush(fsync=False)
        df = json_record_ticks(doc, recv_ts)
        if df.is_empty():
            return 0
        polled = doc.get("kind") == "polled"
        df = self._decorate(df, position, polled)
        self._json_frames.append(df)
        self._pending_ticks += df.height
        self.stats.ticks += df.height
        if polled:
            self.stats.polled_ticks += df.height
        self.last_tick_ts = recv_ts
        if self.on_ticks is not None:
            self.on_ticks([{"symbol": r["symbol"], "token": r["instrument_token"], "ltp": r["last_price"],
                            "change": r["change"], "volume": r["volume_traded"], "oi": r["oi"],
                            "ts": r["exchange_timestamp"] or recv_ts, "polled": polled}
                           for r in df.iter_rows(named=True)])
        return df.height

    def hub_rows(self, array: np.ndarray, polled: bool) -> list[dict[str, Any]]:
        """Viewer tick messages (docs/viewer-protocol.md "tick") from a decoded TICK_DTYPE array."""
        tokens = array["instrument_token"].tolist()
        ltp = array["last_price"].tolist()
        change = np.nan_to_num(array["change"], nan=0.0).tolist()
        length = array["packet_length"]
        has_vol = (length == 44) | (length == 184)
        vol = array["volume_traded"].tolist()
        oi = array["oi"].tolist()
        full = (length == 184).tolist()
        ets = array["exchange_timestamp"].view(np.int64).tolist()
        out = []
        for i, token in enumerate(tokens):
            out.append({"symbol": self.symbols.get(token, str(token)), "token": token, "ltp": ltp[i],
                        "change": change[i], "volume": vol[i] if has_vol[i] else None,
                        "oi": oi[i] if full[i] else None,
                        "ts": None if ets[i] == _NAT else _EPOCH + timedelta(microseconds=ets[i]),
                        "polled": polled})
        return out

    def _decorate(self, df: pl.DataFrame, position: JournalPosition, polled: bool) -> pl.DataFrame:
        tokens = df["instrument_token"].cast(pl.Int64)
        return df.with_columns(
            tokens.replace_strict(self.symbols, default=tokens.cast(pl.Utf8), return_dtype=pl.Utf8).alias("symbol")
            if self.symbols else tokens.cast(pl.Utf8).alias("symbol"),
            pl.lit(polled).alias("polled"), pl.lit(self.source).alias("source"),
            pl.lit(position.segment).alias("journal_segment"),
            pl.lit(position.next_offset, dtype=pl.Int64).alias("journal_next"))

    # ---------------------------------------------------------------------------------------------- batching
    def _frame_from_chunks(self) -> pl.DataFrame:
        frames = []
        if self._chunks:
            arrays = [c[0] for c in self._chunks]
            counts = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
            # np.concatenate of structured arrays re-promotes the dtype per array (slow): join the raw rows
            dtype = arrays[0].dtype
            merged = np.concatenate([np.ascontiguousarray(a).view(np.uint8) for a in arrays]).view(dtype)
            df = TickBatch(merged).to_polars()
            recv = np.repeat(np.fromiter((c[1] for c in self._chunks), dtype=np.int64), counts)
            nexts = np.repeat(np.fromiter((c[2].next_offset for c in self._chunks), dtype=np.int64), counts)
            segments = [c[2].segment for c in self._chunks]
            if len(set(segments)) == 1:
                seg = pl.lit(segments[0]).alias("journal_segment")
            else:
                seg = pl.Series("journal_segment", np.repeat(np.array(segments, dtype=object), counts).tolist(),
                                dtype=pl.Utf8)
            tokens = df["instrument_token"].cast(pl.Int64)
            symbol = (tokens.replace_strict(self.symbols, default=tokens.cast(pl.Utf8), return_dtype=pl.Utf8)
                      if self.symbols else tokens.cast(pl.Utf8))
            df = df.with_columns(
                pl.Series("recv_ts", recv).cast(_US), symbol.alias("symbol"), pl.lit(False).alias("polled"),
                pl.lit(self.source).alias("source"), seg, pl.Series("journal_next", nexts))
            frames.append(df)
        frames.extend(self._json_frames)
        self._chunks, self._json_frames, self._pending_ticks = [], [], 0
        if not frames:
            return pl.DataFrame()
        if len(frames) == 1:
            return frames[0]
        return pl.concat(frames, how="diagonal_relaxed").sort("recv_ts", maintain_order=True)

    def flush(self, *, close_bars: bool = True) -> int:
        """fsync the journal, write buffered ticks as a Parquet part, close finished minutes. Returns ticks."""
        self.journal.flush(fsync=True)
        df = self._frame_from_chunks()
        if df.is_empty():
            if close_bars:
                self.bars.close_minutes()
            return 0
        written = self.store.write_ticks(df)
        self.stats.ticks_written += written
        closed = self.bars.add(df)
        for gap in closed:
            self._record_gap(gap)
        if close_bars:
            self.bars.close_minutes()
        self.stats.bars_written = dict(self.bars.written)
        return written

    def _record_gap(self, gap: Gap) -> None:
        self.stats.gaps += 1
        self.events.append("feed_gap", gap.as_event(), self.clock.now())
        log.info("gap %s %s → %s (%s)", gap.symbol, gap.start.isoformat(), gap.end.isoformat(), gap.cause)

    def end_gaps(self, end: datetime | None) -> int:
        """Close gaps still open at shutdown (see :meth:`BarBuilder.end_gaps`), recording each. Returns count."""
        self.flush(close_bars=False)
        if end is None:
            return 0
        gaps = self.bars.end_gaps(end)
        for gap in gaps:
            self._record_gap(gap)
        return len(gaps)

    def close(self, now: datetime | None = None) -> None:
        """Flush everything and close the last bars (SIGTERM, ``--until``)."""
        self.flush(close_bars=False)
        self.bars.finish(now)
        self.stats.bars_written = dict(self.bars.written)
        self.journal.close()

    # ---------------------------------------------------------------------------------------------- recovery
    def stored_position(self, day: date) -> JournalPosition | None:
        """The largest journal position already stored as ticks for IST ``day`` (None: nothing stored)."""
        directory = self.home / "ticks" / f"date={day.isoformat()}"
        parts = sorted(p for p in directory.glob("*.parquet") if not p.name.startswith(".")) \
            if directory.is_dir() else []
        if not parts:
            return None
        lf = pl.scan_parquet(parts, missing_columns="insert") if _has_missing_columns_arg() else \
            pl.scan_parquet(parts)
        try:
            top = (lf.select("journal_segment", "journal_next").drop_nulls()
                   .sort(["journal_segment", "journal_next"]).tail(1).collect())
        except pl.exceptions.ColumnNotFoundError:
            return None
        if top.is_empty():
            return None
        return JournalPosition(day, top["journal_segment"][0], 0, int(top["journal_next"][0]))

    def recover(self, days: Iterable[date] | None = None) -> int:
        """Replay journal records not yet stored as ticks (after a crash), then rebuild that day's bars from all
        stored ticks (store dedups bars). Returns the number of ticks recovered. Gaps are opened (cause
        "restart") for every symbol seen, closed by the next live tick."""
        total = 0
        days = list(days if days is not None else self.journal.dates())
        self._learn_symbols(days)
        for day in days:
            after = self.stored_position(day)
            records = 0
            for record in self.journal.records(day, after=after):
                records += 1
                data = record.data
                if data[:1] == b"{":
                    try:
                        doc = json.loads(data)
                    except ValueError:
                        continue
                    df = json_record_ticks(doc, record.recv_ts)
                    if not df.is_empty():
                        self._json_frames.append(self._decorate(df, record.position, doc.get("kind") == "polled"))
                        self._pending_ticks += df.height
                    continue
                frame = decode_frame(data)
                if len(frame.ticks):
                    us = int((record.recv_ts - _EPOCH).total_seconds() * 1_000_000)
                    self._chunks.append((frame.ticks.array, us, record.position, False))
                    self._pending_ticks += len(frame.ticks)
                if self._pending_ticks >= self.flush_ticks:
                    total += self._write_recovered()
            total += self._write_recovered()
            self.stats.recovered_records += records
            if records:
                log.info("recovered %d journal records of %s (%d ticks)", records, day, total)
        self.stats.recovered_ticks = total
        return total

    def _learn_symbols(self, days: list[date]) -> None:
        """Token → symbol pairs already stored (an earlier run knew the universe; this one may not yet)."""
        for day in days:
            directory = self.home / "ticks" / f"date={day.isoformat()}"
            parts = sorted(p for p in directory.glob("*.parquet") if not p.name.startswith(".")) \
                if directory.is_dir() else []
            if not parts:
                continue
            try:
                pairs = (pl.scan_parquet(parts).select("instrument_token", "symbol").unique().collect())
            except pl.exceptions.ColumnNotFoundError:
                continue
            for token, symbol in pairs.iter_rows():
                if symbol and symbol != str(token):
                    self.symbols.setdefault(int(token), symbol)

    def _write_recovered(self) -> int:
        df = self._frame_from_chunks()
        if df.is_empty():
            return 0
        return self.store.write_ticks(df)

    def seed_bars(self, day: date) -> None:
        """Load ``day``'s stored ticks into the bar builder (after :meth:`recover`, before live data): finished
        minutes are written (the store skips bars it has), the last minute stays open, and a "restart" gap is
        opened for every symbol seen."""
        directory = self.home / "ticks" / f"date={day.isoformat()}"
        parts = sorted(p for p in directory.glob("*.parquet") if not p.name.startswith(".")) \
            if directory.is_dir() else []
        if not parts:
            return
        df = pl.concat([pl.read_parquet(p, columns=None) for p in parts], how="diagonal_relaxed")
        if "symbol" not in df.columns:
            return
        df = df.with_columns(pl.col("instrument_token").cast(pl.Int64)
                             .replace_strict(self.symbols, default=pl.col("symbol"), return_dtype=pl.Utf8)
                             .alias("symbol"))
        cols = [c for c in _SLIM if c in df.columns]
        boundaries = self._restart_boundaries(df, day)
        df = df.select(cols).sort("recv_ts", maintain_order=True)
        self._redirty_recorded_gaps(day)
        self._dirty_across(df, boundaries)
        self.bars.add(df)
        self.bars.close_minutes()
        self.bars.open_gap("restart")

    def mark_disconnect(self, cause: str) -> None:
        """The live stream stopped: open gaps for every symbol (closed by the next live tick) and log a durable
        ``feed_disconnect`` marker, so a crash before the gap is closed and recorded still leaves its trace."""
        self.flush()
        self.bars.open_gap(cause)
        self.events.append("feed_disconnect", {"cause": cause}, self.clock.now())

    def _restart_boundaries(self, df: pl.DataFrame, day: date) -> list[datetime]:
        """Receive times (UTC) after which live data resumed following an interruption that may not have been
        recorded as a gap: the first tick of each later journal segment (a restart) and each logged
        ``feed_disconnect`` marker."""
        out: list[datetime] = []
        if "journal_segment" in df.columns:
            firsts = (df.filter(pl.col("journal_segment").is_not_null()).group_by("journal_segment")
                      .agg(pl.col("recv_ts").min()).sort("recv_ts"))
            out.extend(firsts["recv_ts"].to_list()[1:])
        for ev in self.events.read(day - timedelta(days=1), day + timedelta(days=1), kinds=["feed_disconnect"]):
            try:
                out.append(datetime.fromisoformat(ev["ts"]))
            except (KeyError, TypeError, ValueError):
                continue
        return sorted(out)

    def _dirty_across(self, df: pl.DataFrame, boundaries: list[datetime]) -> None:
        """For each boundary, every symbol's minutes from its last stamped tick before to its first after are
        dirty (they are backfilled, never written from the ticks on either side as if complete)."""
        stamped = df.filter(pl.col("exchange_timestamp").is_not_null())
        for b in boundaries:
            lit = pl.lit(b).cast(_US)
            before = stamped.filter(pl.col("recv_ts") < lit).group_by("symbol").agg(
                pl.col("exchange_timestamp").max().alias("a"))
            after = stamped.filter(pl.col("recv_ts") >= lit).group_by("symbol").agg(
                pl.col("exchange_timestamp").min().alias("b"))
            for symbol, a, z in before.join(after, on="symbol", how="left").iter_rows():
                gap = Gap(symbol, a, z if z is not None else a, "restart")
                self.bars.dirty.setdefault(symbol, set()).update(gap.minutes())

    def _redirty_recorded_gaps(self, day: date) -> None:
        """Gaps recorded by an earlier run (events log) whose minutes have no stored bar yet are dirty again:
        a crash between recording a gap and backfilling it must not let those minutes be written from the
        partial ticks as if complete."""
        events = self.events.read(day - timedelta(days=1), day + timedelta(days=1), kinds=["feed_gap"])
        stored: dict[tuple[str, date], set[datetime]] = {}
        for ev in events:
            try:
                gap = Gap(ev["instrument"], datetime.fromisoformat(ev["from"]), datetime.fromisoformat(ev["to"]),
                          ev.get("cause", "?"))
            except (KeyError, TypeError, ValueError):
                continue
            key = (gap.symbol, ist_date(gap.start))
            if key not in stored:
                have = self.store.read_bars(gap.symbol, "1m", key[1])
                stored[key] = set(have["ts"].to_list()) if not have.is_empty() else set()
            missing = {m for m in gap.minutes() if m not in stored[key]}
            if missing:
                self.bars.dirty.setdefault(gap.symbol, set()).update(missing)


def _has_missing_columns_arg() -> bool:
    import inspect

    return "missing_columns" in inspect.signature(pl.scan_parquet).parameters


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT = np.iinfo(np.int64).min

__all__ = ["Ingestor", "BarBuilder", "Gap", "IngestStats", "quote_ticks", "json_record_ticks", "floor_minute"]

"""The feed's bar builder: 1m bars from live ticks as the market clock passes each minute, gaps and their dirty
minutes, backfill, and the higher intervals resampled from finished 1m bars.

Rules (docs/feed.md "What it stores"): a minute closes when the market clock (the latest exchange timestamp seen,
less a 2 s grace) passes it; OHLC of LTP, volume = increase of the cumulative traded volume
(:func:`tradesig.store.bars.ticks_to_bars`); an index takes the volume of its current-month future. Bar status is a
promise, see :class:`BarBuilder`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from tradesig.clock import ist_date
from tradesig.feed.backoff import GapCause
from tradesig.store.bars import (
    BAR_SCHEMA,
    empty_bars,
    interval_minutes,
    resample,
    session_hours,
    ticks_to_bars,
)
from tradesig.store.datasets import Store

HIGHER_INTERVALS = ("5m", "15m", "1h", "4h")
PUBLISH_LAST = 3  # bars per symbol and interval sent to viewers from one write
GRACE = timedelta(seconds=2)
_MINUTE = timedelta(minutes=1)
UTC_US = pl.Datetime("us", "UTC")
SLIM_COLUMNS = ["symbol", "last_price", "volume_traded", "oi", "exchange_timestamp", "recv_ts", "polled"]


def floor_minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Gap:
    """A stretch without live ticker data for one instrument: ``start`` (last tick before) to ``end`` (first
    tick after), aware UTC; ``cause`` a :data:`tradesig.feed.backoff.GapCause`."""

    symbol: str
    start: datetime
    end: datetime
    cause: GapCause

    def minutes(self) -> list[datetime]:
        """Bar starts (UTC) of every minute the gap touches, both ends included."""
        out, m = [], floor_minute(self.start)
        while m <= self.end:
            out.append(m)
            m += _MINUTE
        return out

    def as_event(self) -> dict[str, Any]:
        return {"instrument": self.symbol, "from": self.start, "to": self.end, "cause": self.cause}



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
        self._open_gaps: dict[str, tuple[datetime, GapCause]] = {}
        #: minutes touched by a gap, a reconnect or polling, not yet resolved: never written ``complete``
        self.dirty: dict[str, set[datetime]] = {}
        #: minutes whose backfill failed (stored ``partial`` from what was seen, or not at all): still owed a
        #: backfill, retried with backoff and at the next start (from the stored partial bars)
        self.owed: dict[str, set[datetime]] = {}
        #: market time (UTC) the live stream last (re)started at; None: not told (then no such rule applies)
        self._stream_start: datetime | None = None
        self.gaps: list[Gap] = []
        self._day: date | None = None
        self._day_bars = empty_bars()
        self._written_higher: dict[str, pl.DataFrame] = {}
        #: (day, market-clock boundary) of the last resample made with no dirty minute (None: none such yet)
        self._higher_mark: tuple[date, datetime] | None = None
        #: 1m rows of minutes before that boundary (or replaced ones) came since: resample the whole window
        self._late_rows = False
        self._day_max: datetime | None = None
        self.written: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._live_dirty_ticks: list[pl.DataFrame] = []
        #: a symbol first seen after 09:15 gets a "start" gap from the open (its bars are backfilled)
        self.backfill_from_open = True
        #: symbols whose gaps are backfilled from the historical API (None: all); the others' gap minutes are
        #: written from what was seen, "partial" (the feed limits this to indices and futures: an option
        #: chain of 40+ contracts would cost 40+ historical calls per reconnect at Kite's 3 requests/s)
        self.backfill_symbols: set[str] | None = None

    # ------------------------------------------------------------------------------------------------ gaps
    def open_gap(self, cause: GapCause, symbols: Iterable[str] | None = None, since: datetime | None = None) -> None:
        """The live stream stopped (``cause``): every known symbol (or ``symbols``) has a gap from its last tick
        (or ``since``) until its next live ticker tick."""
        for symbol in (symbols if symbols is not None else list(self._last_seen)):
            start = since or self._last_seen.get(symbol)
            if start is not None and symbol not in self._open_gaps:
                self._open_gaps[symbol] = (start, cause)
                # the minute the stream stopped in was not watched to its end: never complete (even if ticks of a
                # later minute, e.g. REST-polled ones, close it before the gap itself is closed)
                self.dirty.setdefault(symbol, set()).add(floor_minute(start))

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

    def stream_started(self, at: datetime) -> None:
        """The live stream (re)started at market time ``at`` (UTC; give it a little early rather than late)."""
        self._stream_start = at

    def _first_minute_unwatched(self, firsts: dict[str, datetime]) -> None:
        """A symbol first seen (this run) in a minute that began before the stream started was not watched for all
        of that minute: the minute is dirty (backfilled, or partial)."""
        if self._stream_start is None:
            return
        for symbol, first in firsts.items():
            minute = floor_minute(first)
            if symbol not in self._last_seen and symbol not in self._open_gaps and minute < self._stream_start:
                self.dirty.setdefault(symbol, set()).add(minute)

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
        slim = ticks.select([c for c in SLIM_COLUMNS if c in ticks.columns])
        # a packet without an exchange timestamp (ltp/quote modes, REST quotes without one) takes the market
        # clock at its receipt: the latest exchange timestamp received before it (none yet: no bar for it)
        event = pl.col("exchange_timestamp")
        if self.market_clock is not None:
            event = pl.coalesce(event.forward_fill(), pl.lit(self.market_clock).cast(UTC_US))
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
            self._first_minute_unwatched(first_map)
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

    def pending_ticks(self) -> pl.DataFrame:
        """The ticks not yet in closed bars (slim columns: symbol, last_price, oi, …), oldest first."""
        if not self._pending:
            return pl.DataFrame()
        return pl.concat(self._pending, how="diagonal_relaxed") if len(self._pending) > 1 else self._pending[0]

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
            limit = pl.lit(upto).cast(UTC_US)
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
            self._write_owed_partial(dirty)
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
        """(bars that may be written complete, bars of dirty minutes). A symbol's minutes from the start of its
        open gap on are dirty (they are added to :attr:`dirty`)."""
        if bars.is_empty():
            return bars, bars.clear()
        for symbol, (start, _) in self._open_gaps.items():
            after = bars.filter((pl.col("symbol") == symbol) & (pl.col("ts") >= floor_minute(start)))["ts"]
            if not after.is_empty():
                self.dirty.setdefault(symbol, set()).update(after.to_list())
        held = {(s, m) for src in (self.dirty, self.owed) for s, ms in src.items() for m in ms}
        if not held:
            return bars, bars.clear()
        keys = pl.DataFrame({"symbol": [k[0] for k in held], "ts": [k[1] for k in held]},
                            schema={"symbol": pl.Utf8, "ts": UTC_US})
        dirty = bars.join(keys, on=["symbol", "ts"], how="semi")
        return bars.join(keys, on=["symbol", "ts"], how="anti"), dirty

    def _write_owed_partial(self, bars: pl.DataFrame) -> None:
        """Bars of minutes already owed a backfill (its fetch failed before the minute closed) are stored
        ``partial`` at once; the backfill replaces them."""
        owed = {(s, m) for s, ms in self.owed.items() for m in ms
                if m not in self.dirty.get(s, set())}
        if not owed or bars.is_empty():
            return
        keys = pl.DataFrame({"symbol": [k[0] for k in owed], "ts": [k[1] for k in owed]},
                            schema={"symbol": pl.Utf8, "ts": UTC_US})
        self._write_1m(bars.join(keys, on=["symbol", "ts"], how="semi").with_columns(
            pl.lit("partial").alias("status")))

    # ------------------------------------------------------------------------------------------------ backfill
    def backfill_requests(self, upto: datetime | None = None) -> list[tuple[str, datetime, datetime]]:
        """(symbol, first minute, last minute) ranges of dirty minutes that have closed (before ``upto``,
        default :meth:`boundary`), UTC bar starts. Symbols outside ``backfill_symbols`` are not listed."""
        upto = upto or self.boundary()
        out = []
        for symbol in sorted(set(self.dirty) | set(self.owed)):
            if self.backfill_symbols is not None and symbol not in self.backfill_symbols:
                continue
            minutes = self.dirty.get(symbol, set()) | self.owed.get(symbol, set())
            ready = sorted(m for m in minutes if upto is not None and m < upto
                           and symbol not in self._open_gaps)
            if ready:
                out.append((symbol, ready[0], ready[-1]))
        return out

    def apply_backfill(self, symbol: str, bars: pl.DataFrame, first: datetime, last: datetime) -> int:
        """The broker answered: store its 1m bars (status ``backfilled``) for ``symbol``'s dirty and owed minutes
        in [first, last], *replacing* whatever is stored for them; dirty minutes the history lacks are written
        from live ticks as ``partial`` (a broker without the minute will not have it later either). Returns the
        backfilled bars stored."""
        wanted = {m for m in self.dirty.get(symbol, set()) if first <= m <= last}
        owed = {m for m in self.owed.get(symbol, set()) if first <= m <= last}
        if not wanted and not owed:
            return 0
        got = (bars.filter(pl.col("ts").is_in(list(wanted | owed)))
               .with_columns(pl.lit("backfilled").alias("status"), pl.lit(symbol).alias("symbol"))
               .select(list(BAR_SCHEMA)))
        covered = set(got["ts"].to_list())
        fallback = self._dirty_live(symbol, wanted - covered, "partial")
        self.dirty[symbol] = self.dirty.get(symbol, set()) - wanted
        self.owed[symbol] = self.owed.get(symbol, set()) - wanted - owed
        self._write_1m(fallback)
        self._write_1m(got, replace=True)
        return got.height

    def defer_backfill(self, symbol: str, first: datetime, last: datetime) -> int:
        """The broker could not answer (e.g. 429s): write ``symbol``'s dirty minutes in [first, last] from what was
        seen as ``partial`` (never silently missing) and keep them owed (:attr:`owed`) for a later retry.
        Returns the partial bars written."""
        wanted = {m for m in self.dirty.get(symbol, set()) if first <= m <= last}
        fallback = self._dirty_live(symbol, wanted, "partial")
        self.dirty[symbol] = self.dirty.get(symbol, set()) - wanted
        self.owed.setdefault(symbol, set()).update(wanted)
        self._write_1m(fallback)
        return fallback.height

    def owe_stored_partial(self, day: date) -> None:
        """At start: 1m bars of ``day`` stored ``partial`` by an earlier run are owed a backfill."""
        for symbol in self.store.symbols("1m"):
            have = self.store.read_bars(symbol, "1m", day)
            partial = have.filter(pl.col("status") == "partial")["ts"].to_list()
            if partial:
                self.owed.setdefault(symbol, set()).update(partial)

    def _dirty_live(self, symbol: str, minutes: set[datetime], status: str) -> pl.DataFrame:
        if not minutes or not self._live_dirty_ticks:
            return empty_bars()
        frame = pl.concat(self._live_dirty_ticks, how="vertical_relaxed")
        return (frame.filter((pl.col("symbol") == symbol) & pl.col("ts").is_in(list(minutes)))
                .unique(subset=["symbol", "ts"], keep="last").with_columns(pl.lit(status).alias("status")))

    def give_up_backfill(self) -> int:
        """Write every closed dirty minute from live ticks as ``partial`` (no historical API). Returns bars."""
        total = 0
        upto = self.boundary()
        for symbol, minutes in list(self.dirty.items()):
            ready = sorted(m for m in minutes if upto is not None and m < upto and symbol not in self._open_gaps)
            if ready:
                total += self.apply_backfill(symbol, empty_bars(), ready[0], ready[-1])
        return total

    # ------------------------------------------------------------------------------------------------ writing
    def _write_1m(self, bars: pl.DataFrame, *, replace: bool = False) -> None:
        """Store 1m bars (``replace``: over stored rows of the same minutes, and rebuild the stored higher
        intervals that contain them), publish the newest, and resample what has closed."""
        if bars.is_empty():
            return
        bars = bars.sort(["symbol", "ts"])
        write = self.store.replace_bars if replace else self.store.write_bars
        self._count("1m", write(bars, "1m", self.source))
        if self.on_bar is not None:
            # live: one bar per symbol per minute; a backfill writes hundreds at once — viewers get the newest
            # few (history is on disk), so a catch-up never floods the hub
            for row in bars.group_by("symbol", maintain_order=True).tail(PUBLISH_LAST).sort("ts") \
                    .iter_rows(named=True):
                self.on_bar({"interval": "1m", **row})
        day = ist_date(bars["ts"].max())
        if self._day != day:
            self._day, self._day_bars, self._written_higher = day, empty_bars(), {}
            self._higher_mark, self._day_max = None, None
        new = bars.filter(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date() == day)
        first = new["ts"].min() if not new.is_empty() else None
        if self._higher_mark is not None and (replace or (first is not None and first < self._higher_mark[1])):
            self._late_rows = True  # rows for a bucket that may have closed: the next resample looks at all
        if not replace and first is not None and (self._day_max is None or first > self._day_max):
            # only minutes after every stored one (the live case): no row of the day can repeat them
            self._day_bars = pl.concat([self._day_bars, new.unique(["symbol", "ts"], keep="first",
                                                                   maintain_order=True)])
        else:
            self._day_bars = pl.concat([self._day_bars, new]).unique(
                ["symbol", "ts"], keep="last" if replace else "first", maintain_order=True)
        if not self._day_bars.is_empty():
            self._day_max = self._day_bars["ts"].max()
        if replace:
            self._rewrite_higher(bars)
        self._write_higher(final=False)

    def _count(self, interval: str, rows: int | Future[int]) -> None:
        """Add a store write's new rows to :attr:`written`: now, or when the writer thread has done it (a
        :class:`~tradesig.store.writer.DeferredStore` returns a future; a failed write is raised by the writer)."""
        if isinstance(rows, Future):
            rows.add_done_callback(lambda f: None if f.cancelled() or f.exception() is not None
                                   else self._count(interval, f.result()))
            return
        with self._count_lock:
            self.written[interval] = self.written.get(interval, 0) + rows

    def _rewrite_higher(self, replaced: pl.DataFrame) -> None:
        """Higher-interval buckets already stored (by this run or an earlier one) that contain a replaced minute
        are rebuilt from the stored 1m bars of their day and stored over the old ones."""
        for (symbol,), rows in replaced.partition_by("symbol", as_dict=True).items():
            minutes = rows["ts"].to_list()
            for day in {ist_date(t) for t in minutes}:
                day_1m = self.store.read_bars(str(symbol), "1m", day)
                for interval in HIGHER_INTERVALS:
                    directory = self.store.bars_dir(interval) / f"date={day.isoformat()}"
                    parts = sorted(directory.glob("part-*.parquet")) if directory.is_dir() else []
                    if not parts:
                        continue
                    stored = pl.scan_parquet(parts).filter(pl.col("symbol") == symbol).select("symbol", "ts").collect()
                    step = timedelta(minutes=interval_minutes(interval))
                    out = resample(day_1m, interval)
                    touched = out.filter(pl.any_horizontal([(pl.col("ts") <= t) & (pl.col("ts") + step > t)
                                                            for t in minutes]))
                    touched = touched.join(stored, on=["symbol", "ts"], how="semi")
                    if not touched.is_empty():
                        self.store.replace_bars(touched, interval, self.source)

    def _write_higher(self, *, final: bool) -> None:
        """Resample the day's 1m bars and store every higher-interval bucket that has closed (all, when
        ``final``), once; buckets touching a dirty minute wait for its backfill. One store write per interval.

        Between two calls without dirty minutes only the buckets that ended in between can be new: then only
        the intervals with such a bucket are resampled, from its first minute on (not the whole 4 h window)."""
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
        dirty = any(self.dirty.values())
        # since the last resample (made without dirty minutes), only buckets that ended after it can be new —
        # unless dirty minutes or rows of earlier minutes came since: then every bucket of the window is looked at
        last = self._higher_mark[1] if (not final and not dirty and not self._late_rows
                                        and self._higher_mark is not None and self._higher_mark[0] == day) else None
        if not final:  # only buckets that can still close need their minutes (the widest is 4 h)
            window_start = upto - timedelta(hours=4, minutes=15)
            window = pl.lit(window_start).cast(UTC_US)
            source = source.filter(pl.col("ts") >= window)
        for interval in HIGHER_INTERVALS:
            step = interval_minutes(interval)
            if last is not None:
                bucket = timedelta(minutes=step)
                if (upto - anchor) // bucket == (last - anchor) // bucket and not last < session_close <= upto:
                    continue  # no bucket of this interval ended since the last resample
                lo = max(anchor + (last - anchor) // bucket * bucket, window_start)
                out = resample(source.filter(pl.col("ts") >= pl.lit(lo).cast(UTC_US)), interval)
            else:
                out = resample(source, interval)
            if out.is_empty():
                continue
            end = pl.min_horizontal(pl.col("ts") + pl.duration(minutes=step), pl.lit(session_close).cast(UTC_US))
            if not final:
                # closed, and wholly inside the window (an older bucket still waiting is written at the end)
                out = out.filter((end <= pl.lit(upto).cast(UTC_US)) & (pl.col("ts") >= window))
                touched = {(symbol, anchor + timedelta(minutes=((m - anchor).total_seconds() // 60) // step * step))
                           for symbol, minutes in self.dirty.items() for m in minutes}
                if touched:
                    keys = pl.DataFrame({"symbol": [k[0] for k in touched], "ts": [k[1] for k in touched]},
                                        schema={"symbol": pl.Utf8, "ts": UTC_US})
                    out = out.join(keys, on=["symbol", "ts"], how="anti")
            done = self._written_higher.get(interval)
            if done is not None and not out.is_empty():
                out = out.join(done, on=["symbol", "ts"], how="anti")
            if out.is_empty():
                continue
            self._count(interval, self.store.write_bars(out, interval, self.source))
            keys = out.select("symbol", "ts")
            self._written_higher[interval] = keys if done is None else pl.concat([done, keys])
            if self.on_bar is not None:
                for row in out.group_by("symbol", maintain_order=True).tail(PUBLISH_LAST).iter_rows(named=True):
                    self.on_bar({"interval": interval, **row})
        if not final:
            self._higher_mark = (day, upto) if not dirty else None
            self._late_rows = False

    def finish(self, now: datetime | None = None) -> None:
        """Stopping: close every pending minute (complete when it ended by ``now``/the market clock, else
        partial), write unresolved dirty minutes as partial, then every higher-interval bucket."""
        upto = max(x for x in (now, self.market_clock) if x is not None) if (now or self.market_clock) else None
        if upto is not None:
            self.close_minutes(upto, final=True)
        for symbol, minutes in list(self.dirty.items()):
            if minutes:
                self.defer_backfill(symbol, min(minutes), max(minutes))
        self._write_higher(final=True)


def _ist():
    from tradesig.clock import IST

    return IST


__all__ = ["BarBuilder", "Gap", "floor_minute", "GRACE", "HIGHER_INTERVALS", "SLIM_COLUMNS", "UTC_US"]

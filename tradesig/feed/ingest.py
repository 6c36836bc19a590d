"""The ingest pipeline: raw frame → journal → decoded ticks (Parquet) → 1m bars → 5m/15m/1h/4h bars.

Synchronous and single-threaded (the asyncio service calls it between socket reads); no wall-clock reads (a
:class:`~tradesig.clock.Clock` is given). Order of durability, per DESIGN.md "Storage":

1. :meth:`Ingestor.on_frame` appends the raw frame to the journal *before* anything else (written to the OS at
   once; fsync'd before every ticks part), then buffers its ticks: frames of one packet type raw, decoded in
   batches at the next flush (vectorised, :func:`decode_frames`), other frames decoded at once
   (:func:`decode_frame`).
2. :meth:`Ingestor.flush` writes the decoded ticks as one Parquet part per IST date. Each tick row carries the
   journal position of its frame (``journal_segment``, ``journal_next``), so the stored ticks themselves say how far
   the journal has been processed: :meth:`Ingestor.recover` resumes after the largest stored position — exactly
   once, whatever instant a ``kill -9`` hit (a part is written to a temp name and renamed: all or nothing).
3. The :class:`BarBuilder` closes 1m bars as the *market clock* (the latest exchange timestamp seen, less a 2 s
   grace) passes each minute; OHLC of LTP, volume = increase of the cumulative traded volume
   (:func:`tradesig.store.bars.ticks_to_bars`). An index has no volume: its bars take the volume of its
   current-month future (``index_future``), null when the future reports none. 5m/15m/1h/4h bars are
   resampled (:func:`tradesig.store.bars.resample`) once every minute of their bucket has closed.

Bar status is a promise (docs/feed.md "Bar states", :class:`~tradesig.feed.barbuilder.BarBuilder`): ``complete``
only for minutes streamed whole; minutes touched by a gap, a reconnect or polling are ``backfilled`` from the
historical API over whatever was stored, or ``partial`` (and owed a backfill) until then.

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
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tradesig.clock import Clock, ist_date
from tradesig.feed.backoff import Cause
from tradesig.feed.barbuilder import SLIM_COLUMNS, UTC_US, BarBuilder, Gap, floor_minute  # noqa: F401 (re-export)
from tradesig.feed.ingest_rows import (  # noqa: F401 (quote_ticks, json_record_ticks: re-exported)
    TOKEN_ROW,
    Block,
    decode_chunks,
    json_record_ticks,
    quote_ticks,
    tick_rows,
    us_since_epoch,
)
from tradesig.feed.kite_protocol import TickBatch, decode_frame, uniform_shape
from tradesig.store.datasets import Store
from tradesig.store.events import EventLog
from tradesig.store.journal import Journal, JournalPosition
from tradesig.store.writer import DeferredStore, WriteBehind

log = logging.getLogger(__name__)


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




VIEWER_BAR_TICKS = 10_000


class Ingestor:
    """Journal + decode + ticks Parquet + :class:`BarBuilder`, for one data home.

    ``symbols``: instrument token → symbol (index key or tradingsymbol); ``source``: "kite", "sim" or "breeze";
    ``on_ticks``: called with each frame's ticks as viewer "tick" dicts (hub fan-out), may be None.
    ``on_tick_array``: if given, called instead of ``on_ticks`` for binary frames with the decoded array and
    :meth:`hub_rows`, so the hub builds tick dicts only for the ticks it sends (the latest per instrument).
    ``flush_ticks``: ticks per Parquet part; ``bar_ticks``: ticks between two bar steps (default: 10,000 with
    viewers, else ``flush_ticks``); ``write_behind``: store writes on a writer thread (:mod:`tradesig.store.writer`;
    the feed's wiring, so that the event loop never waits for a part's fsync).
    """

    def __init__(self, home: Path | str, clock: Clock, *, symbols: dict[int, str] | None = None,
                 source: str = "kite", index_future: dict[str, str] | None = None,
                 on_bar: Callable[[dict[str, Any]], None] | None = None,
                 on_ticks: Callable[[list[dict[str, Any]]], None] | None = None,
                 on_tick_array: Callable[[np.ndarray, Callable[[np.ndarray, bool], list[dict[str, Any]]]], None]
                 | None = None,
                 flush_ticks: int = 100_000, bar_ticks: int | None = None, write_behind: bool = False) -> None:
        self.home = Path(home)
        self.clock = clock
        self.source = source
        from tradesig.market import TOKEN_TO_SYMBOL

        self.symbols: dict[int, str] = {**TOKEN_TO_SYMBOL, **(symbols or {})}
        self.journal = Journal(self.home)
        self.store = Store(self.home)
        self.events = EventLog(self.home)
        #: the store writes of :meth:`flush` (ticks parts, bars) run on this thread when ``write_behind``
        self.writer: WriteBehind | None = WriteBehind("ingest-writer") if write_behind else None
        bar_store = DeferredStore(self.store, self.writer) if self.writer is not None else self.store
        self.bars = BarBuilder(bar_store, source, index_future=index_future, on_bar=on_bar)  # type: ignore[arg-type]
        self.on_ticks = on_ticks
        self.on_tick_array = on_tick_array
        self.flush_ticks = flush_ticks
        #: ticks between two bar steps: with viewers 10,000 (about 40 ms of bar work on the loop at a time),
        #: else one step per flush (fewer, larger steps cost less in all)
        self.bar_ticks = bar_ticks if bar_ticks is not None else \
            VIEWER_BAR_TICKS if on_tick_array is not None or on_ticks is not None else flush_ticks
        self.stats = IngestStats()
        #: buffered ticks, one entry per frame: (the raw frame of one packet type and its body length — decoded with
        #: its neighbours at the next flush — or the frame's decoded TickBatch and 0, receive time in µs, journal
        #: position, ticks)
        self._chunks: list[tuple[bytes | TickBatch, int, int, JournalPosition, int]] = []
        #: sealed ticks not yet in a Parquet part, in arrival order: binary frames (:class:`Block`) and JSON records
        #: (decorated DataFrames); ``_unbarred`` of them at the end not yet given to the bar builder
        self._blocks: list[Block | pl.DataFrame] = []
        self._unbarred = 0
        self._pending_ticks = 0
        self._bar_pending = 0
        self.last_tick_ts: datetime | None = None

    # ---------------------------------------------------------------------------------------------- live input
    def on_frame(self, data: bytes, recv_ts: datetime) -> int:
        """Journal one binary ticker frame (first, written out at once), then buffer its ticks; returns the number
        of ticks (0 for a heartbeat). A well-formed frame of one packet type (:func:`uniform_shape`, e.g. every
        index-only frame) is kept raw and decoded with its neighbours in one batch at the next flush; any other
        frame is decoded now. With viewers attached (``on_tick_array``/``on_ticks``) every frame is decoded now, kept
        decoded, and its ticks handed over at once. Bad packets are counted
        (``stats.bad_packets``), never raised."""
        if type(data) is not bytes:  # a buffer the caller may reuse: the raw frame is kept until the next flush
            data = bytes(data)
        position = self.journal.append(data, recv_ts)
        self.journal.flush(fsync=False)
        self.stats.frames += 1
        # a frame of one packet type is buffered raw and decoded with its neighbours at the next flush; with a hub
        # attached every frame is decoded at once (its ticks go to the viewers now) and kept decoded
        live = self.on_tick_array is not None or self.on_ticks is not None
        shape = None if live else uniform_shape(data)
        if shape is not None:
            n = shape[0]
            self._chunks.append((data, shape[1], us_since_epoch(recv_ts), position, n))
        else:
            frame = decode_frame(data)
            if frame.errors:
                self.stats.bad_packets += len(frame.errors)
                log.warning("ticker frame with %d bad packet(s): %s", len(frame.errors), frame.errors[0])
            if frame.heartbeat:
                self.stats.heartbeats += 1
                return 0
            n = len(frame.ticks)
            if not n:
                return 0
            self._chunks.append((frame.ticks, 0, us_since_epoch(recv_ts), position, n))
            if self.on_tick_array is not None:
                self.on_tick_array(frame.ticks.array, self.hub_rows)
            elif self.on_ticks is not None:
                self.on_ticks(self.hub_rows(frame.ticks.array, False))
        self._pending_ticks += n
        self._bar_pending += n
        self.stats.ticks += n
        self.last_tick_ts = recv_ts
        if self._pending_ticks >= self.flush_ticks:
            self.flush()
        elif self._bar_pending >= self.bar_ticks:
            self.bar_step()
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
        self._seal()
        self._blocks.append(df)
        self._unbarred += 1
        self._pending_ticks += df.height
        self._bar_pending += df.height
        self.stats.ticks += df.height
        if polled:
            self.stats.polled_ticks += df.height
        self.last_tick_ts = recv_ts
        if self.on_ticks is not None:
            self.on_ticks([{"symbol": r["symbol"], "token": r["instrument_token"], "ltp": r["last_price"],
                            "change": r["change"], "volume": r["volume_traded"], "oi": r["oi"],
                            "bid": _best(r.get("bid_price_1")), "ask": _best(r.get("ask_price_1")),
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
        bid = array["bid_price_1"].tolist()
        ask = array["ask_price_1"].tolist()
        ets = array["exchange_timestamp"].view(np.int64).tolist()
        out = []
        for i, token in enumerate(tokens):
            out.append({"symbol": self.symbols.get(token, str(token)), "token": token, "ltp": ltp[i],
                        "change": change[i], "volume": vol[i] if has_vol[i] else None,
                        "oi": oi[i] if full[i] else None,
                        "bid": _best(bid[i]) if full[i] else None, "ask": _best(ask[i]) if full[i] else None,
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
    def _seal(self) -> None:
        """Decode the buffered binary frames (runs of one packet type as one batch) into one :class:`Block`."""
        if not self._chunks:
            return
        chunks, self._chunks = self._chunks, []
        counts = np.fromiter((c[4] for c in chunks), dtype=np.int64, count=len(chunks))
        batch = TickBatch.concat(decode_chunks(chunks))
        recv = np.repeat(np.fromiter((c[2] for c in chunks), dtype=np.int64, count=len(chunks)), counts)
        nexts = np.repeat(np.fromiter((c[3].next_offset for c in chunks), dtype=np.int64, count=len(chunks)), counts)
        segments = [c[3].segment for c in chunks]
        segment: str | list[str] = segments[0] if len(set(segments)) == 1 else \
            np.repeat(np.array(segments, dtype=object), counts).tolist()
        tokens = pl.Series(batch.array["instrument_token"] if batch.index_block is None
                           else batch.index_block.values.view(np.int64)[TOKEN_ROW], dtype=pl.Int64)
        symbol = (tokens.replace_strict(self.symbols, default=tokens.cast(pl.Utf8), return_dtype=pl.Utf8)
                  if self.symbols else tokens.cast(pl.Utf8))
        block = Block(batch, recv, nexts, segment, symbol.alias("symbol"), self.source)
        if self.writer is not None:
            block.rows()  # built here, a bar step's worth at a time: the writer thread only concatenates and writes
        self._blocks.append(block)
        self._unbarred += 1

    def _take_unbarred(self) -> pl.DataFrame:
        """The ticks sealed since the last bar step, slim columns (the bar builder's), in arrival order."""
        self._seal()
        fresh = self._blocks[len(self._blocks) - self._unbarred:] if self._unbarred else []
        self._unbarred, self._bar_pending = 0, 0
        return tick_rows(fresh, slim=True)

    def bar_step(self, *, close_bars: bool = True) -> None:
        """Give the ticks buffered since the last step to the bar builder and close the minutes the market clock
        has passed (their bars written through the store, or handed to the writer thread). Called every
        ``bar_ticks`` ticks and by :meth:`flush`, so that one call's bar work stays small."""
        df = self._take_unbarred()
        if not df.is_empty():
            for gap in self.bars.add(df):
                self._record_gap(gap)
        if close_bars:
            self.bars.close_minutes()
        self.stats.bars_written = dict(self.bars.written)

    def _take_blocks(self) -> list[Block | pl.DataFrame]:
        """Every buffered tick's block, in arrival order; clears the buffer."""
        self._seal()
        blocks, self._blocks, self._unbarred, self._pending_ticks, self._bar_pending = self._blocks, [], 0, 0, 0
        return blocks

    def _frame_from_chunks(self) -> pl.DataFrame:
        """Every buffered tick as the stored tick rows (all columns), in arrival order; clears the buffer."""
        return tick_rows(self._take_blocks())

    def flush(self, *, close_bars: bool = True) -> int:
        """Write buffered ticks as a Parquet part (the journal fsync'd first), give them to the bar builder, close
        finished minutes. Returns the ticks of the part.

        With ``write_behind`` the part's fsync of the journal, encoding, fsync and rename (and the bars' store
        writes) run on the writer thread, in order; a failed earlier write is raised here."""
        if self.writer is not None:
            self.writer.raise_if_failed()
        self.bar_step(close_bars=close_bars)
        blocks = self._take_blocks()
        ticks = sum(b.height if isinstance(b, pl.DataFrame) else len(b.recv) for b in blocks)
        if self.writer is None:
            self.journal.flush(fsync=True)
            if ticks:
                self.stats.ticks_written += self.store.write_ticks(tick_rows(blocks))
            return ticks
        fd = self.journal.sync_handle()
        if ticks or fd is not None:
            self.writer.submit(self._write_part, blocks, fd)
        self.commit_bars()
        return ticks

    def _write_part(self, blocks: list[Block | pl.DataFrame], fd: int | None) -> int:
        """The writer thread's job: fsync the journal (``fd``, a duplicate, closed here), then store ``blocks`` as
        a ticks part."""
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if not blocks:
            return 0
        written = self.store.write_ticks(tick_rows(blocks))
        self.stats.ticks_written += written
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
        """Flush everything, close the last bars and wait for every write handed to the writer thread (SIGTERM,
        ``--until``); raises the first failed write's exception."""
        try:
            self.flush(close_bars=False)
            self.bars.finish(now)
        finally:
            self.journal.close()
            if self.writer is not None:
                self.commit_bars()
                self.writer.close()
            self.stats.bars_written = dict(self.bars.written)

    def commit_bars(self) -> None:
        """Hand the bars collected since the last flush to the writer thread (``write_behind``; on the thread that
        runs :meth:`on_frame`)."""
        if self.writer is not None:
            self.bars.store.commit()  # type: ignore[union-attr]

    def drain(self) -> None:
        """Wait until every write handed to the writer thread is on disk (nothing to wait for without
        ``write_behind``); raises the first failed write's exception."""
        if self.writer is not None:
            self.bars.store.drain()  # type: ignore[union-attr]

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
                        self._seal()
                        self._blocks.append(self._decorate(df, record.position, doc.get("kind") == "polled"))
                        self._pending_ticks += df.height
                    continue
                shape = uniform_shape(data)
                if shape is not None:
                    self._chunks.append((data, shape[1], us_since_epoch(record.recv_ts), record.position, shape[0]))
                    self._pending_ticks += shape[0]
                else:
                    frame = decode_frame(data)
                    if len(frame.ticks):
                        self._chunks.append((frame.ticks, 0, us_since_epoch(record.recv_ts), record.position,
                                             len(frame.ticks)))
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
        self.drain()
        df = self._frame_from_chunks()
        if df.is_empty():
            return 0
        return self.store.write_ticks(df)

    def seed_bars(self, day: date) -> None:
        """Load ``day``'s stored ticks into the bar builder (after :meth:`recover`, before live data): finished
        minutes are written (the store skips bars it has), the last minute stays open, and a "restart" gap is
        opened for every symbol seen. 1m bars of ``day`` stored ``partial`` are owed a backfill."""
        self.bars.owe_stored_partial(day)
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
        cols = [c for c in SLIM_COLUMNS if c in df.columns]
        boundaries = self._restart_boundaries(df, day)
        df = df.select(cols).sort("recv_ts", maintain_order=True)
        self._redirty_recorded_gaps(day)
        self._dirty_across(df, boundaries)
        self.bars.add(df)
        self.bars.close_minutes()
        self.bars.open_gap("restart")

    def adopt_universe(self, tokens: dict[int, str], index_future: dict[str, str], backfill: set[str]) -> None:
        """The feed resolved its universe: token → symbol names, each index's future (its volume), and the
        symbols whose gaps are backfilled."""
        self.symbols.update(tokens)
        self.bars.index_future.update(index_future)
        self.bars.backfill_symbols = set(backfill)

    def mark_disconnect(self, cause: Cause) -> None:
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
            lit = pl.lit(b).cast(UTC_US)
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


def _best(price: Any) -> float | None:
    """A best bid/ask price for the hub's tick message: None when the packet has no depth (NaN/0: Kite sends 0
    for an empty side)."""
    return float(price) if price is not None and price == price and price > 0 else None

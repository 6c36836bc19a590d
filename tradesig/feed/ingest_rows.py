"""The tick rows the ingestor stores: decoded binary frames as :class:`Block` s, and the JSON journal records
(REST-polled quotes, Breeze ticks) as DataFrames.

Stored tick columns (docs/feed.md "What it stores"): the codec's :data:`~tradesig.feed.kite_columnar.TICK_COLUMNS`,
then ``recv_ts`` (UTC, µs), ``symbol``, ``polled``, ``source``, ``journal_segment``, ``journal_next``. Pure: no
I/O.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from tradesig.feed.barbuilder import SLIM_COLUMNS, UTC_US
from tradesig.feed.kite_index import INDEX_FIELDS
from tradesig.feed.kite_protocol import TickBatch, decode_frames, tick_schema
from tradesig.store.journal import JournalPosition

log = logging.getLogger(__name__)


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
        pl.lit(recv_ts).cast(UTC_US).alias("recv_ts"))


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


class Block:
    """The ticks of consecutive binary frames, decoded (``Ingestor._seal``): ``batch``, per tick the receive time
    (µs since the epoch, ``recv``) and journal position (``nexts``; ``segment``: one name, or one per tick), the
    ``symbol`` column and the ``source``. Immutable once made (the writer thread may read it)."""

    __slots__ = ("batch", "recv", "nexts", "segment", "symbol", "source", "_rows")

    def __init__(self, batch: TickBatch, recv: np.ndarray, nexts: np.ndarray, segment: str | list[str],
                 symbol: pl.Series, source: str) -> None:
        self.batch, self.recv, self.nexts, self.segment, self.symbol, self.source = \
            batch, recv, nexts, segment, symbol, source
        self._rows: pl.DataFrame | None = None

    def slim(self) -> pl.DataFrame:
        """The bar builder's columns (:data:`SLIM_COLUMNS`) of :meth:`rows` (built once: the part needs them)."""
        return self.rows().select(SLIM_COLUMNS)

    def rows(self) -> pl.DataFrame:
        """The stored tick rows: every codec column, then recv_ts, symbol, polled, source and the journal
        position."""
        if self._rows is None:
            segment = pl.lit(self.segment).alias("journal_segment") if isinstance(self.segment, str) else \
                pl.Series("journal_segment", self.segment, dtype=pl.Utf8)
            self._rows = self.batch.to_polars().with_columns(
                pl.Series("recv_ts", self.recv).cast(UTC_US), self.symbol, pl.lit(False).alias("polled"),
                pl.lit(self.source).alias("source"), segment, pl.Series("journal_next", self.nexts))
        return self._rows


TOKEN_ROW = INDEX_FIELDS.index("instrument_token")


def tick_rows(blocks: list[Block | pl.DataFrame], *, slim: bool = False) -> pl.DataFrame:
    """The stored tick rows of ``blocks`` (``slim``: the bar builder's columns of the binary ones) in arrival
    order (sorted by receive time when JSON records are among them, as the ticks of one flush always were)."""
    frames = [(b.slim() if slim else b.rows()) if isinstance(b, Block) else b for b in blocks]
    if not frames:
        return pl.DataFrame()
    if len(frames) == 1:
        return frames[0]
    if all(isinstance(b, Block) for b in blocks):
        return pl.concat(frames, how="vertical_relaxed")
    return pl.concat(frames, how="diagonal_relaxed").sort("recv_ts", maintain_order=True)


def decode_chunks(chunks: list[tuple[bytes | TickBatch, int, int, JournalPosition, int]]) -> list[TickBatch]:
    """The buffered frames' ticks, in order: each run of raw frames of one packet type decoded as one batch
    (:func:`decode_frames`), already decoded frames as they are."""
    out: list[TickBatch] = []
    run: list[bytes] = []
    run_length = 0
    for item, length, *_ in chunks:
        if length and length == run_length:
            run.append(item)  # type: ignore[arg-type]
            continue
        if run:
            out.append(decode_frames(run, run_length))
        if length:
            run, run_length = [item], length  # type: ignore[list-item]
        else:
            run, run_length = [], 0
            out.append(item)  # type: ignore[arg-type]
    if run:
        out.append(decode_frames(run, run_length))
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us_since_epoch(recv_ts: datetime) -> int:
    """µs since the epoch of an aware receive time (the stored ``recv_ts``)."""
    return int((recv_ts - _EPOCH).total_seconds() * 1_000_000)


__all__ = ["Block", "TOKEN_ROW", "tick_rows", "decode_chunks", "us_since_epoch", "quote_ticks", "json_record_ticks"]

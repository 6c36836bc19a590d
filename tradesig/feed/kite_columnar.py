"""Columnar conversion of decoded ticks: a :class:`~tradesig.feed.kite_decode.TickBatch` → a polars DataFrame.

The CONTRACTS.md "Ticks" table: :data:`TICK_COLUMNS` in that order, :func:`tick_schema` their polars types.
Fields a packet type does not carry (depth of a quote packet, volume of an index) are null. polars is imported
lazily: decoding never needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from tradesig.feed.kite_decode import FLOAT_COLUMNS, TIME_COLUMNS
from tradesig.feed.kite_index import INDEX_FIELDS, IndexBlock
from tradesig.feed.kite_wire import (
    FULL_LEN,
    INDEX_FULL_LEN,
    INDEX_QUOTE_LEN,
    LTP_LEN,
    MODES,
    PACKET_MODE,
    QUOTE_LEN,
    LocalProtocolError,
)

if TYPE_CHECKING:
    from tradesig.feed.kite_decode import TickBatch

__all__ = ["TICK_COLUMNS", "tick_schema", "to_polars"]

#: Column order of :func:`to_polars` (CONTRACTS.md "Ticks"; ``recv_ts`` is added by the feed).
TICK_COLUMNS: tuple[str, ...] = (
    "instrument_token", "mode", "tradable", "last_price", "last_traded_quantity", "average_traded_price",
    "volume_traded", "total_buy_quantity", "total_sell_quantity", "open", "high", "low", "close", "change",
    "last_trade_time", "exchange_timestamp", "oi", "oi_day_high", "oi_day_low",
    *[f"bid_price_{i}" for i in range(1, 6)], *[f"bid_qty_{i}" for i in range(1, 6)],
    *[f"bid_orders_{i}" for i in range(1, 6)], *[f"ask_price_{i}" for i in range(1, 6)],
    *[f"ask_qty_{i}" for i in range(1, 6)], *[f"ask_orders_{i}" for i in range(1, 6)],
)

#: Which packet types carry each column (the mask column of to_polars); columns absent here always exist.
_PRESENCE: dict[str, str] = {
    **{name: "_trade" for name in ("last_traded_quantity", "average_traded_price", "volume_traded",
                                    "total_buy_quantity", "total_sell_quantity")},
    **{name: "_ohlc" for name in ("open", "high", "low", "close", "change")},
    **{name: "_full" for name in ("last_trade_time", "oi", "oi_day_high", "oi_day_low")},
    **{name: "_full" for name in TICK_COLUMNS if name.startswith(("bid_", "ask_"))},
    "exchange_timestamp": "_ets",
}


def tick_schema() -> dict[str, Any]:
    """The polars schema of :func:`to_polars` ({column: polars dtype}), without ``recv_ts``."""
    import polars as pl

    schema: dict[str, Any] = {}
    for name in TICK_COLUMNS:
        if name == "instrument_token":
            schema[name] = pl.UInt32
        elif name == "mode":
            schema[name] = pl.Utf8
        elif name == "tradable":
            schema[name] = pl.Boolean
        elif name in FLOAT_COLUMNS:
            schema[name] = pl.Float64
        elif name in TIME_COLUMNS:
            schema[name] = pl.Datetime("us", "UTC")
        else:
            schema[name] = pl.Int64
    return schema


def to_polars(batch: TickBatch, recv_ts: datetime | None = None):
    """A polars DataFrame with the :data:`TICK_COLUMNS` of ``batch``, one row per tick, in packet order.

    Prices in rupees (Float64), quantities Int64, times ``Datetime("us", "UTC")``; fields the packet type does not
    carry are null. ``recv_ts`` (timezone-aware), when given, is added as a ``Datetime("us", "UTC")`` column.
    Raises :class:`~tradesig.feed.kite_wire.LocalProtocolError` for a naive ``recv_ts``.
    """
    import polars as pl

    block = batch.index_block
    if block is not None:  # index packets only: their columns straight from the block, the rest null
        columns = _index_columns(block)
    else:
        a = batch.array
        length = a["packet_length"]
        is_full = length == FULL_LEN
        columns = {
            "_trade": (length == QUOTE_LEN) | is_full,
            "_ohlc": length != LTP_LEN,
            "_full": is_full,
            "_ets": is_full | (length == INDEX_FULL_LEN),
            "instrument_token": a["instrument_token"],
            "mode": np.array(MODES)[a["mode"]],
            "tradable": a["tradable"],
        }
        for name in TICK_COLUMNS[3:]:
            columns[name] = a[name].view(np.int64) if name in TIME_COLUMNS else a[name]
    schema = tick_schema()
    exprs = []
    for name in TICK_COLUMNS:
        if name not in columns:
            exprs.append(pl.lit(None, dtype=schema[name]).alias(name))
            continue
        expr = pl.col(name).cast(schema[name])
        mask = _PRESENCE.get(name)
        if mask in columns:  # (an index block has no "_ohlc" mask: every index packet carries OHLC)
            expr = pl.when(pl.col(mask)).then(expr).otherwise(None)
        exprs.append(expr.alias(name))
    if recv_ts is not None:
        if recv_ts.tzinfo is None:
            raise LocalProtocolError("recv_ts must be timezone-aware", hint="pass an aware UTC datetime")
        exprs.append(pl.lit(recv_ts.astimezone(UTC)).cast(pl.Datetime("us", "UTC")).alias("recv_ts"))
    return pl.DataFrame(columns).select(exprs)


def _index_columns(block: IndexBlock) -> dict[str, Any]:
    """to_polars' input columns of an index block: what index packets carry (open … change, the exchange
    timestamp of a full packet); the columns left out are null."""
    n = len(block)
    length = np.broadcast_to(np.asarray(block.length, dtype=np.uint16), (n,))
    ints = block.values.view(np.int64)
    columns: dict[str, Any] = {
        "_ets": length == INDEX_FULL_LEN,
        "instrument_token": ints[INDEX_FIELDS.index("instrument_token")],
        "mode": np.where(length == INDEX_FULL_LEN, MODES[PACKET_MODE[INDEX_FULL_LEN]],
                         MODES[PACKET_MODE[INDEX_QUOTE_LEN]]),
        "tradable": np.broadcast_to(np.asarray(block.tradable, dtype=bool), (n,)),
    }
    for i, name in enumerate(INDEX_FIELDS[:INDEX_FIELDS.index("instrument_token")]):
        columns[name] = block.values[i]
    columns["exchange_timestamp"] = ints[INDEX_FIELDS.index("exchange_timestamp")]
    return columns

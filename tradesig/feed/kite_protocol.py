"""Kite ticker wire protocol: a sans-I/O codec (bytes in, ticks out; ticks in, bytes out).

No sockets, no clocks, no logging on the hot path: :func:`decode_frame` takes the payload of one WebSocket binary
message and returns a :class:`DecodedFrame`; :func:`decode_text` takes one text message. The encoders build the same
frames for the sim. The wire format is described in ``docs/protocol.md``; in short (all integers big-endian):

* binary frame = ``uint16`` packet count, then per packet ``uint16`` length + body; a frame under 2 bytes is a
  heartbeat;
* bodies of 8 bytes (LTP), 28 (index quote), 32 (index full), 44 (quote), 184 (full with 5+5 depth);
* prices are unsigned integers divided by the segment's divisor (segment = ``instrument_token & 0xFF``: CDS (3)
  1e7, BCD (6) and NCO (12) 1e4, everything else 100) — :func:`price_divisor`;
* index packets order OHLC as high, low, open, close; other packets as open, high, low, close;
* ``change`` is not read from the wire: it is computed as ``(last_price - close) * 100 / close`` (per cent), 0 when
  close is 0.

Source: the official Python client ``kiteconnect.KiteTicker._parse_binary`` (pykiteconnect 5.x, ``ticker.py``),
which this decoder reproduces field for field (tests/feed/test_kite_protocol.py), and the Kite Connect v3 WebSocket
documentation (https://kite.trade/docs/connect/v3/websocket/). One deliberate difference: the official client
returns naive local-time datetimes (``datetime.fromtimestamp``); this codec returns timezone-aware UTC datetimes
for ``last_trade_time`` and ``exchange_timestamp`` (the same instants).

The decoder never raises on peer data: a malformed packet is skipped and described in ``DecodedFrame.errors``,
and the good packets of the same frame are kept wherever the framing still says where they are.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from tradesig.errors import ProtocolError

__all__ = [
    "HEARTBEAT",
    "PACKET_LENGTHS",
    "SEGMENT_INDICES",
    "TICK_COLUMNS",
    "DecodedFrame",
    "TextMessage",
    "TickBatch",
    "decode_frame",
    "decode_text",
    "encode_error",
    "encode_frame",
    "encode_full",
    "encode_index_full",
    "encode_index_quote",
    "encode_ltp",
    "encode_message",
    "encode_order_postback",
    "encode_packet",
    "encode_packets",
    "encode_quote",
    "price_divisor",
    "tick_schema",
]

# ----------------------------------------------------------------------------------------------------------------
# Constants of the protocol

#: A heartbeat: Kite sends a 1-byte binary message about once a second when there is nothing else to send.
HEARTBEAT = b"\x00"

LTP_LEN = 8
INDEX_QUOTE_LEN = 28
INDEX_FULL_LEN = 32
QUOTE_LEN = 44
FULL_LEN = 184
#: Body lengths (bytes) of the packet types, after the 2-byte length prefix.
PACKET_LENGTHS = (LTP_LEN, INDEX_QUOTE_LEN, INDEX_FULL_LEN, QUOTE_LEN, FULL_LEN)

#: Kite's segment codes (``instrument_token & 0xFF``), from ``KiteTicker.EXCHANGE_MAP``.
SEGMENT_NSE, SEGMENT_NFO, SEGMENT_CDS, SEGMENT_BSE, SEGMENT_BFO, SEGMENT_BCD = 1, 2, 3, 4, 5, 6
SEGMENT_MCX, SEGMENT_MCXSX, SEGMENT_INDICES, SEGMENT_NCO = 7, 8, 9, 12
#: Price divisors that differ from the default 100 (paise → rupees): CDS quotes to 7 decimals, BCD and NCO to 4.
DEFAULT_DIVISORS: Mapping[int, float] = {SEGMENT_CDS: 10_000_000.0, SEGMENT_BCD: 10_000.0, SEGMENT_NCO: 10_000.0}
DEFAULT_DIVISOR = 100.0

MODE_LTP, MODE_QUOTE, MODE_FULL = "ltp", "quote", "full"
MODES = (MODE_LTP, MODE_QUOTE, MODE_FULL)
_LEN_MODE = {LTP_LEN: 0, INDEX_QUOTE_LEN: 1, INDEX_FULL_LEN: 2, QUOTE_LEN: 1, FULL_LEN: 2}

_U16 = struct.Struct(">H")
_UINT32_MAX = 0xFFFFFFFF

# ----------------------------------------------------------------------------------------------------------------
# Output layout: one native structured array; an 8-byte header slot, then 8-byte value columns grouped so that all
# float columns and all integer/time columns are contiguous and ordered like the words of a full packet. A group of
# packets is then decoded with a handful of whole-array numpy operations, whatever its size.

_DEPTH_SIDES = (("bid", 0), ("ask", 5))
_FLOAT_COLS = (
    ["last_price", "open", "high", "low", "close", "average_traded_price"]
    + [f"{side}_price_{i}" for side, _ in _DEPTH_SIDES for i in range(1, 6)]
    + ["change"]
)
_INT_COLS = (
    ["last_traded_quantity", "volume_traded", "total_buy_quantity", "total_sell_quantity", "oi", "oi_day_high",
     "oi_day_low"]
    + [f"{side}_qty_{i}" for side, _ in _DEPTH_SIDES for i in range(1, 6)]
    + [f"{side}_orders_{i}" for side, _ in _DEPTH_SIDES for i in range(1, 6)]
)
_TIME_COLS = ["last_trade_time", "exchange_timestamp"]
_F0 = 8
_I0 = _F0 + 8 * len(_FLOAT_COLS)
_T0 = _I0 + 8 * len(_INT_COLS)
_ITEMSIZE = _T0 + 8 * len(_TIME_COLS)
_NF = len(_FLOAT_COLS)
_NI = len(_INT_COLS) + len(_TIME_COLS)  # times share the int64 view

#: The structured dtype of :attr:`TickBatch.array` (native byte order). ``packet_length`` is the wire body length
#: (8/28/32/44/184) and decides which fields the packet carried; ``mode`` is 0 ltp, 1 quote, 2 full. Prices in
#: rupees (float64); quantities in units (int64); times ``datetime64[us]`` in UTC. Fields a packet does not carry
#: hold NaN (floats), 0 (integers) or NaT (times); :meth:`TickBatch.to_polars` turns them into nulls.
TICK_DTYPE = np.dtype(
    {
        "names": ["instrument_token", "packet_length", "mode", "tradable", *_FLOAT_COLS, *_INT_COLS, *_TIME_COLS],
        "formats": ["u4", "u2", "u1", "?"] + ["f8"] * len(_FLOAT_COLS) + ["i8"] * len(_INT_COLS)
        + ["M8[us]"] * len(_TIME_COLS),
        "offsets": [0, 4, 6, 7] + [_F0 + 8 * i for i in range(_NF)] + [_I0 + 8 * i for i in range(_NI)],
        "itemsize": _ITEMSIZE,
    }
)
#: The same row as a native ``struct`` (used by the small-frame path): token, length, mode, tradable, floats, ints.
_ROW = struct.Struct(f"=IHB?{_NF}d{_NI}q")
assert _ROW.size == _ITEMSIZE
# positions in a _ROW tuple, as used by TickBatch.to_dicts
assert [4 + _FLOAT_COLS.index(c) for c in ("last_price", "open", "high", "low", "close", "average_traded_price",
                                           "bid_price_1", "ask_price_1", "change")] == [4, 5, 6, 7, 8, 9, 10, 15, 20]
assert [21 + _INT_COLS.index(c) for c in ("last_traded_quantity", "total_sell_quantity", "oi", "oi_day_low",
                                          "bid_qty_1", "ask_qty_1", "bid_orders_1", "ask_orders_1")] == [
    21, 24, 25, 27, 28, 33, 38, 43]

#: Column order of :meth:`TickBatch.to_polars` (CONTRACTS.md "Ticks"; ``recv_ts`` is added by the feed).
TICK_COLUMNS: tuple[str, ...] = (
    "instrument_token", "mode", "tradable", "last_price", "last_traded_quantity", "average_traded_price",
    "volume_traded", "total_buy_quantity", "total_sell_quantity", "open", "high", "low", "close", "change",
    "last_trade_time", "exchange_timestamp", "oi", "oi_day_high", "oi_day_low",
    *[f"bid_price_{i}" for i in range(1, 6)], *[f"bid_qty_{i}" for i in range(1, 6)],
    *[f"bid_orders_{i}" for i in range(1, 6)], *[f"ask_price_{i}" for i in range(1, 6)],
    *[f"ask_qty_{i}" for i in range(1, 6)], *[f"ask_orders_{i}" for i in range(1, 6)],
)

_FI = {name: i for i, name in enumerate(_FLOAT_COLS)}
_II = {name: i for i, name in enumerate(_INT_COLS + _TIME_COLS)}
_CHANGE = _FI["change"]
_CLOSE = _FI["close"]
_TIMES = slice(_II["last_trade_time"], _NI)
_NAT = np.iinfo(np.int64).min
_NAN = float("nan")


def _dst(cols: list[int]) -> slice | np.ndarray:
    """A slice when the destination columns are contiguous and ascending (cheaper to assign), else an index array."""
    if cols == list(range(cols[0], cols[0] + len(cols))):
        return slice(cols[0], cols[0] + len(cols))
    return np.array(cols, dtype=np.intp)


@dataclass(frozen=True)
class _Layout:
    """How one packet type maps onto TICK_DTYPE, as indices of big-endian uint32 words of the packet body."""

    length: int
    mode: int
    price_words: np.ndarray  # divided by the segment's price divisor into float columns price_dst
    price_dst: slice | np.ndarray
    int_words: np.ndarray  # copied into int64 columns int_dst (quantities, then depth orders, then times)
    int_dst: slice | np.ndarray
    orders: slice  # within the gathered int words: depth "orders" = high uint16 of the word
    times: slice  # within the gathered int words: epoch seconds → microseconds
    has_ohlc: bool
    rec_dtype: np.dtype  # one wire record: uint16 length prefix + the packet as words


def _layout(length: int, prices: dict[str, int], ints: dict[str, int], orders: dict[str, int],
            times: dict[str, int]) -> _Layout:
    allints = {**ints, **orders, **times}
    n_int, n_ord = len(ints), len(orders)
    return _Layout(
        length=length,
        mode=_LEN_MODE[length],
        price_words=np.array(list(prices.values()), dtype=np.intp),
        price_dst=_dst([_FI[k] for k in prices]),
        int_words=np.array(list(allints.values()), dtype=np.intp),
        int_dst=_dst([_II[k] for k in allints]) if allints else slice(0, 0),
        orders=slice(n_int, n_int + n_ord),
        times=slice(n_int + n_ord, len(allints)),
        has_ohlc="close" in prices,
        rec_dtype=np.dtype([("n", ">u2"), ("w", ">u4", (length // 4,))]),
    )


# Word indices (4-byte words of the packet body). Full packet: 0 token, 1 last price, 2 last traded quantity,
# 3 average traded price, 4 volume, 5 total buy quantity, 6 total sell quantity, 7-10 open/high/low/close,
# 11 last trade time, 12 oi, 13 oi day high, 14 oi day low, 15 exchange timestamp, then 10 depth entries of 12 bytes
# (3 words: quantity, price, orders uint16 + 2 bytes padding): entries 0-4 bids ("buy"), 5-9 asks ("sell").
_QUOTE_PRICES = {"last_price": 1, "open": 7, "high": 8, "low": 9, "close": 10, "average_traded_price": 3}
_QUOTE_INTS = {"last_traded_quantity": 2, "volume_traded": 4, "total_buy_quantity": 5, "total_sell_quantity": 6}
_DEPTH_PRICES = {f"{side}_price_{i + 1}": 17 + 3 * (base + i) for side, base in _DEPTH_SIDES for i in range(5)}
_DEPTH_QTYS = {f"{side}_qty_{i + 1}": 16 + 3 * (base + i) for side, base in _DEPTH_SIDES for i in range(5)}
_DEPTH_ORDERS = {f"{side}_orders_{i + 1}": 18 + 3 * (base + i) for side, base in _DEPTH_SIDES for i in range(5)}
# Index packets: 0 token, 1 last price, 2 high, 3 low, 4 open, 5 close, 6 net change (ignored, as the official
# client does), 7 exchange timestamp (32-byte packet only).
_INDEX_PRICES = {"last_price": 1, "open": 4, "high": 2, "low": 3, "close": 5}

_LAYOUTS: dict[int, _Layout] = {
    LTP_LEN: _layout(LTP_LEN, {"last_price": 1}, {}, {}, {}),
    INDEX_QUOTE_LEN: _layout(INDEX_QUOTE_LEN, _INDEX_PRICES, {}, {}, {}),
    INDEX_FULL_LEN: _layout(INDEX_FULL_LEN, _INDEX_PRICES, {}, {}, {"exchange_timestamp": 7}),
    QUOTE_LEN: _layout(QUOTE_LEN, _QUOTE_PRICES, _QUOTE_INTS, {}, {}),
    FULL_LEN: _layout(
        FULL_LEN, {**_QUOTE_PRICES, **_DEPTH_PRICES},
        {**_QUOTE_INTS, "oi": 12, "oi_day_high": 13, "oi_day_low": 14, **_DEPTH_QTYS}, _DEPTH_ORDERS,
        {"last_trade_time": 11, "exchange_timestamp": 15},
    ),
}
_STRUCTS = {length: struct.Struct(f">{length // 4}I") for length in _LAYOUTS}

_TEMPLATE_ROWS = 512


def _template(length: int | None) -> bytes:
    """_TEMPLATE_ROWS blank rows (NaN / 0 / NaT; packet_length and mode preset when ``length`` is given)."""
    a = np.zeros(_TEMPLATE_ROWS, dtype=TICK_DTYPE)
    for name in _FLOAT_COLS:
        a[name] = np.nan
    for name in _TIME_COLS:
        a[name] = np.datetime64("NaT")
    if length is not None:
        a["packet_length"] = length
        a["mode"] = _LEN_MODE[length]
    return a.tobytes()


_TEMPLATES = {length: _template(length) for length in (None, *PACKET_LENGTHS)}


def _blank_buffer(n: int, length: int | None = None) -> bytearray:
    """Bytes of ``n`` fresh TICK_DTYPE rows with every field absent (NaN / 0 / NaT; packet_length and mode of
    ``length`` when given)."""
    template = _TEMPLATES[length]
    size = n * _ITEMSIZE
    if size <= len(template):
        return bytearray(template[:size])
    return bytearray((template * -(-n // _TEMPLATE_ROWS))[:size])


def _blank(n: int, length: int | None = None) -> np.ndarray:
    """``n`` fresh writable rows of TICK_DTYPE with every field absent (NaN / 0 / NaT)."""
    return np.frombuffer(_blank_buffer(n, length), dtype=TICK_DTYPE)


def _views(buf: bytearray) -> tuple[np.ndarray, np.ndarray]:
    """(float64 view n×_NF, int64 view n×_NI) over the value columns of TICK_DTYPE rows held in ``buf``.

    Built on the bytearray rather than the structured array: exporting a structured array's buffer costs ~10×
    more (numpy formats a PEP 3118 description of the dtype each time)."""
    n = len(buf) // _ITEMSIZE
    return (np.ndarray((n, _NF), np.float64, buf, _F0, (_ITEMSIZE, 8)),
            np.ndarray((n, _NI), np.int64, buf, _I0, (_ITEMSIZE, 8)))


# ----------------------------------------------------------------------------------------------------------------
# Price divisors


@lru_cache(maxsize=32)
def _divisor_table(overrides: tuple[tuple[int, float], ...] | None) -> tuple[np.ndarray, tuple[float, ...]]:
    table = np.full(256, DEFAULT_DIVISOR)
    for seg, div in DEFAULT_DIVISORS.items():
        table[seg] = div
    for seg, div in overrides or ():
        table[seg] = div
    table.setflags(write=False)
    return table, tuple(table.tolist())


def _table_for(segment_divisors: Mapping[int, float] | None) -> tuple[np.ndarray, tuple[float, ...]]:
    if not segment_divisors:
        return _DEFAULT_TABLE
    return _divisor_table(tuple(sorted((int(k) & 0xFF, float(v)) for k, v in segment_divisors.items())))


_DEFAULT_TABLE = _divisor_table(None)


def price_divisor(token: int, segment_divisors: Mapping[int, float] | None = None) -> float:
    """The number a wire price of ``token`` is divided by to give rupees.

    segment = ``token & 0xFF``: CDS (3) 1e7, BCD (6) and NCO (12) 1e4, every other segment 100 (paise).
    ``segment_divisors`` ({segment: divisor}) overrides these, e.g. if Kite changes a segment's precision.
    Source: ``kiteconnect.KiteTicker._parse_binary`` and ``EXCHANGE_MAP`` (pykiteconnect 5.x).
    """
    return _table_for(segment_divisors)[1][int(token) & 0xFF]


# ----------------------------------------------------------------------------------------------------------------
# Decoded results


class TickBatch:
    """The ticks of one frame (or several), in packet order.

    ``array`` is a numpy structured array of :data:`TICK_DTYPE` (one row per tick). :meth:`to_polars` gives the
    CONTRACTS.md "Ticks" columns (nulls where the packet type has no such field); :meth:`to_dicts` gives dicts
    shaped exactly like ``kiteconnect.KiteTicker._parse_binary`` output, except that datetimes are tz-aware UTC.
    """

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        if array.dtype != TICK_DTYPE:
            raise TypeError(f"TickBatch needs an array of TICK_DTYPE, not {array.dtype}")
        self.array = array

    @classmethod
    def _wrap(cls, array: np.ndarray) -> TickBatch:
        batch = cls.__new__(cls)
        batch.array = array
        return batch

    def __len__(self) -> int:
        return len(self.array)

    def __repr__(self) -> str:
        return f"TickBatch({len(self.array)} ticks)"

    @staticmethod
    def concat(batches: Sequence[TickBatch]) -> TickBatch:
        """One batch of the ticks of ``batches``, in order."""
        if not batches:
            return TickBatch._wrap(_blank(0))
        return TickBatch._wrap(np.concatenate([b.array.view(_ROW_BYTES) for b in batches]).view(TICK_DTYPE))

    def to_dicts(self) -> list[dict[str, Any]]:
        """Official-shaped tick dicts (keys, nesting and key order of ``KiteTicker._parse_binary``).

        Prices in rupees (float), quantities int, ``change`` in per cent (int 0 when close is 0, as the official
        client gives it), ``last_trade_time``/``exchange_timestamp`` timezone-aware UTC datetimes (the official
        client gives naive local time).
        """
        out: list[dict[str, Any]] = []
        append = out.append
        for r in _ROW.iter_unpack(self.array.tobytes()):
            # r: token, length, mode, tradable, 17 floats (_FLOAT_COLS), 29 ints (_INT_COLS, then the two times)
            length = r[1]
            d: dict[str, Any] = {"tradable": r[3], "mode": MODES[r[2]], "instrument_token": r[0], "last_price": r[4]}
            if length == LTP_LEN:
                append(d)
                continue
            if length == INDEX_QUOTE_LEN or length == INDEX_FULL_LEN:
                d["ohlc"] = {"high": r[6], "low": r[7], "open": r[5], "close": r[8]}
                d["change"] = r[20] if r[8] != 0 else 0
                if length == INDEX_FULL_LEN:
                    d["exchange_timestamp"] = _utc(r[49])
                append(d)
                continue
            d["last_traded_quantity"] = r[21]
            d["average_traded_price"] = r[9]
            d["volume_traded"] = r[22]
            d["total_buy_quantity"] = r[23]
            d["total_sell_quantity"] = r[24]
            d["ohlc"] = {"open": r[5], "high": r[6], "low": r[7], "close": r[8]}
            d["change"] = r[20] if r[8] != 0 else 0
            if length == FULL_LEN:
                d["last_trade_time"] = _utc(r[48])
                d["oi"] = r[25]
                d["oi_day_high"] = r[26]
                d["oi_day_low"] = r[27]
                d["exchange_timestamp"] = _utc(r[49])
                d["depth"] = {
                    "buy": [{"quantity": r[28 + i], "price": r[10 + i], "orders": r[38 + i]} for i in range(5)],
                    "sell": [{"quantity": r[33 + i], "price": r[15 + i], "orders": r[43 + i]} for i in range(5)],
                }
            append(d)
        return out

    def to_polars(self, recv_ts: datetime | None = None):
        """A polars DataFrame with the CONTRACTS.md "Ticks" columns, one row per tick, in packet order.

        Fields the packet type does not carry are null (e.g. depth of a quote packet, volume of an index).
        ``recv_ts`` (timezone-aware), when given, is added as a ``Datetime("us", "UTC")`` column.
        """
        import polars as pl

        a = self.array
        length = a["packet_length"]
        is_full = length == FULL_LEN
        columns: dict[str, Any] = {
            "_trade": (length == QUOTE_LEN) | is_full,
            "_ohlc": length != LTP_LEN,
            "_full": is_full,
            "_ets": is_full | (length == INDEX_FULL_LEN),
            "instrument_token": a["instrument_token"],
            "mode": np.array(MODES)[a["mode"]],
            "tradable": a["tradable"],
        }
        for name in TICK_COLUMNS[3:]:
            columns[name] = a[name].view(np.int64) if name in _TIME_COLS else a[name]
        schema = tick_schema()
        exprs = []
        for name in TICK_COLUMNS:
            expr = pl.col(name).cast(schema[name])
            mask = _PRESENCE.get(name)
            if mask is not None:
                expr = pl.when(pl.col(mask)).then(expr).otherwise(None)
            exprs.append(expr.alias(name))
        if recv_ts is not None:
            if recv_ts.tzinfo is None:
                raise ProtocolError("recv_ts must be timezone-aware", hint="pass an aware UTC datetime", ours=True)
            exprs.append(pl.lit(recv_ts.astimezone(UTC)).cast(pl.Datetime("us", "UTC")).alias("recv_ts"))
        return pl.DataFrame(columns).select(exprs)


#: Which packet types carry each column (the mask column of TickBatch.to_polars); columns absent here always exist.
_PRESENCE: dict[str, str] = {
    **{name: "_trade" for name in ("last_traded_quantity", "average_traded_price", "volume_traded",
                                    "total_buy_quantity", "total_sell_quantity")},
    **{name: "_ohlc" for name in ("open", "high", "low", "close", "change")},
    **{name: "_full" for name in ("last_trade_time", "oi", "oi_day_high", "oi_day_low")},
    **{name: "_full" for name in TICK_COLUMNS if name.startswith(("bid_", "ask_"))},
    "exchange_timestamp": "_ets",
}


def tick_schema() -> dict[str, Any]:
    """The polars schema of :meth:`TickBatch.to_polars` ({column: polars dtype}), without ``recv_ts``."""
    import polars as pl

    schema: dict[str, Any] = {}
    for name in TICK_COLUMNS:
        if name == "instrument_token":
            schema[name] = pl.UInt32
        elif name == "mode":
            schema[name] = pl.Utf8
        elif name == "tradable":
            schema[name] = pl.Boolean
        elif name in _FLOAT_COLS:
            schema[name] = pl.Float64
        elif name in _TIME_COLS:
            schema[name] = pl.Datetime("us", "UTC")
        else:
            schema[name] = pl.Int64
    return schema


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(us: int) -> datetime | None:
    if us == _NAT:
        return None
    return _EPOCH + timedelta(microseconds=us)


class DecodedFrame(NamedTuple):
    """One binary WebSocket message, decoded.

    ``ticks``: the well-formed packets, in order. ``heartbeat``: the message was a heartbeat (< 2 bytes).
    ``errors``: one line per malformed packet or framing fault (the peer's fault; nothing is raised).
    """

    ticks: TickBatch
    heartbeat: bool
    errors: list[str]


@dataclass(frozen=True)
class TextMessage:
    """One text WebSocket message.

    ``type``: Kite's message type — ``"order"`` (order postback; ``data`` is the order dict as in
    ``GET /orders``), ``"error"`` (``data`` is the error text), ``"message"`` (broker notice; ``data`` the text) —
    or another string Kite may add; ``"invalid"`` when the text is not a JSON object (``error`` says why).
    ``raw``: the text as received.
    """

    type: str
    data: Any
    raw: str
    error: str | None = None


# ----------------------------------------------------------------------------------------------------------------
# Decoding

_FRAME_NOTE = "peer sent a malformed ticker frame"

#: Up to how many packets a frame is decoded with ``struct`` rather than whole-array numpy operations (numpy's
#: fixed cost per call dominates small frames). Measured on the benchmark machine (docs/benchmarks.md "## decode"):
#: the struct path costs about 2.3 µs per full packet and 1-1.5 µs per shorter one; the numpy path about 6 µs (LTP)
#: to 13 µs (full) per frame of one packet type and 40 µs per mixed frame, plus well under 0.1 µs per packet.
_STRUCT_MAX_UNIFORM = {LTP_LEN: 6, INDEX_QUOTE_LEN: 8, INDEX_FULL_LEN: 8, QUOTE_LEN: 8, FULL_LEN: 4}
_STRUCT_MAX_MIXED = 16
#: Frames with more packets than this always take the numpy path.
SMALL_FRAME = max(_STRUCT_MAX_MIXED, *_STRUCT_MAX_UNIFORM.values())


def decode_frame(data: bytes | bytearray | memoryview, segment_divisors: Mapping[int, float] | None = None
                 ) -> DecodedFrame:
    """Decode one binary ticker message into ticks.

    ``data``: the WebSocket message payload. ``segment_divisors``: optional {segment: divisor} overrides of
    :func:`price_divisor`. Returns a :class:`DecodedFrame` (ticks in packet order). Never raises on malformed data:
    a packet of unknown length is skipped; a frame whose count or lengths run past its end keeps the complete
    packets before the fault; trailing bytes are ignored; each fault is one line in ``errors``.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n < 2:
        return DecodedFrame(TickBatch._wrap(_blank(0)), True, [])
    table = _DEFAULT_TABLE if segment_divisors is None else _table_for(segment_divisors)
    count = (data[0] << 8) | data[1]
    # Fast path for the commonest small frame: exactly one well-formed packet.
    if count == 1 and n >= 4:
        length = (data[2] << 8) | data[3]
        if n == length + 4 and length in _ROW_OF:
            row = _ROW_OF[length](_STRUCTS[length].unpack_from(data, 4), table[1])
            return DecodedFrame(TickBatch._wrap(np.frombuffer(bytearray(_ROW.pack(*row)), TICK_DTYPE)), False, [])
    # Fast path: every packet has the same known length and the frame is exactly that long.
    if n >= 4 and data[2] == 0 and count > _STRUCT_MAX_UNIFORM.get(data[3], 65536):
        length = data[3]
        step = length + 2
        if (n == 2 + count * step and data[2::step].count(0) == count
                and data[3::step].count(length) == count):
            lay = _LAYOUTS[length]
            words = np.frombuffer(data, lay.rec_dtype, count, 2)["w"].astype(np.int64)
            buf = _blank_buffer(count, length)
            out = np.frombuffer(buf, dtype=TICK_DTYPE)
            _fill(out, buf, words, lay, table[0])
            return DecodedFrame(TickBatch._wrap(out), False, [])
    # General path: walk the 2-byte lengths (the only per-packet Python work), then decode by packet type.
    errors: list[str] = []
    prefixes: list[int] = []
    j = 2
    for _ in range(count):
        if j + 2 > n:
            break
        prefixes.append(j)
        j += 2 + ((data[j] << 8) | data[j + 1])
    if j > n:  # the last packet runs past the end of the frame
        last = prefixes.pop()
        length = (data[last] << 8) | data[last + 1]
        errors.append(f"{_FRAME_NOTE}: packet {len(prefixes)} declares {length} bytes but only {n - last - 2} "
                      f"remain (truncated; {count - len(prefixes)} of {count} packets lost)")
    elif len(prefixes) < count:
        errors.append(f"{_FRAME_NOTE}: it declares {count} packets but ends after {len(prefixes)} "
                      f"(no length prefix at byte {j}; {count - len(prefixes)} packets lost)")
    elif j < n:
        errors.append(f"{_FRAME_NOTE}: {n - j} trailing bytes after the {count} declared packets; ignored")
    if len(prefixes) <= _STRUCT_MAX_MIXED:
        starts, lengths = [], []
        for i, k in enumerate(prefixes):
            length = (data[k] << 8) | data[k + 1]
            if length in _LAYOUTS:
                starts.append(k + 2)
                lengths.append(length)
            else:
                errors.append(_unknown(i, length))
        return DecodedFrame(TickBatch._wrap(_decode_small(data, starts, lengths, table[1])), False, errors)
    buf = np.frombuffer(data, dtype=np.uint8)
    pre = np.array(prefixes, dtype=np.intp)
    lens = (buf[pre].astype(np.intp) << 8) | buf[pre + 1]
    known = _KNOWN_LENGTH[lens]
    if not known.all():
        for i in np.flatnonzero(~known).tolist():
            errors.append(_unknown(i, int(lens[i])))
        pre, lens = pre[known], lens[known]
    m = len(pre)
    if m == 0:
        return DecodedFrame(TickBatch._wrap(_blank(0)), False, errors)
    kinds = sorted(set(lens.tolist()))
    if m <= (_STRUCT_MAX_UNIFORM[kinds[0]] if len(kinds) == 1 else _STRUCT_MAX_MIXED):
        return DecodedFrame(TickBatch._wrap(_decode_small(data, (pre + 2).tolist(), lens.tolist(), table[1])), False,
                            errors)
    if len(kinds) == 1:
        buf = _blank_buffer(m, kinds[0])
        out = np.frombuffer(buf, dtype=TICK_DTYPE)
        _fill(out, buf, _gather(data, pre + 2, kinds[0]), _LAYOUTS[kinds[0]], table[0])
        return DecodedFrame(TickBatch._wrap(out), False, errors)
    # Mixed frame: decode each packet type as one group, then scatter whole rows into packet order.
    out = np.empty(m, dtype=TICK_DTYPE)
    rows_of_out = out.view(_ROW_BYTES)
    for length in kinds:
        rows = np.flatnonzero(lens == length)
        buf = _blank_buffer(len(rows), length)
        part = np.frombuffer(buf, dtype=TICK_DTYPE)
        _fill(part, buf, _gather(data, pre[rows] + 2, length), _LAYOUTS[length], table[0])
        rows_of_out[rows] = part.view(_ROW_BYTES)
    return DecodedFrame(TickBatch._wrap(out), False, errors)


_ROW_BYTES = np.dtype((np.void, _ITEMSIZE))


def _gather(data: bytes, starts: np.ndarray, length: int) -> np.ndarray:
    """The packets of ``length`` bytes at byte offsets ``starts`` of ``data``, as a k × length/4 int64 array."""
    # row p of this strided view = the big-endian words starting at byte p of the frame (no copy)
    window = np.ndarray((len(data) - length + 1, length // 4), dtype=">u4", buffer=data, strides=(1, 4))
    return window[starts].astype(np.int64)


_KNOWN_LENGTH = np.zeros(65536, dtype=bool)
_KNOWN_LENGTH[list(PACKET_LENGTHS)] = True


def _unknown(i: int, length: int) -> str:
    return (f"{_FRAME_NOTE}: packet {i} has unknown length {length} (expected one of "
            f"{', '.join(map(str, PACKET_LENGTHS))}); skipped")


def _fill(out: np.ndarray, buf: bytearray, w: np.ndarray, lay: _Layout, table: np.ndarray) -> None:
    """Write packets ``w`` (k × words, int64) of one layout into the k blank rows ``out`` (held in ``buf``).

    Prices are divided by the segment's divisor; ``tradable`` = segment is not INDICES; ``change`` =
    (last_price - close) * 100 / close, 0 when close is 0 (as ``KiteTicker._parse_binary``).
    """
    fview, iview = _views(buf)
    token = w[:, 0]
    seg = token & 0xFF
    out["instrument_token"] = token
    out["tradable"] = seg != SEGMENT_INDICES
    prices = fview[:, : len(lay.price_words)]
    np.divide(w[:, lay.price_words], table[seg][:, None], out=prices)
    if lay.has_ohlc:
        close = prices[:, _CLOSE]
        change = prices[:, 0] - close
        change *= 100
        # x / inf = 0.0 where close is 0, as the official client's 0
        np.divide(change, close if close.all() else np.where(close != 0, close, np.inf), out=fview[:, _CHANGE])
    if len(lay.int_words):
        ints = w[:, lay.int_words]
        if lay.orders.stop > lay.orders.start:
            ints[:, lay.orders] >>= 16
        if lay.times.stop > lay.times.start:
            ints[:, lay.times] *= 1_000_000
        iview[:, lay.int_dst] = ints


def _decode_small(data: bytes, starts: list[int], lengths: list[int], divs: tuple[float, ...]) -> np.ndarray:
    """Decode a few packets with ``struct`` into TICK_DTYPE rows (the same values as the numpy path)."""
    pack = _ROW.pack
    buf = bytearray(b"".join([pack(*_ROW_OF[length](_STRUCTS[length].unpack_from(data, start), divs))
                              for start, length in zip(starts, lengths, strict=True)]))
    return np.frombuffer(buf, dtype=TICK_DTYPE)


_NAN10 = (_NAN,) * 10
_ZERO3 = (0, 0, 0)
_ZERO20 = (0,) * 20
_NAT2 = (_NAT, _NAT)


def _change(lp: float, close: float) -> float:
    return (lp - close) * 100 / close if close != 0 else 0.0


def _row_ltp(w: tuple[int, ...], divs: tuple[float, ...]) -> tuple:
    token = w[0]
    seg = token & 0xFF
    return (token, LTP_LEN, 0, seg != SEGMENT_INDICES, w[1] / divs[seg], _NAN, _NAN, _NAN, _NAN, _NAN, *_NAN10, _NAN,
            0, 0, 0, 0, *_ZERO3, *_ZERO20, *_NAT2)


def _row_index(w: tuple[int, ...], divs: tuple[float, ...]) -> tuple:
    token = w[0]
    seg = token & 0xFF
    div = divs[seg]
    lp, close = w[1] / div, w[5] / div
    ets = (_NAT, w[7] * 1_000_000) if len(w) == 8 else _NAT2
    return (token, len(w) * 4, len(w) - 6, seg != SEGMENT_INDICES, lp, w[4] / div, w[2] / div, w[3] / div, close,
            _NAN, *_NAN10, _change(lp, close), 0, 0, 0, 0, *_ZERO3, *_ZERO20, *ets)


def _row_quote(w: tuple[int, ...], divs: tuple[float, ...]) -> tuple:
    token = w[0]
    seg = token & 0xFF
    div = divs[seg]
    lp, close = w[1] / div, w[10] / div
    return (token, QUOTE_LEN, 1, seg != SEGMENT_INDICES, lp, w[7] / div, w[8] / div, w[9] / div, close, w[3] / div,
            *_NAN10, _change(lp, close), w[2], w[4], w[5], w[6], *_ZERO3, *_ZERO20, *_NAT2)


def _row_full(w: tuple[int, ...], divs: tuple[float, ...]) -> tuple:
    token = w[0]
    seg = token & 0xFF
    div = divs[seg]
    lp, close = w[1] / div, w[10] / div
    return (token, FULL_LEN, 2, seg != SEGMENT_INDICES, lp, w[7] / div, w[8] / div, w[9] / div, close, w[3] / div,
            *[p / div for p in w[17::3]], _change(lp, close), w[2], w[4], w[5], w[6], w[12], w[13], w[14],
            *w[16::3], *[o >> 16 for o in w[18::3]], w[11] * 1_000_000, w[15] * 1_000_000)


_ROW_OF = {LTP_LEN: _row_ltp, INDEX_QUOTE_LEN: _row_index, INDEX_FULL_LEN: _row_index, QUOTE_LEN: _row_quote,
           FULL_LEN: _row_full}


def decode_text(text: str | bytes) -> TextMessage:
    """Decode one text ticker message (JSON ``{"type": ..., "data": ...}``); never raises on peer data.

    Types Kite sends: ``"order"`` (order postback), ``"error"``, ``"message"``. Text that is not a JSON object gives
    ``TextMessage(type="invalid", data=None, error=...)``.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            return TextMessage("invalid", None, bytes(text).decode("utf-8", "replace"),
                               f"peer sent a text message that is not UTF-8: {exc}")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        return TextMessage("invalid", None, text, f"peer sent a text message that is not JSON we can read: {exc}")
    if not isinstance(obj, dict):
        return TextMessage("invalid", None, text, "peer sent a JSON text message that is not an object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        return TextMessage("invalid", obj.get("data"), text, "peer sent a text message without a string 'type'")
    return TextMessage(kind, obj.get("data"), text)


# ----------------------------------------------------------------------------------------------------------------
# Encoding (for the sim and tests)


def _misuse(message: str) -> ProtocolError:
    return ProtocolError(message, hint="fix the tick passed to the encoder", ours=True)


def _u32(value: Any, what: str) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):  # None, text, NaN, infinity
        raise _misuse(f"{what}={value!r} is not a number the wire can carry") from None
    if not 0 <= v <= _UINT32_MAX:
        raise _misuse(f"{what}={value!r} does not fit the wire's unsigned 32-bit field")
    return v


def _price(value: Any, div: float, what: str) -> int:
    if value is None:
        return 0
    try:
        units = round(float(value) * div)
    except (TypeError, ValueError, OverflowError):  # text, NaN, infinity
        raise _misuse(f"{what}={value!r} is not a price the wire can carry") from None
    return _u32(units, what)


def _epoch(value: Any, what: str) -> int:
    """Seconds since the epoch of a datetime (aware; naive = local time, as Python and the official client
    read it), an int/float of epoch seconds, or None (0)."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return _u32(int(value.timestamp()), what)
    if isinstance(value, np.datetime64):
        return _u32(int(value.astype("datetime64[s]").astype(np.int64)), what)
    return _u32(value, what)


def _ohlc(tick: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    ohlc = tick.get("ohlc")
    src = ohlc if isinstance(ohlc, Mapping) else tick
    return src.get("open"), src.get("high"), src.get("low"), src.get("close")


def _token(tick: Mapping[str, Any]) -> int:
    if "instrument_token" not in tick:
        raise _misuse("tick has no instrument_token")
    return _u32(tick["instrument_token"], "instrument_token")


def encode_ltp(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """An 8-byte LTP packet body: token, last_price (rupees → wire units by :func:`price_divisor`).

    Raises ProtocolError(ours=True) when a value does not fit its unsigned 32-bit field.
    """
    token = _token(tick)
    div = price_divisor(token, segment_divisors)
    return struct.pack(">II", token, _price(tick.get("last_price"), div, "last_price"))


def _index_words(tick: Mapping[str, Any], segment_divisors) -> tuple[int, list[int]]:
    token = _token(tick)
    div = price_divisor(token, segment_divisors)
    o, h, low, c = _ohlc(tick)
    lp = _price(tick.get("last_price"), div, "last_price")
    close = _price(c, div, "close")
    # bytes 24-28: net change (last - close) in wire units, as a signed int; the official client ignores it.
    net = (lp - close) & 0xFFFFFFFF
    return token, [token, lp, _price(h, div, "high"), _price(low, div, "low"), _price(o, div, "open"), close, net]


def encode_index_quote(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 28-byte index quote packet body: token, last_price, high, low, open, close (that order), net change.

    OHLC from ``tick["ohlc"]`` or flat ``open``/``high``/``low``/``close`` keys (rupees). ``change`` is not read:
    receivers compute it. Raises ProtocolError(ours=True) on out-of-range values.
    """
    _, words = _index_words(tick, segment_divisors)
    return struct.pack(">7I", *words)


def encode_index_full(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 32-byte index full packet body: the index quote fields plus ``exchange_timestamp`` (epoch seconds).

    ``exchange_timestamp``: aware datetime, naive datetime (local time, as the official client decodes it), epoch
    seconds, or None (0). Raises ProtocolError(ours=True) on out-of-range values.
    """
    _, words = _index_words(tick, segment_divisors)
    words.append(_epoch(tick.get("exchange_timestamp"), "exchange_timestamp"))
    return struct.pack(">8I", *words)


def _quote_words(tick: Mapping[str, Any], segment_divisors) -> tuple[float, list[int]]:
    token = _token(tick)
    div = price_divisor(token, segment_divisors)
    o, h, low, c = _ohlc(tick)
    return div, [
        token,
        _price(tick.get("last_price"), div, "last_price"),
        _u32(tick.get("last_traded_quantity") or 0, "last_traded_quantity"),
        _price(tick.get("average_traded_price"), div, "average_traded_price"),
        _u32(tick.get("volume_traded") or 0, "volume_traded"),
        _u32(tick.get("total_buy_quantity") or 0, "total_buy_quantity"),
        _u32(tick.get("total_sell_quantity") or 0, "total_sell_quantity"),
        _price(o, div, "open"), _price(h, div, "high"), _price(low, div, "low"), _price(c, div, "close"),
    ]


def encode_quote(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 44-byte quote packet body: token, last_price, last_traded_quantity, average_traded_price, volume_traded,
    total_buy_quantity, total_sell_quantity, open, high, low, close. Prices in rupees, quantities in units;
    missing fields are 0. Raises ProtocolError(ours=True) on out-of-range values."""
    _, words = _quote_words(tick, segment_divisors)
    return struct.pack(">11I", *words)


def _depth_levels(tick: Mapping[str, Any], side: str, prefix: str) -> list[tuple[Any, Any, Any]]:
    depth = tick.get("depth")
    if isinstance(depth, Mapping):
        levels = list(depth.get(side) or [])
        if len(levels) > 5:
            raise _misuse(f"depth {side} has {len(levels)} levels; the full packet carries 5")
        rows = [(lv.get("quantity"), lv.get("price"), lv.get("orders")) for lv in levels]
    else:
        rows = [(tick.get(f"{prefix}_qty_{k}"), tick.get(f"{prefix}_price_{k}"), tick.get(f"{prefix}_orders_{k}"))
                for k in range(1, 6)]
    return rows + [(0, 0, 0)] * (5 - len(rows))


_FULL_HEAD = struct.Struct(">16I")
_DEPTH_ENTRY = struct.Struct(">IIHxx")


def encode_full(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 184-byte full packet body: the quote fields, last_trade_time, oi, oi_day_high, oi_day_low,
    exchange_timestamp, then 5 bid and 5 ask depth entries (quantity uint32, price uint32, orders uint16, 2 pad).

    Depth from ``tick["depth"] = {"buy": [{"quantity", "price", "orders"}...], "sell": [...]}`` (≤ 5 levels each,
    missing levels zero) or flat ``bid_price_1``… keys. Times as for :func:`encode_index_full`.
    Raises ProtocolError(ours=True) on out-of-range values.
    """
    div, words = _quote_words(tick, segment_divisors)
    words += [
        _epoch(tick.get("last_trade_time"), "last_trade_time"),
        _u32(tick.get("oi") or 0, "oi"),
        _u32(tick.get("oi_day_high") or 0, "oi_day_high"),
        _u32(tick.get("oi_day_low") or 0, "oi_day_low"),
        _epoch(tick.get("exchange_timestamp"), "exchange_timestamp"),
    ]
    parts = [_FULL_HEAD.pack(*words)]
    for side, prefix in (("buy", "bid"), ("sell", "ask")):
        for qty, price, orders in _depth_levels(tick, side, prefix):
            n_orders = int(orders or 0)
            if not 0 <= n_orders <= 0xFFFF:
                raise _misuse(f"depth orders={orders!r} does not fit the wire's unsigned 16-bit field")
            parts.append(_DEPTH_ENTRY.pack(_u32(qty or 0, "depth quantity"), _price(price, div, "depth price"),
                                           n_orders))
    return b"".join(parts)


def encode_packet(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None, *,
                  index: bool | None = None) -> bytes:
    """One packet body for ``tick`` by its ``mode`` ("ltp", "quote", "full"; default "full").

    Quote and full ticks of index tokens (segment 9, INDICES) get the 28/32-byte index packets, others the 44/184-byte
    packets; ``index`` forces one or the other. Raises ProtocolError(ours=True) on an unknown mode or bad values.
    """
    mode = tick.get("mode", MODE_FULL)
    if index is None:
        index = (_token(tick) & 0xFF) == SEGMENT_INDICES
    if mode == MODE_LTP:
        return encode_ltp(tick, segment_divisors)
    if mode == MODE_QUOTE:
        return encode_index_quote(tick, segment_divisors) if index else encode_quote(tick, segment_divisors)
    if mode == MODE_FULL:
        return encode_index_full(tick, segment_divisors) if index else encode_full(tick, segment_divisors)
    raise _misuse(f"unknown tick mode {mode!r} (expected one of {', '.join(MODES)})")


def encode_packets(bodies: Sequence[bytes]) -> bytes:
    """A binary frame from packet bodies: uint16 count, then uint16 length + body each (at most 65535 packets of
    at most 65535 bytes; ProtocolError(ours=True) beyond)."""
    if len(bodies) > 0xFFFF:
        raise _misuse(f"{len(bodies)} packets do not fit one frame (max 65535)")
    parts = [_U16.pack(len(bodies))]
    for body in bodies:
        if len(body) > 0xFFFF:
            raise _misuse(f"a packet of {len(body)} bytes does not fit its 16-bit length")
        parts.append(_U16.pack(len(body)))
        parts.append(bytes(body))
    return b"".join(parts)


def encode_frame(ticks: Sequence[Mapping[str, Any]], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """One binary frame from tick dicts (keys as ``KiteTicker._parse_binary`` output, including ``mode``).

    Packet type per tick by :func:`encode_packet`. Raises ProtocolError(ours=True) on bad ticks.
    """
    return encode_packets([encode_packet(t, segment_divisors) for t in ticks])


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        # Kite's order timestamps: "YYYY-MM-DD HH:MM:SS" in IST.
        if value.tzinfo is not None:
            from tradesig.clock import IST

            value = value.astimezone(IST)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} in a ticker text message")


def encode_message(kind: str, data: Any) -> str:
    """A text ticker message ``{"type": kind, "data": data}`` (JSON). Datetimes become Kite's
    ``"YYYY-MM-DD HH:MM:SS"`` IST strings (aware ones are converted; naive ones are taken as IST)."""
    try:
        return json.dumps({"type": kind, "data": data}, default=_json_default)
    except TypeError as exc:
        raise _misuse(str(exc)) from None


def encode_order_postback(order: Mapping[str, Any]) -> str:
    """The text message Kite sends on an order update: ``{"type": "order", "data": order}`` where ``order`` is
    shaped like an entry of ``GET /orders`` (order_id, status, ...)."""
    return encode_message("order", dict(order))


def encode_error(message: str) -> str:
    """The text message Kite sends on an error: ``{"type": "error", "data": message}``."""
    return encode_message("error", str(message))

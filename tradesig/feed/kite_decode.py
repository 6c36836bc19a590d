"""Kite ticker decoder: a sans-I/O codec half (bytes in, ticks out). Pure: no sockets, clocks or logging.

:func:`decode_frame` takes the payload of one WebSocket binary message and returns a :class:`DecodedFrame`;
:func:`decode_frames` decodes many well-formed frames of one packet type (:func:`uniform_shape`) as one batch;
:func:`decode_text` (from :mod:`tradesig.feed.kite_text`) takes one text message. Index packets are decoded
column-major by :mod:`tradesig.feed.kite_index`; frames of a few packets row by row by :mod:`tradesig.feed.kite_rows`.
The wire format is described in ``docs/protocol.md`` (constants and
word layouts in :mod:`tradesig.feed.kite_wire`); in short (all integers big-endian):

* binary frame = ``uint16`` packet count, then per packet ``uint16`` length + body; a frame under 2 bytes is a
  heartbeat;
* bodies of 8 bytes (LTP), 28 (index quote), 32 (index full), 44 (quote), 184 (full with 5+5 depth);
* prices are unsigned integers divided by the segment's divisor (segment = ``instrument_token & 0xFF``: CDS (3)
  1e7, BCD (6) and NCO (12) 1e4, everything else 100) — :func:`~tradesig.feed.kite_wire.price_divisor`;
* index packets order OHLC as high, low, open, close; other packets as open, high, low, close;
* ``change`` is not read from the wire: it is computed as ``(last_price - close) * 100 / close`` (per cent), 0 when
  close is 0.

Source: the official Python client ``kiteconnect.KiteTicker._parse_binary`` (pykiteconnect 5.x, ``ticker.py``),
which this decoder reproduces field for field (tests/feed/test_kite_protocol.py), and the Kite Connect v3 WebSocket
documentation (https://kite.trade/docs/connect/v3/websocket/). One deliberate difference: the official client
returns naive local-time datetimes (``datetime.fromtimestamp``); this codec returns timezone-aware UTC datetimes
for ``last_trade_time`` and ``exchange_timestamp`` (the same instants).

The decoder never raises on peer data: a malformed packet is skipped and described in ``DecodedFrame.errors``,
and the good packets of the same frame are kept wherever the framing still says where they are. Columnar (polars)
conversion lives in :mod:`tradesig.feed.kite_columnar`, encoding in :mod:`tradesig.feed.kite_encode`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np

from tradesig.feed.kite_index import INDEX_LENGTHS, IndexBlock, decode_index, index_dicts, widen_into
from tradesig.feed.kite_rows import ROW_OF as _ROW_OF
from tradesig.feed.kite_text import TextMessage, decode_text
from tradesig.feed.kite_wire import (
    DEFAULT_TABLE,
    DEPTH_LEVELS,
    DEPTH_ORDERS,
    DEPTH_PRICE,
    DEPTH_QTY,
    FULL_LEN,
    FULL_WORDS,
    INDEX_FULL_LEN,
    INDEX_FULL_WORDS,
    INDEX_QUOTE_LEN,
    INDEX_QUOTE_WORDS,
    LTP_LEN,
    LTP_WORDS,
    MODES,
    PACKET_LENGTHS,
    PACKET_MODE,
    QUOTE_LEN,
    QUOTE_WORDS,
    SEGMENT_INDICES,
    depth_word,
    divisor_table,
)

__all__ = ["FLOAT_COLUMNS", "SMALL_FRAME", "TICK_DTYPE", "TIME_COLUMNS", "DecodedFrame", "TextMessage", "TickBatch",
           "decode_frame", "decode_frames", "decode_text", "uniform_shape"]

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
#: The float and time columns of TICK_DTYPE (the columnar module types them Float64 / Datetime).
FLOAT_COLUMNS: tuple[str, ...] = tuple(_FLOAT_COLS)
TIME_COLUMNS: tuple[str, ...] = tuple(_TIME_COLS)

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
        mode=PACKET_MODE[length],
        price_words=np.array(list(prices.values()), dtype=np.intp),
        price_dst=_dst([_FI[k] for k in prices]),
        int_words=np.array(list(allints.values()), dtype=np.intp),
        int_dst=_dst([_II[k] for k in allints]) if allints else slice(0, 0),
        orders=slice(n_int, n_int + n_ord),
        times=slice(n_int + n_ord, len(allints)),
        has_ohlc="close" in prices,
        rec_dtype=np.dtype([("n", ">u2"), ("w", ">u4", (length // 4,))]),
    )


# Word offsets of each field, from the named layouts of kite_wire (word i = bytes 4i..4i+4 of the packet body).


def _words(layout: tuple[str, ...], names: tuple[str, ...]) -> dict[str, int]:
    return {name: layout.index(name) for name in names}


_PRICE_NAMES = ("last_price", "open", "high", "low", "close", "average_traded_price")
_QUOTE_PRICES = _words(QUOTE_WORDS, _PRICE_NAMES)
_QUOTE_INTS = _words(QUOTE_WORDS, ("last_traded_quantity", "volume_traded", "total_buy_quantity",
                                   "total_sell_quantity"))
_FULL_OI = _words(FULL_WORDS, ("oi", "oi_day_high", "oi_day_low"))
_FULL_TIMES = _words(FULL_WORDS, ("last_trade_time", "exchange_timestamp"))
_DEPTH_PRICES = {f"{side}_price_{i + 1}": depth_word(s, i, DEPTH_PRICE) for s, (side, _) in enumerate(_DEPTH_SIDES)
                 for i in range(DEPTH_LEVELS)}
_DEPTH_QTYS = {f"{side}_qty_{i + 1}": depth_word(s, i, DEPTH_QTY) for s, (side, _) in enumerate(_DEPTH_SIDES)
               for i in range(DEPTH_LEVELS)}
_DEPTH_ORDERS = {f"{side}_orders_{i + 1}": depth_word(s, i, DEPTH_ORDERS) for s, (side, _) in enumerate(_DEPTH_SIDES)
                 for i in range(DEPTH_LEVELS)}
# index packets: the net change word is ignored, as the official client does
_INDEX_PRICES = _words(INDEX_QUOTE_WORDS, _PRICE_NAMES[:5])

_LAYOUTS: dict[int, _Layout] = {
    LTP_LEN: _layout(LTP_LEN, _words(LTP_WORDS, ("last_price",)), {}, {}, {}),
    INDEX_QUOTE_LEN: _layout(INDEX_QUOTE_LEN, _INDEX_PRICES, {}, {}, {}),
    INDEX_FULL_LEN: _layout(INDEX_FULL_LEN, _INDEX_PRICES, {}, {}, _words(INDEX_FULL_WORDS, ("exchange_timestamp",))),
    QUOTE_LEN: _layout(QUOTE_LEN, _QUOTE_PRICES, _QUOTE_INTS, {}, {}),
    FULL_LEN: _layout(FULL_LEN, {**_words(FULL_WORDS, _PRICE_NAMES), **_DEPTH_PRICES},
                      {**_QUOTE_INTS, **_FULL_OI, **_DEPTH_QTYS}, _DEPTH_ORDERS, _FULL_TIMES),
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
        a["mode"] = PACKET_MODE[length]
    return a.tobytes()


_TEMPLATES = {length: _template(length) for length in (None, *PACKET_LENGTHS)}


def _blank_buffer(n: int, length: int | None = None) -> bytearray:
    """Bytes of ``n`` fresh TICK_DTYPE rows with every field absent (NaN / 0 / NaT; packet_length and mode of
    ``length`` when given)."""
    template = _TEMPLATES[length]
    size = n * _ITEMSIZE
    if size <= len(template):
        return bytearray(template[:size])
    buf = bytearray(template) * -(-n // _TEMPLATE_ROWS)
    del buf[size:]
    return buf


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
# Decoded results


class TickBatch:
    """The ticks of one frame (or several), in packet order.

    ``array`` is a numpy structured array of :data:`TICK_DTYPE` (one row per tick). :meth:`to_polars` gives the
    CONTRACTS.md "Ticks" columns (nulls where the packet type has no such field); :meth:`to_dicts` gives dicts
    shaped exactly like ``kiteconnect.KiteTicker._parse_binary`` output, except that datetimes are tz-aware UTC.

    Held as one of: the TICK_DTYPE array; ``struct`` rows (small frames); or, for a batch of index packets only,
    a column-major index block (:func:`~tradesig.feed.kite_index.decode_index`) — ``array`` packs or widens those
    when first asked for (the same bytes either way).
    """

    __slots__ = ("_array", "_index", "_rows")

    def __init__(self, array: np.ndarray) -> None:
        if array.dtype != TICK_DTYPE:
            raise TypeError(f"TickBatch needs an array of TICK_DTYPE, not {array.dtype}")
        self._array: np.ndarray | None = array
        self._rows: list[tuple] | None = None
        self._index: IndexBlock | None = None

    @classmethod
    def _wrap(cls, array: np.ndarray) -> TickBatch:
        batch = cls.__new__(cls)
        batch._array = array
        batch._rows = None
        batch._index = None
        return batch

    @classmethod
    def _from_index(cls, index: IndexBlock) -> TickBatch:
        """A batch of index packets held as an index block (:mod:`tradesig.feed.kite_index`)."""
        batch = cls.__new__(cls)
        batch._array = None
        batch._rows = None
        batch._index = index
        return batch

    @classmethod
    def _from_rows(cls, rows: list[tuple]) -> TickBatch:
        """A batch of small-frame rows (``_ROW`` tuples); the array is packed only if asked for (dict callers of
        one-packet frames never pay for it)."""
        batch = cls.__new__(cls)
        batch._array = None
        batch._rows = rows
        batch._index = None
        return batch

    @property
    def array(self) -> np.ndarray:
        """The ticks as a numpy structured array of :data:`TICK_DTYPE`, one row per tick."""
        if self._array is None:
            if self._index is not None:
                self._array = _blank(len(self._index))
                widen_into(self._index, self._array)
            else:
                pack = _ROW.pack
                self._array = np.frombuffer(bytearray(b"".join([pack(*r) for r in self._rows])), TICK_DTYPE)
        return self._array

    @property
    def index_block(self) -> IndexBlock | None:
        """The ticks as a column-major :class:`~tradesig.feed.kite_index.IndexBlock` when the batch is of index
        packets only and has not been widened to :attr:`array` yet; else None."""
        return self._index if self._array is None else None

    def __len__(self) -> int:
        if self._array is not None:
            return len(self._array)
        return len(self._rows) if self._index is None else len(self._index)

    def __repr__(self) -> str:
        return f"TickBatch({len(self)} ticks)"

    @staticmethod
    def concat(batches: Sequence[TickBatch]) -> TickBatch:
        """One batch of the ticks of ``batches``, in order."""
        if not batches:
            return TickBatch._wrap(_blank(0))
        if all(b._index is not None for b in batches):
            if len(batches) == 1:
                return batches[0]
            return TickBatch._from_index(IndexBlock.concat([b._index for b in batches]))
        return TickBatch._wrap(np.concatenate([b.array.view(_ROW_BYTES) for b in batches]).view(TICK_DTYPE))

    def to_dicts(self) -> list[dict[str, Any]]:
        """Official-shaped tick dicts (keys, nesting and key order of ``KiteTicker._parse_binary``).

        Prices in rupees (float), quantities int, ``change`` in per cent (int 0 when close is 0, as the official
        client gives it), ``last_trade_time``/``exchange_timestamp`` timezone-aware UTC datetimes (the official
        client gives naive local time).
        """
        out: list[dict[str, Any]] = []
        append = out.append
        if self._index is not None and self._array is None:
            return index_dicts(self._index, _utc, MODES)
        rows = self._rows if self._array is None else _ROW.iter_unpack(self._array.tobytes())
        for r in rows:
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
        """A polars DataFrame with the CONTRACTS.md "Ticks" columns: :func:`tradesig.feed.kite_columnar.to_polars`."""
        from tradesig.feed.kite_columnar import to_polars

        return to_polars(self, recv_ts)


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
    table = DEFAULT_TABLE if segment_divisors is None else divisor_table(segment_divisors)
    count = (data[0] << 8) | data[1]
    # Fast path for the commonest small frame: exactly one well-formed packet.
    if count == 1 and n >= 4:
        length = (data[2] << 8) | data[3]
        if n == length + 4 and length in _ROW_OF:
            row = _ROW_OF[length](_STRUCTS[length].unpack_from(data, 4), table[1])
            return DecodedFrame(TickBatch._from_rows([row]), False, [])
    # Fast path: every packet has the same known length and the frame is exactly that long.
    if n >= 4 and data[2] == 0 and count > _STRUCT_MAX_UNIFORM.get(data[3], 65536):
        length = data[3]
        step = length + 2
        if (n == 2 + count * step and data[2::step].count(0) == count
                and data[3::step].count(length) == count):
            if length in INDEX_LENGTHS:
                return DecodedFrame(TickBatch._from_index(decode_index(data, 2, count, length, table)), False, [])
            lay = _LAYOUTS[length]
            words = np.frombuffer(data, lay.rec_dtype, count, 2)["w"]  # big-endian uint32 view, no copy
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
        return DecodedFrame(_decode_small(data, starts, lengths, table[1]), False, errors)
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
        return DecodedFrame(_decode_small(data, (pre + 2).tolist(), lens.tolist(), table[1]), False, errors)
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


def uniform_shape(data: bytes) -> tuple[int, int] | None:
    """(packet count, body length) of a well-formed frame whose packets all have one known length and that ends
    with its last packet; None for anything else (a heartbeat, mixed lengths, a framing fault). Cheap: no decoding.
    """
    n = len(data)
    if n < 4 or data[2] != 0 or data[3] not in _LAYOUTS:
        return None
    count = (data[0] << 8) | data[1]
    length = data[3]
    step = length + 2
    if n != 2 + count * step or (count > 1 and (data[2::step].count(0) != count
                                               or data[3::step].count(length) != count)):
        return None
    return count, length


def decode_frames(frames: Sequence[bytes], length: int, segment_divisors: Mapping[int, float] | None = None
                  ) -> TickBatch:
    """The ticks of several frames whose packets all have body ``length`` (each frame checked by
    :func:`uniform_shape`), in order, decoded as one batch: the packets are joined and go through the vectorised
    path once, whatever the frames' sizes. The same values as :func:`decode_frame` on each frame in turn."""
    table = DEFAULT_TABLE if segment_divisors is None else divisor_table(segment_divisors)
    data = b"".join([f[2:] for f in frames])
    count = len(data) // (length + 2)
    if count == 0:
        return TickBatch._wrap(_blank(0))
    if length in INDEX_LENGTHS:
        return TickBatch._from_index(decode_index(data, 0, count, length, table))
    lay = _LAYOUTS[length]
    words = np.frombuffer(data, lay.rec_dtype, count, 0)["w"]
    buf = _blank_buffer(count, length)
    out = np.frombuffer(buf, dtype=TICK_DTYPE)
    _fill(out, buf, words, lay, table[0])
    return TickBatch._wrap(out)


def _gather(data: bytes, starts: np.ndarray, length: int) -> np.ndarray:
    """The packets of ``length`` bytes at byte offsets ``starts`` of ``data``, as a k × length/4 int64 array."""
    # row p of this strided view = the big-endian words starting at byte p of the frame (no copy)
    window = np.ndarray((len(data) - length + 1, length // 4), dtype=">u4", buffer=data, strides=(1, 4))
    return window[starts].astype(np.int64)


#: tradable by segment: everything but INDICES (as ``KiteTicker._parse_binary``)
_TRADABLE = np.ones(256, dtype=bool)
_TRADABLE[SEGMENT_INDICES] = False

_KNOWN_LENGTH = np.zeros(65536, dtype=bool)
_KNOWN_LENGTH[list(PACKET_LENGTHS)] = True


def _unknown(i: int, length: int) -> str:
    return (f"{_FRAME_NOTE}: packet {i} has unknown length {length} (expected one of "
            f"{', '.join(map(str, PACKET_LENGTHS))}); skipped")


def _fill(out: np.ndarray, buf: bytearray, w: np.ndarray, lay: _Layout, table: np.ndarray) -> None:
    """Write packets ``w`` (k × words: int64, or a big-endian uint32 view) of one layout into the k blank rows
    ``out`` (held in ``buf``).

    Prices are divided by the segment's divisor; ``tradable`` = segment is not INDICES; ``change`` =
    (last_price - close) * 100 / close, 0 when close is 0 (as ``KiteTicker._parse_binary``).
    """
    fview, iview = _views(buf)
    token = w[:, 0]
    seg = token & 0xFF
    out["instrument_token"] = token
    out["tradable"] = _TRADABLE[seg]
    prices = fview[:, : len(lay.price_words)]
    # divide into a contiguous temporary, then one strided copy: faster than dividing into the strided rows
    prices[...] = w[:, lay.price_words] / table[seg][:, None]
    if lay.has_ohlc:
        close = prices[:, _CLOSE]
        change = prices[:, 0] - close
        change *= 100
        # x / inf = 0.0 where close is 0, as the official client's 0
        np.divide(change, close if np.count_nonzero(close) == len(close) else np.where(close != 0, close, np.inf),
                  out=fview[:, _CHANGE])
    if len(lay.int_words):
        ints = w[:, lay.int_words].astype(np.int64, copy=False)
        if lay.orders.stop > lay.orders.start:
            ints[:, lay.orders] >>= 16
        if lay.times.stop > lay.times.start:
            ints[:, lay.times] *= 1_000_000
        iview[:, lay.int_dst] = ints


def _decode_small(data: bytes, starts: list[int], lengths: list[int], divs: tuple[float, ...]) -> TickBatch:
    """Decode a few packets with ``struct`` into TICK_DTYPE rows (the same values as the numpy path)."""
    return TickBatch._from_rows([_ROW_OF[length](_STRUCTS[length].unpack_from(data, start), divs)
                                 for start, length in zip(starts, lengths, strict=True)])

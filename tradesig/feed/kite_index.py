"""Index packets decoded column by column: the vectorised path of frames (and journal batches) of index packets.

An index packet (28 bytes quote, 32 bytes full; docs/protocol.md) carries only the token, five prices and, in full
mode, the exchange timestamp. Decoding it into the 376-byte :data:`~tradesig.feed.kite_decode.TICK_DTYPE` row
(most of it NaN/0 for the fields an index lacks) costs a 75 KB blank-row copy and strided writes per 200 packets,
more than the official parser leaves us at 50× (about 13 µs per 200-packet frame, docs/benchmarks.md "decode").
Here they land in an :class:`IndexBlock`: one contiguous float64 array of shape (8, n), a row per field
(:data:`INDEX_FIELDS`), with the body length and tradable flag once per block — every field the official parser
gives for an index;
:class:`~tradesig.feed.kite_decode.TickBatch` widens it to TICK_DTYPE only when asked (``.array``).

Values are the same, bit for bit, as the wide path's and the ``struct`` path's (prices = word / segment divisor,
``change`` = (last_price - close) * 100 / close, 0.0 when close is 0; times in µs since the epoch, UTC), as
``kiteconnect.KiteTicker._parse_binary`` computes them (tests/feed/test_kite_protocol.py compares all three).
Pure: numpy and :mod:`tradesig.feed.kite_wire` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tradesig.feed.kite_wire import INDEX_FULL_LEN, INDEX_FULL_WORDS, INDEX_QUOTE_LEN, PACKET_MODE, SEGMENT_INDICES

__all__ = ["INDEX_FIELDS", "INDEX_LENGTHS", "IndexBlock", "decode_index", "index_dicts", "widen_into"]

#: Body lengths of index packets (quote, full).
INDEX_LENGTHS = (INDEX_QUOTE_LEN, INDEX_FULL_LEN)
# The five prices keep their wire order (last price, high, low, open, close), so that one divide writes them all.
assert INDEX_FULL_WORDS[1:6] == ("last_price", "high", "low", "open", "close")
#: Rows of an index block's ``values`` (:func:`decode_index`): one row of n values per field, 8 bytes each — the five
#: prices (rupees) and ``change`` (per cent) as float64, then ``instrument_token`` and ``exchange_timestamp`` (µs since
#: the epoch, UTC; NaT = int64 minimum) viewed as int64.
INDEX_FIELDS = ("last_price", "high", "low", "open", "close", "change", "instrument_token", "exchange_timestamp")
_CHANGE, _TOKEN, _ETS = 5, 6, 7
_NAT = np.iinfo(np.int64).min
# token (word 0) and exchange timestamp (word 7) of an index-full packet: seconds → µs
_TOKEN_ETS = np.array([[1], [1_000_000]], dtype=np.int64)
_TOKEN_ETS_STRIDE = 4 * INDEX_FULL_WORDS.index("exchange_timestamp")


class IndexBlock:
    """Decoded index ticks, column-major. ``values``: float64 of shape (8, n), rows :data:`INDEX_FIELDS`;
    ``length``: the packets' body length (28 or 32), one int for the block or an array per tick; ``tradable``:
    likewise (False for the INDICES segment, the only one Kite sends index packets for)."""

    __slots__ = ("length", "tradable", "values")

    def __init__(self, values: np.ndarray, length: int | np.ndarray, tradable: bool | np.ndarray) -> None:
        self.values = values
        self.length = length
        self.tradable = tradable

    def __len__(self) -> int:
        return self.values.shape[1]

    @staticmethod
    def concat(blocks: Sequence[IndexBlock]) -> IndexBlock:
        """One block of the ticks of ``blocks``, in order."""
        values = np.concatenate([b.values for b in blocks], axis=1)
        out = []
        for field in ("length", "tradable"):
            first = getattr(blocks[0], field)
            if not isinstance(first, np.ndarray) and all(
                    not isinstance(getattr(b, field), np.ndarray) and getattr(b, field) == first for b in blocks):
                out.append(first)
            else:
                out.append(np.concatenate([np.broadcast_to(getattr(b, field), (len(b),)) for b in blocks]))
        return IndexBlock(values, out[0], out[1])


def decode_index(data: bytes, start: int, count: int, length: int, table: tuple[np.ndarray, tuple[float, ...]]
                 ) -> IndexBlock:
    """``count`` index packets of body ``length`` (28 or 32), each after its 2-byte length prefix, the first prefix
    at byte ``start`` of ``data`` and the rest following without gaps (a well-formed uniform frame from byte 2, or
    frames' packets joined), as an :class:`IndexBlock`.

    Column-major on purpose: every numpy call then runs one long contiguous loop (a row-major 64-byte record made
    the price division 2x slower: its inner loop was 5 values long), and the token and timestamp are converted by
    one call. ``table``: the divisor table (:func:`tradesig.feed.kite_wire.divisor_table`). The caller has checked
    the framing.
    """
    step = length + 2
    # the five big-endian price words of each packet (words 1-5), transposed: a strided view of the frame, no copy
    prices = np.ndarray((5, count), ">u4", data, start + 6, (4, step))
    block = np.empty((8, count))
    ints = block.view(np.int64)
    seg0 = data[start + 5]  # the token's low byte: one segment for every packet (the usual case)?
    if data[start + 5:start + count * step:step].count(seg0) == count:
        np.divide(prices, table[1][seg0], out=block[:5])
        tradable: bool | np.ndarray = seg0 != SEGMENT_INDICES
    else:
        seg = np.ndarray((count,), np.uint8, data, start + 5, (step,))
        np.divide(prices, table[0][seg], out=block[:5])
        tradable = seg != SEGMENT_INDICES
    if length == INDEX_FULL_LEN:
        np.multiply(np.ndarray((2, count), ">u4", data, start + 2, (_TOKEN_ETS_STRIDE, step)), _TOKEN_ETS,
                    out=ints[_TOKEN:])
    else:
        ints[_TOKEN] = np.ndarray((count,), ">u4", data, start + 2, (step,))
        ints[_ETS] = _NAT
    close = block[4]
    change = block[_CHANGE]
    np.subtract(block[0], close, out=change)
    np.multiply(change, 100.0, out=change)
    # x / inf = 0.0 where close is 0, as the official client's 0 (count_nonzero: a third of ndarray.all()'s cost)
    np.divide(change, close if np.count_nonzero(close) == count else np.where(close != 0, close, np.inf), out=change)
    return IndexBlock(block, length, tradable)


def widen_into(block: IndexBlock, out: np.ndarray) -> None:
    """Copy an index block into blank TICK_DTYPE rows ``out`` (as many as the block's ticks)."""
    values, ints = block.values, block.values.view(np.int64)
    out["instrument_token"] = ints[_TOKEN]
    out["packet_length"] = block.length
    out["mode"] = np.where(np.asarray(block.length) == INDEX_FULL_LEN, PACKET_MODE[INDEX_FULL_LEN],
                           PACKET_MODE[INDEX_QUOTE_LEN])
    out["tradable"] = block.tradable
    for i, name in enumerate(INDEX_FIELDS[:_TOKEN]):
        out[name] = values[i]
    out["exchange_timestamp"] = ints[_ETS].view("M8[us]")


def index_dicts(block: IndexBlock, utc: Callable[[int], Any], modes: Sequence[str]) -> list[dict[str, Any]]:
    """Official-shaped dicts (``KiteTicker._parse_binary``'s keys and order) of an index block's ticks; ``utc``
    turns µs since the epoch into the timestamp (None for NaT)."""
    n = len(block)
    lp, high, low, open_, close, change = block.values[:_TOKEN].tolist()
    token, ets = block.values[_TOKEN:].view(np.int64).tolist()
    length = np.broadcast_to(block.length, (n,)).tolist()
    tradable = np.broadcast_to(block.tradable, (n,)).tolist()
    quote, full = modes[PACKET_MODE[INDEX_QUOTE_LEN]], modes[PACKET_MODE[INDEX_FULL_LEN]]
    out = []
    for i in range(n):
        d = {"tradable": tradable[i], "mode": full if length[i] == INDEX_FULL_LEN else quote,
             "instrument_token": token[i], "last_price": lp[i],
             "ohlc": {"high": high[i], "low": low[i], "open": open_[i], "close": close[i]},
             "change": change[i] if close[i] != 0 else 0}
        if length[i] == INDEX_FULL_LEN:
            d["exchange_timestamp"] = utc(ets[i])
        out.append(d)
    return out

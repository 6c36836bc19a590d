"""The small-frame path of the Kite ticker decoder: one packet's words → one TICK_DTYPE row as a Python tuple.

A frame of a few packets is decoded with ``struct`` rather than whole-array numpy calls (whose fixed cost dominates
there; thresholds and figures in :mod:`tradesig.feed.kite_decode`). Each builder takes the packet's big-endian
words, unpacked in the order of its :mod:`tradesig.feed.kite_wire` layout, and the segment divisors, and returns the
row's fields in :data:`~tradesig.feed.kite_decode.TICK_DTYPE` order (token, body length, mode, tradable, the 17
float columns, the 29 integer and time columns); absent fields are NaN / 0 / NaT (int64 minimum), as the numpy path
leaves them. Values follow ``kiteconnect.KiteTicker._parse_binary`` (tests/feed/test_kite_protocol.py).
"""

from __future__ import annotations

from tradesig.feed.kite_wire import (
    DEPTH_ENTRY_WORDS,
    DEPTH_ORDERS,
    DEPTH_PRICE,
    DEPTH_QTY,
    DEPTH_START_WORD,
    FULL_LEN,
    FULL_WORDS,
    INDEX_FULL_LEN,
    INDEX_FULL_WORDS,
    INDEX_QUOTE_LEN,
    LTP_LEN,
    LTP_WORDS,
    QUOTE_LEN,
    QUOTE_WORDS,
    SEGMENT_INDICES,
)

__all__ = ["ROW_OF"]

_NAT = -(2 ** 63)
_NAN = float("nan")

_NAN10 = (_NAN,) * 10
_ZERO3 = (0, 0, 0)
_ZERO20 = (0,) * 20
_NAT2 = (_NAT, _NAT)


def _change(lp: float, close: float) -> float:
    return (lp - close) * 100 / close if close != 0 else 0.0


# Row builders of the struct path: the packet's words are unpacked in the order of its kite_wire layout (the asserts
# tie the names here to those layouts).
assert LTP_WORDS == ("instrument_token", "last_price")
assert INDEX_FULL_WORDS == ("instrument_token", "last_price", "high", "low", "open", "close", "net_change",
                            "exchange_timestamp")
assert FULL_WORDS == ("instrument_token", "last_price", "last_traded_quantity", "average_traded_price",
                      "volume_traded", "total_buy_quantity", "total_sell_quantity", "open", "high", "low", "close",
                      "last_trade_time", "oi", "oi_day_high", "oi_day_low", "exchange_timestamp")
assert FULL_WORDS[:len(QUOTE_WORDS)] == QUOTE_WORDS
_HEAD = len(QUOTE_WORDS)
_DQ, _DP, _DO = (DEPTH_START_WORD + part for part in (DEPTH_QTY, DEPTH_PRICE, DEPTH_ORDERS))
_DS = DEPTH_ENTRY_WORDS


def _row_ltp(w: tuple[int, ...], divs: tuple[float, ...]) -> tuple:
    token, last_price = w
    seg = token & 0xFF
    return (token, LTP_LEN, 0, seg != SEGMENT_INDICES, last_price / divs[seg], _NAN, _NAN, _NAN, _NAN, _NAN,
            *_NAN10, _NAN, 0, 0, 0, 0, *_ZERO3, *_ZERO20, *_NAT2)


def _row_index(w: tuple[int, ...], divs: tuple[float, ...]) -> tuple:
    token, last_price, high, low, open_, close = w[:6]  # then net change (ignored) and, full only, the timestamp
    seg = token & 0xFF
    div = divs[seg]
    lp, close = last_price / div, close / div
    full = len(w) == len(INDEX_FULL_WORDS)
    ets = (_NAT, w[7] * 1_000_000) if full else _NAT2
    return (token, INDEX_FULL_LEN if full else INDEX_QUOTE_LEN, 2 if full else 1, seg != SEGMENT_INDICES, lp,
            open_ / div, high / div, low / div, close, _NAN, *_NAN10, _change(lp, close), 0, 0, 0, 0, *_ZERO3,
            *_ZERO20, *ets)


def _row_quote(w: tuple[int, ...], divs: tuple[float, ...]) -> tuple:
    token, last_price, ltq, atp, volume, buy_qty, sell_qty, open_, high, low, close = w[:_HEAD]
    seg = token & 0xFF
    div = divs[seg]
    lp, close = last_price / div, close / div
    if len(w) == _HEAD:
        return (token, QUOTE_LEN, 1, seg != SEGMENT_INDICES, lp, open_ / div, high / div, low / div, close,
                atp / div, *_NAN10, _change(lp, close), ltq, volume, buy_qty, sell_qty, *_ZERO3, *_ZERO20, *_NAT2)
    ltt, oi, oi_high, oi_low, ets = w[_HEAD:DEPTH_START_WORD]
    return (token, FULL_LEN, 2, seg != SEGMENT_INDICES, lp, open_ / div, high / div, low / div, close, atp / div,
            *[p / div for p in w[_DP::_DS]], _change(lp, close), ltq, volume, buy_qty, sell_qty, oi, oi_high, oi_low,
            *w[_DQ::_DS], *[o >> 16 for o in w[_DO::_DS]], ltt * 1_000_000, ets * 1_000_000)


#: The row builder of each packet body length.
ROW_OF = {LTP_LEN: _row_ltp, INDEX_QUOTE_LEN: _row_index, INDEX_FULL_LEN: _row_index, QUOTE_LEN: _row_quote,
           FULL_LEN: _row_quote}

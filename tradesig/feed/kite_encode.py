"""Kite ticker encoder: ticks in, binary frames out; text messages (postbacks, errors) out. For the sim and tests.

The inverse of :mod:`tradesig.feed.kite_decode` (wire format in docs/protocol.md; word layouts in
:mod:`tradesig.feed.kite_wire`): ``decode_frame(encode_frame(ticks))`` gives the ticks back, and re-encoding a real
Kite frame's decoded ticks gives the frame byte for byte (tests/feed/test_kite_protocol.py).

Every encoder raises :class:`~tradesig.feed.kite_wire.LocalProtocolError` (``ours``: the caller built a tick the
wire cannot carry) and nothing else.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np

from tradesig.feed.kite_wire import (
    DEPTH_LEVELS,
    FULL_WORDS,
    INDEX_FULL_WORDS,
    INDEX_QUOTE_WORDS,
    MODE_FULL,
    MODE_LTP,
    MODE_QUOTE,
    MODES,
    QUOTE_WORDS,
    SEGMENT_INDICES,
    LocalProtocolError,
    price_divisor,
)

__all__ = ["encode_error", "encode_frame", "encode_full", "encode_index_full", "encode_index_quote", "encode_ltp",
           "encode_message", "encode_order_postback", "encode_packet", "encode_packets", "encode_quote"]

_U16 = struct.Struct(">H")
_UINT32_MAX = 0xFFFFFFFF
def _misuse(message: str) -> LocalProtocolError:
    return LocalProtocolError(message, hint="fix the tick passed to the encoder")


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

    Raises LocalProtocolError when a value does not fit its unsigned 32-bit field.
    """
    token = _token(tick)
    div = price_divisor(token, segment_divisors)
    return struct.pack(">II", token, _price(tick.get("last_price"), div, "last_price"))


def _index_words(tick: Mapping[str, Any], segment_divisors) -> list[int]:
    """The words of an index quote packet (:data:`INDEX_QUOTE_WORDS` order)."""
    token = _token(tick)
    div = price_divisor(token, segment_divisors)
    o, h, low, c = _ohlc(tick)
    lp = _price(tick.get("last_price"), div, "last_price")
    close = _price(c, div, "close")
    fields = {"instrument_token": token, "last_price": lp, "high": _price(h, div, "high"),
              "low": _price(low, div, "low"), "open": _price(o, div, "open"), "close": close,
              # net change (last - close) in wire units, as a signed int; the official client ignores it
              "net_change": (lp - close) & _UINT32_MAX}
    return [fields[name] for name in INDEX_QUOTE_WORDS]


def encode_index_quote(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 28-byte index quote packet body: token, last_price, high, low, open, close (that order), net change.

    OHLC from ``tick["ohlc"]`` or flat ``open``/``high``/``low``/``close`` keys (rupees). ``change`` is not read:
    receivers compute it. Raises LocalProtocolError on out-of-range values.
    """
    return _INDEX_QUOTE.pack(*_index_words(tick, segment_divisors))


def encode_index_full(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 32-byte index full packet body: the index quote fields plus ``exchange_timestamp`` (epoch seconds).

    ``exchange_timestamp``: aware datetime, naive datetime (local time, as the official client decodes it), epoch
    seconds, or None (0). Raises LocalProtocolError on out-of-range values.
    """
    words = _index_words(tick, segment_divisors)
    words.append(_epoch(tick.get("exchange_timestamp"), "exchange_timestamp"))
    return _INDEX_FULL.pack(*words)


def _quote_words(tick: Mapping[str, Any], segment_divisors) -> tuple[float, list[int]]:
    """(price divisor, the words of a quote packet in :data:`QUOTE_WORDS` order)."""
    token = _token(tick)
    div = price_divisor(token, segment_divisors)
    o, h, low, c = _ohlc(tick)
    prices = {"last_price": tick.get("last_price"), "average_traded_price": tick.get("average_traded_price"),
              "open": o, "high": h, "low": low, "close": c}
    words = [token]
    for name in QUOTE_WORDS[1:]:
        if name in prices:
            words.append(_price(prices[name], div, name))
        else:  # quantities
            words.append(_u32(tick.get(name) or 0, name))
    return div, words


def encode_quote(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 44-byte quote packet body: token, last_price, last_traded_quantity, average_traded_price, volume_traded,
    total_buy_quantity, total_sell_quantity, open, high, low, close. Prices in rupees, quantities in units;
    missing fields are 0. Raises LocalProtocolError on out-of-range values."""
    return _QUOTE.pack(*_quote_words(tick, segment_divisors)[1])


def _depth_levels(tick: Mapping[str, Any], side: str, prefix: str) -> list[tuple[Any, Any, Any]]:
    depth = tick.get("depth")
    if isinstance(depth, Mapping):
        levels = list(depth.get(side) or [])
        if len(levels) > DEPTH_LEVELS:
            raise _misuse(f"depth {side} has {len(levels)} levels; the full packet carries {DEPTH_LEVELS}")
        rows = [(lv.get("quantity"), lv.get("price"), lv.get("orders")) for lv in levels]
    else:
        rows = [(tick.get(f"{prefix}_qty_{k}"), tick.get(f"{prefix}_price_{k}"), tick.get(f"{prefix}_orders_{k}"))
                for k in range(1, DEPTH_LEVELS + 1)]
    return rows + [(0, 0, 0)] * (DEPTH_LEVELS - len(rows))


_INDEX_QUOTE = struct.Struct(f">{len(INDEX_QUOTE_WORDS)}I")
_INDEX_FULL = struct.Struct(f">{len(INDEX_FULL_WORDS)}I")
_QUOTE = struct.Struct(f">{len(QUOTE_WORDS)}I")
_FULL_HEAD = struct.Struct(f">{len(FULL_WORDS)}I")
#: one depth entry: quantity uint32, price uint32, orders uint16, 2 bytes padding (DEPTH_QTY/PRICE/ORDERS words)
_DEPTH_ENTRY = struct.Struct(">IIHxx")


def encode_full(tick: Mapping[str, Any], segment_divisors: Mapping[int, float] | None = None) -> bytes:
    """A 184-byte full packet body: the quote fields, last_trade_time, oi, oi_day_high, oi_day_low,
    exchange_timestamp, then 5 bid and 5 ask depth entries (quantity uint32, price uint32, orders uint16, 2 pad).

    Depth from ``tick["depth"] = {"buy": [{"quantity", "price", "orders"}...], "sell": [...]}`` (≤ 5 levels each,
    missing levels zero) or flat ``bid_price_1``… keys. Times as for :func:`encode_index_full`.
    Raises LocalProtocolError on out-of-range values.
    """
    div, words = _quote_words(tick, segment_divisors)
    for name in FULL_WORDS[len(QUOTE_WORDS):]:
        if name in ("last_trade_time", "exchange_timestamp"):
            words.append(_epoch(tick.get(name), name))
        else:  # oi, oi_day_high, oi_day_low
            words.append(_u32(tick.get(name) or 0, name))
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
    packets; ``index`` forces one or the other. Raises LocalProtocolError on an unknown mode or bad values.
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
    at most 65535 bytes; LocalProtocolError beyond)."""
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

    Packet type per tick by :func:`encode_packet`. Raises LocalProtocolError on bad ticks.
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

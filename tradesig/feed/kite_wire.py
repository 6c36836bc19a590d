"""Constants of the Kite ticker protocol, defined once: packet lengths, word layouts, segments, modes, limits, errors.

Every other part of the codec (:mod:`~tradesig.feed.kite_decode`, :mod:`~tradesig.feed.kite_encode`,
:mod:`~tradesig.feed.kite_columnar`, :mod:`~tradesig.feed.kite_control`), the ticker client
(:mod:`tradesig.feed.kite_ws`) and the sim read these names; nothing else spells the numbers.

Sources: the official Python client ``kiteconnect.KiteTicker`` (pykiteconnect 5.x, ``ticker.py``:
``_parse_binary``, ``EXCHANGE_MAP``, ``MODE_*``) and the Kite Connect v3 WebSocket documentation
(https://kite.trade/docs/connect/v3/websocket/: "at most 3000 instruments per connection"); docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

import numpy as np

from tradesig.errors import ProtocolError

__all__ = [
    "DEFAULT_DIVISOR", "DEFAULT_DIVISORS", "DEPTH_ENTRY_WORDS", "DEPTH_LEVELS", "DEPTH_START_WORD", "FULL_LEN",
    "FULL_WORDS", "HEARTBEAT", "INDEX_FULL_LEN", "INDEX_FULL_WORDS", "INDEX_QUOTE_LEN", "INDEX_QUOTE_WORDS",
    "LTP_LEN", "LTP_WORDS", "LocalProtocolError", "MAX_INSTRUMENTS", "MODES", "MODE_FULL", "MODE_LTP",
    "MODE_QUOTE", "Mode", "PACKET_LENGTHS", "PACKET_MODE", "QUOTE_LEN", "QUOTE_WORDS", "RemoteProtocolError",
    "SEGMENT_BCD", "SEGMENT_BFO", "SEGMENT_BSE", "SEGMENT_CDS", "SEGMENT_INDICES", "SEGMENT_MCX", "SEGMENT_MCXSX",
    "SEGMENT_NCO", "SEGMENT_NFO", "SEGMENT_NSE", "DEFAULT_TABLE", "DEPTH_ORDERS", "DEPTH_PRICE", "DEPTH_QTY",
    "depth_word", "divisor_table", "price_divisor", "word",
]


class LocalProtocolError(ProtocolError):
    """We misused the protocol (a tick the wire cannot carry, more than :data:`MAX_INSTRUMENTS` subscriptions):
    a bug in our code or configuration, never a network fault — callers must not retry it. ``ours`` is True."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, ours=True)


class RemoteProtocolError(ProtocolError):
    """The peer sent data the protocol does not allow: count it, reconnect. ``ours`` is False.

    (The decoder itself never raises: it reports such faults in ``DecodedFrame.errors``; this class is for callers
    that decide a peer's fault must end the session.)"""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, ours=False)


# ----------------------------------------------------------------------------------------------------------------
# Messages and limits

#: A heartbeat: Kite sends a 1-byte binary message about once a second when there is nothing else to send.
HEARTBEAT = b"\x00"

#: Kite's limit of instruments per ticker connection (Kite Connect v3 WebSocket docs).
MAX_INSTRUMENTS = 3000

MODE_LTP, MODE_QUOTE, MODE_FULL = "ltp", "quote", "full"
#: The ticker modes, indexed by the decoder's mode number (0 ltp, 1 quote, 2 full).
MODES: tuple[str, str, str] = (MODE_LTP, MODE_QUOTE, MODE_FULL)
Mode = Literal["ltp", "quote", "full"]

# ----------------------------------------------------------------------------------------------------------------
# Packets: body lengths and the meaning of each big-endian 4-byte word of a body

LTP_LEN = 8
INDEX_QUOTE_LEN = 28
INDEX_FULL_LEN = 32
QUOTE_LEN = 44
FULL_LEN = 184
#: Body lengths (bytes) of the packet types, after the 2-byte length prefix.
PACKET_LENGTHS = (LTP_LEN, INDEX_QUOTE_LEN, INDEX_FULL_LEN, QUOTE_LEN, FULL_LEN)
#: Mode number (index into :data:`MODES`) a packet of each body length carries.
PACKET_MODE: Mapping[int, int] = {LTP_LEN: 0, INDEX_QUOTE_LEN: 1, INDEX_FULL_LEN: 2, QUOTE_LEN: 1, FULL_LEN: 2}

#: Word layouts: field name of each 4-byte word, in wire order (word i = bytes 4i..4i+4 of the body).
LTP_WORDS = ("instrument_token", "last_price")
#: Index packets order OHLC as high, low, open, close; ``net_change`` is a signed int the official client ignores.
INDEX_QUOTE_WORDS = ("instrument_token", "last_price", "high", "low", "open", "close", "net_change")
INDEX_FULL_WORDS = (*INDEX_QUOTE_WORDS, "exchange_timestamp")
QUOTE_WORDS = ("instrument_token", "last_price", "last_traded_quantity", "average_traded_price", "volume_traded",
               "total_buy_quantity", "total_sell_quantity", "open", "high", "low", "close")
#: The full packet's head; 10 depth entries follow (:data:`DEPTH_START_WORD`).
FULL_WORDS = (*QUOTE_WORDS, "last_trade_time", "oi", "oi_day_high", "oi_day_low", "exchange_timestamp")
#: Depth of a full packet: 5 bid ("buy") then 5 ask ("sell") entries of 3 words — quantity, price, orders (high
#: uint16 of the word; the low 2 bytes are padding) — from word 16.
DEPTH_START_WORD = len(FULL_WORDS)
DEPTH_ENTRY_WORDS = 3
DEPTH_LEVELS = 5
DEPTH_QTY, DEPTH_PRICE, DEPTH_ORDERS = 0, 1, 2  # word offsets within a depth entry
assert DEPTH_START_WORD * 4 + 2 * DEPTH_LEVELS * DEPTH_ENTRY_WORDS * 4 == FULL_LEN
assert len(INDEX_FULL_WORDS) * 4 == INDEX_FULL_LEN and len(QUOTE_WORDS) * 4 == QUOTE_LEN


def word(layout: tuple[str, ...], name: str) -> int:
    """The word offset of field ``name`` in ``layout`` (e.g. ``word(FULL_WORDS, "close") == 10``)."""
    return layout.index(name)


def depth_word(side: int, level: int, part: int) -> int:
    """Word offset in a full packet of depth ``side`` (0 bid, 1 ask), ``level`` (0-4), ``part`` (DEPTH_QTY/…)."""
    return DEPTH_START_WORD + DEPTH_ENTRY_WORDS * (side * DEPTH_LEVELS + level) + part


# ----------------------------------------------------------------------------------------------------------------
# Segments and price divisors

#: Kite's segment codes (``instrument_token & 0xFF``), from ``KiteTicker.EXCHANGE_MAP``.
SEGMENT_NSE, SEGMENT_NFO, SEGMENT_CDS, SEGMENT_BSE, SEGMENT_BFO, SEGMENT_BCD = 1, 2, 3, 4, 5, 6
SEGMENT_MCX, SEGMENT_MCXSX, SEGMENT_INDICES, SEGMENT_NCO = 7, 8, 9, 12
#: Price divisors that differ from the default 100 (paise → rupees): CDS quotes to 7 decimals, BCD and NCO to 4.
DEFAULT_DIVISORS: Mapping[int, float] = {SEGMENT_CDS: 10_000_000.0, SEGMENT_BCD: 10_000.0, SEGMENT_NCO: 10_000.0}
DEFAULT_DIVISOR = 100.0


@lru_cache(maxsize=32)
def _divisor_table(overrides: tuple[tuple[int, float], ...] | None) -> tuple[np.ndarray, tuple[float, ...]]:
    table = np.full(256, DEFAULT_DIVISOR)
    for seg, div in DEFAULT_DIVISORS.items():
        table[seg] = div
    for seg, div in overrides or ():
        table[seg] = div
    table.setflags(write=False)
    return table, tuple(table.tolist())


DEFAULT_TABLE = _divisor_table(None)


def divisor_table(segment_divisors: Mapping[int, float] | None) -> tuple[np.ndarray, tuple[float, ...]]:
    """(numpy table, tuple) of the 256 segments' divisors with ``segment_divisors`` overrides applied."""
    if not segment_divisors:
        return DEFAULT_TABLE
    return _divisor_table(tuple(sorted((int(k) & 0xFF, float(v)) for k, v in segment_divisors.items())))


def price_divisor(token: int, segment_divisors: Mapping[int, float] | None = None) -> float:
    """The number a wire price of ``token`` is divided by to give rupees.

    segment = ``token & 0xFF``: CDS (3) 1e7, BCD (6) and NCO (12) 1e4, every other segment 100 (paise).
    ``segment_divisors`` ({segment: divisor}) overrides these, e.g. if Kite changes a segment's precision.
    Source: ``kiteconnect.KiteTicker._parse_binary`` and ``EXCHANGE_MAP`` (pykiteconnect 5.x).
    """
    return divisor_table(segment_divisors)[1][int(token) & 0xFF]

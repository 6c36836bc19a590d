"""Kite ticker wire protocol: a sans-I/O codec (bytes in, ticks out; ticks in, bytes out; control messages).

This module is the codec's public face; its parts sit beside it, one job each (docs/protocol.md):

* :mod:`tradesig.feed.kite_wire` — every protocol constant, defined once: packet lengths and word layouts,
  segments and price divisors, :data:`MODES`, :data:`MAX_INSTRUMENTS`, :data:`HEARTBEAT`, and the two error
  classes :class:`LocalProtocolError` (ours: a bug, never retried) / :class:`RemoteProtocolError` (the peer's bad
  data), both subclasses of :class:`tradesig.errors.ProtocolError`;
* :mod:`tradesig.feed.kite_decode` — :func:`decode_frame` / :func:`decode_text` (pure; never raise: faults land in
  ``DecodedFrame.errors``), :class:`TickBatch`; :func:`uniform_shape` / :func:`decode_frames` decode many
  well-formed frames of one packet type as one batch; index packets go through :mod:`tradesig.feed.kite_index`
  (column-major, widened to :data:`TICK_DTYPE` on demand);
* :mod:`tradesig.feed.kite_columnar` — ticks → polars (:data:`TICK_COLUMNS`, :func:`tick_schema`);
* :mod:`tradesig.feed.kite_encode` — ticks → frames, text messages (for the sim and tests);
* :mod:`tradesig.feed.kite_control` — the client's control messages (:class:`Subscribe`, :class:`Unsubscribe`,
  :class:`SetMode`, :class:`InvalidControl`; :func:`encode_control` / :func:`decode_control`), used by the ticker
  client (:mod:`tradesig.feed.kite_ws`) and the sim alike.

Every public name of those modules is importable from here.
"""

from __future__ import annotations

from tradesig.feed.kite_columnar import TICK_COLUMNS, tick_schema
from tradesig.feed.kite_control import (
    SUBSCRIBE_DEFAULT_MODE,
    Control,
    InvalidControl,
    SetMode,
    Subscribe,
    Unsubscribe,
    check_subscription_limit,
    decode_control,
    encode_control,
)
from tradesig.feed.kite_decode import (
    SMALL_FRAME,
    TICK_DTYPE,
    DecodedFrame,
    TextMessage,
    TickBatch,
    decode_frame,
    decode_frames,
    decode_text,
    uniform_shape,
)
from tradesig.feed.kite_encode import (
    encode_error,
    encode_frame,
    encode_full,
    encode_index_full,
    encode_index_quote,
    encode_ltp,
    encode_message,
    encode_order_postback,
    encode_packet,
    encode_packets,
    encode_quote,
)
from tradesig.feed.kite_wire import (
    DEFAULT_DIVISOR,
    DEFAULT_DIVISORS,
    FULL_LEN,
    FULL_WORDS,
    HEARTBEAT,
    INDEX_FULL_LEN,
    INDEX_FULL_WORDS,
    INDEX_QUOTE_LEN,
    INDEX_QUOTE_WORDS,
    LTP_LEN,
    LTP_WORDS,
    MAX_INSTRUMENTS,
    MODE_FULL,
    MODE_LTP,
    MODE_QUOTE,
    MODES,
    PACKET_LENGTHS,
    QUOTE_LEN,
    QUOTE_WORDS,
    SEGMENT_BCD,
    SEGMENT_BFO,
    SEGMENT_BSE,
    SEGMENT_CDS,
    SEGMENT_INDICES,
    SEGMENT_MCX,
    SEGMENT_MCXSX,
    SEGMENT_NCO,
    SEGMENT_NFO,
    SEGMENT_NSE,
    LocalProtocolError,
    Mode,
    RemoteProtocolError,
    price_divisor,
)

__all__ = [
    "DEFAULT_DIVISOR", "DEFAULT_DIVISORS", "FULL_LEN", "FULL_WORDS", "HEARTBEAT", "INDEX_FULL_LEN",
    "INDEX_FULL_WORDS", "INDEX_QUOTE_LEN", "INDEX_QUOTE_WORDS", "LTP_LEN", "LTP_WORDS", "MAX_INSTRUMENTS", "MODES",
    "MODE_FULL", "MODE_LTP", "MODE_QUOTE", "PACKET_LENGTHS", "QUOTE_LEN", "QUOTE_WORDS", "SEGMENT_BCD", "SEGMENT_BFO",
    "SEGMENT_BSE", "SEGMENT_CDS", "SEGMENT_INDICES", "SEGMENT_MCX", "SEGMENT_MCXSX", "SEGMENT_NCO", "SEGMENT_NFO",
    "SEGMENT_NSE", "SMALL_FRAME", "SUBSCRIBE_DEFAULT_MODE", "TICK_COLUMNS", "TICK_DTYPE", "Control",
    "DecodedFrame", "InvalidControl", "LocalProtocolError", "Mode", "RemoteProtocolError", "SetMode", "Subscribe",
    "TextMessage", "TickBatch", "Unsubscribe", "check_subscription_limit", "decode_control", "decode_frame",
    "decode_frames", "decode_text", "encode_control", "encode_error", "encode_frame", "encode_full",
    "encode_index_full",
    "encode_index_quote", "encode_ltp", "encode_message", "encode_order_postback", "encode_packet", "encode_packets",
    "encode_quote", "price_divisor", "tick_schema", "uniform_shape",
]

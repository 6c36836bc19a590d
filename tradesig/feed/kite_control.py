"""The ticker's control messages (client → server), as frozen dataclasses with one encoder and one decoder.

Kite's control messages are JSON text (Kite Connect v3 WebSocket docs; pykiteconnect ``KiteTicker.subscribe`` /
``unsubscribe`` / ``set_mode``)::

    {"a": "subscribe",   "v": [408065, 884737]}
    {"a": "unsubscribe", "v": [408065]}
    {"a": "mode",        "v": ["full", [408065]]}      # mode: ltp | quote | full

A subscribe carries no mode: a newly subscribed instrument streams in ``quote`` mode until a ``mode`` message
(:data:`SUBSCRIBE_DEFAULT_MODE`), which is why the client sends :class:`Subscribe` then :class:`SetMode`.
At most :data:`~tradesig.feed.kite_wire.MAX_INSTRUMENTS` instruments per connection.

Sans-I/O: :func:`encode_control` (the client) raises :class:`~tradesig.feed.kite_wire.LocalProtocolError` on a
message we should never build; :func:`decode_control` (the sim) never raises: bad peer text gives
:class:`InvalidControl` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tradesig.feed.kite_wire import MAX_INSTRUMENTS, MODE_QUOTE, MODES, LocalProtocolError, Mode

__all__ = ["SUBSCRIBE_DEFAULT_MODE", "Control", "InvalidControl", "SetMode", "Subscribe", "Unsubscribe",
           "check_subscription_limit", "decode_control", "encode_control"]

#: The mode a subscribed instrument streams in before any ``mode`` message (Kite: quote).
SUBSCRIBE_DEFAULT_MODE: Mode = MODE_QUOTE


def _tokens(tokens: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(t) for t in tokens)


@dataclass(frozen=True)
class Subscribe:
    """``{"a": "subscribe", "v": tokens}``: start streaming ``tokens`` (instrument tokens)."""

    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Unsubscribe:
    """``{"a": "unsubscribe", "v": tokens}``: stop streaming ``tokens``."""

    tokens: tuple[int, ...]


@dataclass(frozen=True)
class SetMode:
    """``{"a": "mode", "v": [mode, tokens]}``: stream ``tokens`` in ``mode`` (ltp, quote or full)."""

    mode: str
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class InvalidControl:
    """A control text the protocol does not allow (decoded from a peer): ``reason`` says why, ``raw`` is the text."""

    reason: str
    raw: str


Control = Subscribe | Unsubscribe | SetMode


def encode_control(msg: Control) -> str:
    """The JSON text of a control message. Raises :class:`LocalProtocolError` for a mode other than
    ltp/quote/full, a token that is not an integer, or a message that is not a control message."""
    try:
        if isinstance(msg, Subscribe):
            return json.dumps({"a": "subscribe", "v": list(_tokens(msg.tokens))})
        if isinstance(msg, Unsubscribe):
            return json.dumps({"a": "unsubscribe", "v": list(_tokens(msg.tokens))})
        if isinstance(msg, SetMode):
            if msg.mode not in MODES:
                raise LocalProtocolError(f"unknown ticker mode {msg.mode!r} (ltp, quote or full)")
            return json.dumps({"a": "mode", "v": [msg.mode, list(_tokens(msg.tokens))]})
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode {msg!r}: {exc}") from None
    raise LocalProtocolError(f"{msg!r} is not a ticker control message")


def _int_tokens(value: Any) -> tuple[int, ...] | None:
    """The integer entries of a JSON list (others ignored, as Kite ignores unknown tokens); None if not a list."""
    if not isinstance(value, list):
        return None
    return tuple(t for t in value if isinstance(t, int) and not isinstance(t, bool))


def decode_control(text: str | bytes) -> Control | InvalidControl:
    """Parse one control text from a ticker client; never raises.

    Non-integer entries of a token list are ignored (Kite ignores what it cannot subscribe); anything else that is
    not one of the three messages gives :class:`InvalidControl`.
    """
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
    try:
        obj = json.loads(raw)
        action, value = obj["a"], obj["v"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return InvalidControl('invalid message: expected {"a": action, "v": value}', raw)
    if action in ("subscribe", "unsubscribe"):
        tokens = _int_tokens(value)
        if tokens is None:
            return InvalidControl(f"invalid {action} message: \"v\" must be a list of instrument tokens", raw)
        return Subscribe(tokens) if action == "subscribe" else Unsubscribe(tokens)
    if action == "mode":
        tokens = _int_tokens(value[1]) if isinstance(value, list) and len(value) == 2 else None
        if tokens is None:
            return InvalidControl("invalid mode message", raw)
        if value[0] not in MODES:
            return InvalidControl(f"invalid mode {value[0]!r}", raw)
        return SetMode(value[0], tokens)
    return InvalidControl(f"unknown action {action!r}", raw)


def check_subscription_limit(current: Iterable[int], new: Iterable[int]) -> int:
    """The number of instruments after adding ``new`` to ``current``; raises :class:`LocalProtocolError` past
    :data:`~tradesig.feed.kite_wire.MAX_INSTRUMENTS` (Kite's limit per connection)."""
    total = len(set(current) | set(new))
    if total > MAX_INSTRUMENTS:
        raise LocalProtocolError(f"{total} instruments exceed Kite's {MAX_INSTRUMENTS} per connection",
                                 "subscribe fewer instruments, or open another connection")
    return total

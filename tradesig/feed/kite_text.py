"""Kite ticker text messages: order postbacks, errors and broker notices (a sans-I/O codec part; JSON only).

Source: the Kite Connect v3 WebSocket documentation (https://kite.trade/docs/connect/v3/websocket/, "Postbacks and
non-binary updates") and ``kiteconnect.KiteTicker._on_message`` (pykiteconnect 5.x). Never raises on peer data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["TextMessage", "decode_text"]


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

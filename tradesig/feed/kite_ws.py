"""The Kite ticker WebSocket client (asyncio + websockets): connect, subscribe, set modes, read frames.

Wire facts (Kite Connect v3 WebSocket docs; pykiteconnect ``KiteTicker``): the URL is
``<root>?api_key=<key>&access_token=<token>`` (root ``wss://ws.kite.trade``, or the sim's ``ws://127.0.0.1:PORT``);
a rejected token fails the opening handshake with HTTP 403; control messages are JSON text —
``{"a": "subscribe", "v": [tokens]}``, ``{"a": "unsubscribe", "v": [tokens]}``, ``{"a": "mode", "v": [mode,
[tokens]]}`` with mode ``ltp``/``quote``/``full``; at most 3000 instruments per connection. Market data arrives as
binary frames (decoded by :mod:`tradesig.feed.kite_protocol`); a frame under 2 bytes is a heartbeat; text frames
are order postbacks, errors and broker messages.

This module only moves bytes: decoding, journaling and reconnect policy live elsewhere. Errors raised:
websockets ``InvalidStatus`` (HTTP status of a refused handshake; 403 = token), ``InvalidHandshake``,
``ConnectionClosed``, ``OSError``/``TimeoutError`` (network), :class:`tradesig.feed.kite_wire.LocalProtocolError`
(ours: never retry) for more than :data:`MAX_INSTRUMENTS` instruments or a mode other than ltp/quote/full. The
control messages are built by the codec (:func:`tradesig.feed.kite_control.encode_control`), the same one the sim
decodes them with.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Sequence
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect

from tradesig.feed.kite_control import SetMode, Subscribe, Unsubscribe, check_subscription_limit, encode_control
from tradesig.feed.kite_wire import MAX_INSTRUMENTS, MODE_FULL

log = logging.getLogger(__name__)


def ticker_url(root: str, api_key: str, access_token: str) -> str:
    """The ticker URL for a root such as ``wss://ws.kite.trade`` (what ``KiteTicker`` builds)."""
    return f"{root.rstrip('/')}?{urlencode({'api_key': api_key, 'access_token': access_token})}"


class KiteTickerClient:
    """One ticker connection. ``async with KiteTickerClient(...) as t: await t.subscribe(...); async for m in t``.

    ``root``: ticker root URL; ``api_key``/``access_token``: Kite credentials (never logged);
    ``open_timeout``: seconds for the TCP + WebSocket handshake. Messages are ``bytes`` (binary market data)
    or ``str`` (text: postbacks, errors). ``receive_buffer``: SO_RCVBUF in bytes (None: the kernel's autotuning),
    for a source whose pace follows the reader (the sim paces its replay to what its clients leave unread).
    """

    def __init__(self, root: str, api_key: str, access_token: str, *, open_timeout: float = 10.0,
                 receive_buffer: int | None = None) -> None:
        self.root = root
        self._receive_buffer = receive_buffer
        self._url = ticker_url(root, api_key, access_token)
        self._open_timeout = open_timeout
        self.ws: ClientConnection | None = None
        self.subscribed: dict[int, str] = {}

    async def connect(self) -> None:
        """Open the connection (raises as in the module docstring)."""
        self.ws = await connect(self._url, open_timeout=self._open_timeout, max_size=2**22,
                                ping_interval=None, close_timeout=2, compression=None)
        sock = self.ws.transport.get_extra_info("socket") if self._receive_buffer else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
        log.info("ticker connected to %s", self.root)

    async def __aenter__(self) -> KiteTickerClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def subscribe(self, tokens: Sequence[int], mode: str = MODE_FULL) -> None:
        """Subscribe ``tokens`` and set their ``mode``. LocalProtocolError past :data:`MAX_INSTRUMENTS`
        instruments or for an unknown mode (nothing is sent then)."""
        new = tuple(int(t) for t in tokens)
        check_subscription_limit(self.subscribed, new)
        messages = [encode_control(Subscribe(new)), encode_control(SetMode(mode, new))]
        assert self.ws is not None, "connect() first"
        for text in messages:
            await self.ws.send(text)
        self.subscribed.update({t: mode for t in new})

    async def unsubscribe(self, tokens: Sequence[int]) -> None:
        assert self.ws is not None, "connect() first"
        gone = [int(t) for t in tokens if int(t) in self.subscribed]
        if gone:
            await self.ws.send(encode_control(Unsubscribe(tuple(gone))))
            for t in gone:
                self.subscribed.pop(t, None)

    async def recv(self) -> bytes | str:
        """The next message (raises ``ConnectionClosed`` when the connection ends)."""
        assert self.ws is not None, "connect() first"
        return await self.ws.recv()

    def __aiter__(self) -> KiteTickerClient:
        return self

    async def __anext__(self) -> bytes | str:
        return await self.recv()

    async def close(self) -> None:
        if self.ws is not None:
            ws, self.ws = self.ws, None
            await ws.close()

    def abort(self) -> None:
        """Drop the TCP connection at once (stall: the peer may never answer a close)."""
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()


__all__ = ["KiteTickerClient", "ticker_url", "MAX_INSTRUMENTS"]

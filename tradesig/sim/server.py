"""One asyncio TCP listener that speaks HTTP/1.1 (h11) and the WebSocket protocol (websockets' sans-I/O core).

Kite serves REST at ``https://api.kite.trade`` and the ticker at ``wss://ws.kite.trade``; the sim serves both on
one port so that ``KiteConnect(root="http://127.0.0.1:P")`` and ``KiteTicker(root="ws://127.0.0.1:P")`` reach
it. A connection whose first request carries ``Upgrade: websocket`` becomes a WebSocket; every other connection
is plain HTTP/1.1 with keep-alive. Nothing here knows about Kite: :class:`HttpApp` supplies the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import h11
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol

log = logging.getLogger(__name__)

MAX_HEAD = 65536
MAX_BODY = 8 * 1024 * 1024


@dataclass
class HttpRequest:
    """A parsed request: ``path`` without the query, ``query``/``form`` as ``parse_qs`` dicts (lists of values),
    ``headers`` lower-cased names, ``body`` raw bytes."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    peer: Any = None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def form(self) -> dict[str, list[str]]:
        """Body as application/x-www-form-urlencoded (Kite's POST/PUT encoding), merged over the query."""
        out = self.query
        ctype = self.headers.get("content-type", "")
        if self.body and "json" not in ctype:
            out.update(parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return out

    def json(self) -> Any:
        """Body parsed as JSON (``ValueError`` when it is not JSON)."""
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds to wait before writing (fault injection)


class WsConnection:
    """A server-side WebSocket over an asyncio stream, on websockets' sans-I/O :class:`ServerProtocol`.

    ``send_binary``/``send_text`` never raise on a dead peer (they return False); ``abort`` drops the TCP
    connection without a close frame (the "drop" fault); pings are answered by the protocol itself.
    """

    def __init__(self, proto: ServerProtocol, request: WsRequest, writer: asyncio.StreamWriter) -> None:
        self.proto = proto
        self.request = request
        self.writer = writer
        self.closed = False
        self.query = parse_qs(urlsplit(request.path).query)
        self.state: dict[str, Any] = {}

    def _flush(self) -> bool:
        if self.closed:
            return False
        try:
            for chunk in self.proto.data_to_send():
                if chunk:
                    self.writer.write(chunk)
                else:
                    self.writer.close()
                    self.closed = True
                    return False
        except (ConnectionError, RuntimeError):
            self.closed = True
            return False
        return True

    def send_binary(self, data: bytes) -> bool:
        if self.closed:
            return False
        try:
            self.proto.send_binary(data)
        except Exception:  # noqa: BLE001 - the protocol refuses to send on a closing connection
            self.closed = True
            return False
        return self._flush()

    def send_text(self, text: str) -> bool:
        if self.closed:
            return False
        try:
            self.proto.send_text(text.encode("utf-8"))
        except Exception:  # noqa: BLE001 - as above
            self.closed = True
            return False
        return self._flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        try:
            self.proto.send_close(code, reason)
        except Exception:  # noqa: BLE001 - already closing
            pass
        self._flush()

    def unsent_bytes(self) -> int:
        """Bytes written to this connection that the peer has not yet taken off the socket (the transport's write
        buffer; 0 once closed)."""
        transport = self.writer.transport
        if self.closed or transport is None or transport.is_closing():
            return 0
        return transport.get_write_buffer_size()

    def abort(self) -> None:
        """Drop the TCP connection at once (no close frame)."""
        self.closed = True
        transport = self.writer.transport
        if transport is not None:
            transport.abort()


class HttpApp(Protocol):
    async def handle_http(self, request: HttpRequest) -> HttpResponse: ...

    def authorize_ws(self, request: HttpRequest) -> tuple[int, str] | None:
        """None to accept the upgrade, else (HTTP status, message) to refuse it."""

    async def ws_opened(self, ws: WsConnection) -> None: ...

    async def ws_message(self, ws: WsConnection, data: str | bytes) -> None: ...

    async def ws_closed(self, ws: WsConnection) -> None: ...


class Server:
    """Serve an :class:`HttpApp` on ``host:port`` (port 0 picks a free one; :attr:`port` tells which)."""

    def __init__(self, app: HttpApp) -> None:
        self.app = app
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._on_client, host, port, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                if w.transport is not None:
                    w.transport.abort()
            if self._tasks:  # aborted transports end their handlers (EOF); cancel only stragglers
                _, pending = await asyncio.wait(list(self._tasks), timeout=2.0)
                for t in pending:
                    t.cancel()
            # Python 3.11.x's wait_closed may wait for connections it still counts as active: bound it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data
                if len(buf) > MAX_HEAD and b"\r\n\r\n" not in buf[:MAX_HEAD]:
                    writer.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n")
                    return
            head = buf.split(b"\r\n\r\n", 1)[0].lower()
            if b"\r\nupgrade: websocket" in head or b"\r\nupgrade:websocket" in head:
                await self._serve_ws(buf, reader, writer)
            else:
                await self._serve_http(buf, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            try:
                writer.close()
            except RuntimeError:
                pass

    async def _serve_http(self, buf: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        conn.receive_data(buf)
        peer = writer.get_extra_info("peername")
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is not h11.DONE:
                    return
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if not isinstance(event, h11.Request):
                continue
            body = b""
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    data = await reader.read(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(ev, h11.Data):
                    body += ev.data
                    if len(body) > MAX_BODY:
                        return
                elif isinstance(ev, h11.EndOfMessage):
                    break
                else:
                    return
            req = HttpRequest(event.method.decode(), event.target.decode("utf-8", "replace"),
                              {k.decode().lower(): v.decode("utf-8", "replace") for k, v in event.headers},
                              body, peer)
            resp = await self.app.handle_http(req)
            if resp.delay > 0:
                await asyncio.sleep(resp.delay)
            headers = [("content-type", resp.content_type), ("content-length", str(len(resp.body))),
                       ("server", "tradesig-sim"), *resp.headers]
            try:
                writer.write(conn.send(h11.Response(status_code=resp.status, headers=headers)))
                if resp.body and req.method != "HEAD":
                    writer.write(conn.send(h11.Data(data=resp.body)))
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
            except h11.LocalProtocolError:
                return
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _serve_ws(self, buf: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proto = ServerProtocol(max_size=2**20)
        proto.receive_data(buf)
        events = proto.events_received()
        if not events or not isinstance(events[0], WsRequest):
            for chunk in proto.data_to_send():
                writer.write(chunk)
            return
        request = events[0]
        hreq = HttpRequest("GET", request.path, {k.lower(): v for k, v in request.headers.raw_items()})
        refusal = self.app.authorize_ws(hreq)
        if refusal is not None:
            response = proto.reject(refusal[0], refusal[1])
        else:
            response = proto.accept(request)
        proto.send_response(response)
        for chunk in proto.data_to_send():
            if chunk:
                writer.write(chunk)
        await writer.drain()
        if refusal is not None or proto.handshake_exc is not None:
            return
        ws = WsConnection(proto, request, writer)
        await self.app.ws_opened(ws)
        try:
            while not ws.closed:
                data = await reader.read(65536)
                if data:
                    proto.receive_data(data)
                else:
                    proto.receive_eof()
                for ev in proto.events_received():
                    if isinstance(ev, Frame) and ev.opcode in (Opcode.TEXT, Opcode.BINARY):
                        payload: str | bytes = ev.data.decode("utf-8", "replace") if ev.opcode is Opcode.TEXT \
                            else bytes(ev.data)
                        await self.app.ws_message(ws, payload)
                ws._flush()
                if not data or proto.close_expected():
                    break
        finally:
            ws.closed = True
            await self.app.ws_closed(ws)

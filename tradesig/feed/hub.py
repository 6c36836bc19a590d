"""The viewer hub: one WebSocket JSON fan-out of the feed to any number of viewers (docs/viewer-protocol.md).

The feed owns the single broker connection; browsers, ``signals --follow`` and ``trade`` connect here instead.
The hub is asyncio + websockets (``websockets.asyncio.server``) and serves, on one port:

- ``GET /`` — the trader's page ``tradesig/static/hub.html`` with its script, stylesheet and the vendored
  lightweight-charts library inlined (one response, no build step, no CDN);
- ``GET /health`` — JSON from the feed's health callback (connected, last tick age, ticks/s, gaps, reconnects,
  token expiry, phase);
- a WebSocket upgrade on any path (``/ws`` by convention) — the viewer protocol.

Messages (server → client, JSON text frames): ``snapshot`` on connect, ``tick`` (or ``ticks`` batches for a viewer
that asked for them with ``?batch=1``), ``bar``, ``status``, ``signal``, ``heartbeat``, ``error``; for the trader's
page ``history``, ``view``, ``markers``, ``trade``, ``chain`` and ``flatten_result``. Client → server:
``subscribe`` / ``unsubscribe`` (symbols), ``publish`` (channel ``signal``; allowed from a loopback peer or with the
publish token), ``ping``, ``history`` (a chart view, computed from the data home by :mod:`tradesig.feed.dashboard`
in one worker thread) and ``flatten`` (publish token only).

Ticks are conflated and encoded once. ``publish_tick``/``publish_ticks`` only store the latest tick per symbol
(``publish_tick_array`` keeps a decoded frame as it is; the flush builds dicts for the last row per instrument); at
most every ``tick_interval`` seconds (at once when the previous flush is older than that) the hub flushes: each
changed symbol's tick is JSON-encoded once, and one text per distinct subscription (a ``ticks`` batch, or the
single ``tick`` texts) is handed to every viewer with that subscription. A viewer still busy with an earlier flush
gets the new ticks merged into a per-viewer slot (symbol → latest tick) that its writer sends as one batch when it
catches up: a slow viewer receives fewer, fresher updates instead of a growing backlog. A bar is preceded by the
ticks published before it.

Back-pressure: ``publish_*`` never awaits. Each client has a bounded queue of ``client_queue`` messages; once
full, bars/status for the same key are *coalesced* (only the latest value is kept); when the client's backlog
(queue + coalesced updates and tick flushes merged since it last completed a send) passes ``2 × client_queue`` it
is dropped (TCP abort). The feed is never slowed by a viewer.

Authentication: binding a non-loopback address requires a viewer token of at least :data:`MIN_TOKEN_BITS` bits of
entropy (``ConfigError`` otherwise); a publish token must be as strong wherever the hub listens (it can flatten).
Token files must not be readable by group or others (:func:`read_token_file`). With a token, every request (page,
health, WebSocket) must present it as ``?token=…`` or ``Authorization: Bearer …``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response

from tradesig.clock import Clock, SystemClock
from tradesig.errors import ConfigError
from tradesig.feed.hub_auth import check_token, is_loopback_host, parse_listen, read_token_file  # noqa: F401
from tradesig.feed.hub_client import TICKS_PREFIX, HubStats, _Client

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 3
#: Default ``tick_interval``: least seconds between two tick flushes (≤ 25 updates per second per symbol and viewer).
TICK_INTERVAL = 0.04
#: A tick flush may take at most 1/FLUSH_SHARE of the loop's time: the next flush waits FLUSH_SHARE × its duration.
FLUSH_SHARE = 4
MAX_CLIENT_MESSAGE = 64 * 1024
MAX_SIGNALS_KEPT = 50
#: Files inlined into the page at ``<!--inline:NAME-->`` (the vendored chart library and the page's own code).
PAGE_PARTS = ("hub.css", "lightweight-charts.standalone.production.js", "hub.js")

def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=_default, allow_nan=False)


from tradesig.jsonenc import json_default as _default  # noqa: E402 - the one encoder


def _with_type(response: Response, content_type: str) -> Response:
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


class Hub:
    """The viewer hub. Construct, ``await start()``, call ``publish_*`` from the feed, ``await stop()``.

    ``host``/``port``: where to listen (port 0 picks a free port; see :attr:`port` after start).
    ``token``: viewer token, required when ``host`` is not loopback (``ConfigError`` otherwise).
    ``publish_token``: token that lets a non-loopback client publish signals (loopback peers always may).
    ``client_queue``: per-viewer queue length before coalescing; twice that drops the viewer.
    ``health``: callable returning the dict served at ``/health`` and carried by ``status`` messages.
    ``heartbeat_seconds``: interval of ``heartbeat`` messages (0 disables them).
    ``tick_interval``: least seconds between two tick flushes (0: flush on the event loop's next turn).
    ``write_limit``: websockets' write-buffer high-water mark per connection, bytes.
    ``send_buffer``: kernel send buffer (SO_SNDBUF) per viewer socket, bytes (None: the OS default, which
    autotunes to megabytes and hides a stuck viewer for a long time).
    ``dashboard``: a :class:`tradesig.feed.hub_page.DashboardSources` (data home, market clock, option chain)
    enabling the trader's page messages (``history``, ``view``, ``trade``, ``chain``, ``markers``, ``flatten``).
    Raises :class:`ConfigError` for a missing or weak token (:mod:`tradesig.feed.hub_auth`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        publish_token: str | None = None,
        client_queue: int = 1000,
        health: Callable[[], dict[str, Any]] | None = None,
        heartbeat_seconds: float = 5.0,
        tick_interval: float = TICK_INTERVAL,
        write_limit: int = 2**14,
        send_buffer: int | None = 2**16,
        clock: Clock | None = None,
        dashboard: Any = None,
    ) -> None:
        if not is_loopback_host(host) and not token:
            raise ConfigError(f"the hub would listen on {host}, which is not loopback, without a viewer token",
                              "pass --token-file FILE (or hub.token_file) so viewers must present a token")
        if not is_loopback_host(host):
            check_token(token or "", f"viewer token for {host}")
        if publish_token:
            check_token(publish_token, "publish token")
        if client_queue < 1:
            raise ConfigError("hub.client_queue must be at least 1")
        self.host = host
        self.port = port
        self._token = token or None
        self._publish_token = publish_token or None
        self._limit = client_queue
        self._health = health or (lambda: {})
        self._heartbeat_seconds = heartbeat_seconds
        self._tick_interval = max(0.0, tick_interval)
        self._dirty: dict[str, dict[str, Any]] = {}  # symbol → latest tick published since the last flush
        self._arrays: list[tuple[np.ndarray, Callable[[np.ndarray, bool], list[dict[str, Any]]]]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._last_flush = float("-inf")  # loop time of the last flush
        self._flush_gap = self._tick_interval  # least time to the next flush (grows with the cost of a flush)
        self._write_limit = write_limit
        self._send_buffer = send_buffer
        self._clock = clock or SystemClock()
        self._clients: set[_Client] = set()
        self._grouped: dict[frozenset[str] | None, list[_Client]] | None = None  # see _groups()
        self._server: Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._last_ticks: dict[str, dict[str, Any]] = {}
        self._last_bars: dict[str, dict[str, Any]] = {}
        self._signals: deque[dict[str, Any]] = deque(maxlen=MAX_SIGNALS_KEPT)
        self._page: str | None = None
        self.phase: str | None = None
        self.connected: bool = False
        self.stats = HubStats()
        self.on_signal: Callable[[dict[str, Any]], None] | None = None
        self._dashboard = dashboard
        self._pagedata: Any = None  # tradesig.feed.hub_page.PageData while serving with a dashboard

    # ------------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and start serving; sets :attr:`port` to the bound port. Raises :class:`ConfigError` (exit 2) when
        the address cannot be bound (taken by another feed, or not an address of this host)."""
        try:
            self._server = await serve(
                self._handler, self.host, self.port,
                process_request=self._process_request,
                max_size=MAX_CLIENT_MESSAGE,
                write_limit=self._write_limit,
                compression=None,  # per-viewer deflate would undo encode-once (a zlib pass per viewer and message)
                ping_interval=20, ping_timeout=20, close_timeout=2,
            )
        except OSError as exc:
            raise ConfigError(f"the viewer hub cannot listen on {self.host}:{self.port}: {exc.strerror or exc}",
                              "is another feed running? pick another --serve port or hub.listen") from None
        self.port = self._server.sockets[0].getsockname()[1]
        if self._heartbeat_seconds > 0:
            self._spawn(self._heartbeat_loop())
        if self._dashboard is not None:
            from tradesig.feed.hub_page import PageData

            self._pagedata = PageData(self, self._dashboard)
            self._pagedata.start()
        log.info("hub listening on %s:%s (token %s)", self.host, self.port, "required" if self._token else "off")

    async def stop(self) -> None:
        """Close every viewer (code 1001) and stop listening."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close(close_connections=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3)
            self._server = None
        if self._pagedata is not None:
            self._pagedata.stop()

    @property
    def url(self) -> str:
        """``ws://host:port/ws`` of the running hub."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/ws"

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---------------------------------------------------------------------------------------------- publishing

    def publish_tick(self, tick: dict[str, Any]) -> None:
        """Queue one tick for the next flush. ``tick`` has at least ``symbol`` (str); other fields as
        docs/viewer-protocol.md. Only the latest tick per symbol since the last flush is sent."""
        self.stats.ticks_in += 1
        if self._arrays:
            self._take_arrays()  # older than this tick
        self._dirty[tick["symbol"]] = tick
        if self._flush_handle is None:
            self._schedule_flush()

    def publish_ticks(self, ticks: list[dict[str, Any]]) -> None:
        """:meth:`publish_tick` for each of ``ticks`` (one frame's ticks, in order)."""
        if self._arrays:
            self._take_arrays()
        dirty = self._dirty
        for tick in ticks:
            dirty[tick["symbol"]] = tick
        self.stats.ticks_in += len(ticks)
        if ticks and self._flush_handle is None:
            self._schedule_flush()

    def publish_tick_array(self, array: np.ndarray, rows: Callable[[np.ndarray, bool], list[dict[str, Any]]]) -> None:
        """One decoded ticker frame (``TICK_DTYPE`` array, see :mod:`tradesig.feed.kite_decode`) whose viewer ticks
        are ``rows(array, False)``: the array is kept until the flush, which builds the tick dicts of only the
        latest row per instrument (no per-tick Python work at the ingest rate)."""
        self._arrays.append((array, rows))
        self.stats.ticks_in += len(array)
        if self._flush_handle is None:
            self._schedule_flush()

    def _take_arrays(self) -> None:
        """Turn the arrays published since the last flush into dirty ticks: the last row per instrument token."""
        arrays, self._arrays = self._arrays, []
        tokens = np.concatenate([a["instrument_token"] for a, _ in arrays])  # only the token column is copied
        _, first_from_end = np.unique(tokens[::-1], return_index=True)
        last = np.sort(len(tokens) - 1 - first_from_end)
        lengths = np.array([len(a) for a, _ in arrays])
        ends = np.cumsum(lengths)
        which = np.searchsorted(ends, last, side="right")  # the array of each kept row
        starts = ends - lengths
        parts = [arrays[j][0][last[which == j] - starts[j]] for j in np.unique(which)]
        for tick in arrays[-1][1](parts[0] if len(parts) == 1 else np.concatenate(parts), False):
            self._dirty[tick["symbol"]] = tick

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous caller): nobody can be waiting to send
            self.flush_ticks()
            return
        delay = self._last_flush + self._flush_gap - loop.time()
        self._flush_handle = loop.call_later(delay, self.flush_ticks) if delay > 0 else loop.call_soon(self.flush_ticks)

    def flush_ticks(self) -> None:
        """Send the ticks published since the last flush: each symbol's latest tick encoded once, one shared text
        per distinct subscription (see the module docstring)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._arrays:
            self._take_arrays()
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        started = time.thread_time()  # CPU time: a flush preempted by another process is not costlier
        with contextlib.suppress(RuntimeError):
            self._last_flush = asyncio.get_running_loop().time()
        self.stats.tick_flushes += 1
        try:
            self._flush(dirty)
        finally:  # fan-out may take at most 1/FLUSH_SHARE of the loop: a costly flush spaces the next ones out
            self._flush_gap = max(self._tick_interval, FLUSH_SHARE * (time.thread_time() - started))

    def _flush(self, dirty: dict[str, dict[str, Any]]) -> None:
        clients = self._clients
        groups = self._groups() if clients else {}
        wanted = None if None in groups else frozenset().union(*groups)  # None: every symbol is wanted
        texts: dict[str, str] = {}
        for symbol, tick in dirty.items():
            msg = {"type": "tick", **tick}
            self._last_ticks[symbol] = msg
            if self._pagedata is not None:
                self._pagedata.on_tick(msg)
            if clients and (wanted is None or symbol in wanted):
                texts[symbol] = _json(msg)  # encoded only if some viewer wants it
        if not clients:
            return
        self.stats.published += len(texts)
        for subscribed, members in groups.items():
            sub = texts if subscribed is None else {s: t for s, t in texts.items() if s in subscribed}
            if not sub:
                continue
            batch = TICKS_PREFIX + ",".join(sub.values()) + "]}"
            wires: dict[bool, bytes] = {}  # the WebSocket frame(s) on the wire, serialized once (server frames are
            for client in members:         # not masked), for batch viewers and for single-tick viewers
                if client.dropped:
                    continue
                wire = wires.get(client.batch)
                if wire is None:
                    frames = [batch] if client.batch else sub.values()
                    wire = wires[client.batch] = b"".join(Frame(Opcode.TEXT, t.encode()).serialize(mask=False)
                                                         for t in frames)
                if client.write_now(wire, self._write_limit):
                    continue
                before = client.behind
                self._settle(client, client.offer_ticks(sub, batch), before)

    def publish_bar(self, bar: dict[str, Any]) -> None:
        """Fan out one closed bar (``symbol``, ``interval``, ``ts`` bar start, OHLC rupees, volume, oi, status)."""
        if self._dirty or self._arrays:
            self.flush_ticks()  # the ticks published before the bar reach every viewer before it
        symbol = bar["symbol"]
        msg = {"type": "bar", **bar}
        if bar.get("interval", "1m") == "1m":
            self._last_bars[symbol] = msg
        if self._clients:
            self._fanout(("bar", symbol, bar.get("interval")), _json(msg), symbol)
        if self._pagedata is not None:
            self._pagedata.on_bar(bar)

    def publish_status(self, status: dict[str, Any]) -> None:
        """Fan out the feed status (same fields as ``/health``); updates the phase and connection state."""
        self.phase = status.get("phase", self.phase)
        self.connected = bool(status.get("connected", self.connected))
        if self._clients:
            self._fanout(("status",), _json({"type": "status", **status}), None)

    def publish_signal(self, signal: dict[str, Any]) -> None:
        """Fan out a trading signal (never coalesced; the last 50 are kept for the snapshot)."""
        msg = {"type": "signal", **signal}
        self._signals.append(msg)
        if self._clients:
            self._fanout(None, _json(msg), signal.get("symbol") if isinstance(signal.get("symbol"), str) else None)

    def _fanout(self, key: tuple | None, text: str, symbol: str | None) -> None:
        self.stats.published += 1
        for wanted, members in self._groups().items():
            if symbol is not None and wanted is not None and symbol not in wanted:
                continue
            for client in members:
                if client.dropped:
                    continue
                before = client.behind
                self._settle(client, client.offer(key, text), before)

    def _settle(self, client: _Client, accepted: bool, behind_before: int) -> None:
        """After offering a viewer a message: drop it when refused, count a conflation when it fell further behind."""
        if not accepted:
            self._drop(client)
        elif client.behind != behind_before:
            self.stats.coalesced += 1

    def _groups(self) -> dict[frozenset[str] | None, list[_Client]]:
        """The viewers by subscription (None: every symbol), rebuilt after a viewer comes, goes or (un)subscribes."""
        if self._grouped is None:
            self._grouped = {}
            for client in self._clients:
                self._grouped.setdefault(client.symbols, []).append(client)
        return self._grouped

    def _drop(self, client: _Client) -> None:
        if client.dropped:
            return
        client.dropped = True
        self._clients.discard(client)
        self._grouped = None
        self.stats.dropped_slow += 1
        self.stats.clients = len(self._clients)
        log.warning("hub: dropped a slow viewer %s (backlog above %d messages)", client.ws.remote_address,
                    2 * self._limit)
        client.wake.set()
        transport = client.ws.transport
        if transport is not None:
            transport.abort()

    # ------------------------------------------------------------------------------------------------- serving

    def _authorised(self, request: Request) -> bool:
        if not self._token:
            return True
        query = parse_qs(urlsplit(request.path).query)
        presented = (query.get("token") or [""])[0]
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
        return bool(presented) and hmac.compare_digest(presented.encode(), self._token.encode())

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if not self._authorised(request):
            return connection.respond(401, "a viewer token is required: ?token=... or Authorization: Bearer\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        if path == "/health":
            body = _json(self.health())
            return _with_type(connection.respond(200, body), "application/json")
        if path in ("/", "/index.html"):
            response = _with_type(connection.respond(200, self._page_text()), "text/html; charset=utf-8")
            response.headers["Cache-Control"] = "no-store"
            return response
        return connection.respond(404, "not found: try /, /health or a WebSocket on /ws\n")

    def health(self) -> dict[str, Any]:
        """The ``/health`` document: the feed's health plus the hub's viewer counters."""
        doc = dict(self._health())
        doc["viewers"] = len(self._clients)
        doc["viewers_dropped"] = self.stats.dropped_slow
        return doc

    def _page_text(self) -> str:
        """hub.html with each ``<!--inline:NAME-->`` replaced by the file's content in a ``<style>``/``<script>``
        element: one response carries the whole page, so the viewer token gates it like everything else."""
        if self._page is None:
            static = resources.files("tradesig").joinpath("static")
            page = static.joinpath("hub.html").read_text(encoding="utf-8")
            for name in PAGE_PARTS:
                body = static.joinpath(name).read_text(encoding="utf-8")
                tag = "style" if name.endswith(".css") else "script"
                page = page.replace(f"<!--inline:{name}-->", f"<{tag}>\n{body}\n</{tag}>")
            self._page = page
        return self._page

    def snapshot(self) -> dict[str, Any]:
        """The ``snapshot`` message sent on connect: last tick and 1m bar per symbol, phase, connection, signals;
        with the trader's page data sources also the trading panel (``trade``) and the chain ladders."""
        if self._dirty or self._arrays:
            self.flush_ticks()
        snap = {
            "type": "snapshot", "protocol": PROTOCOL_VERSION, "ts": self._clock.now(),
            "phase": self.phase, "connected": self.connected,
            "ticks": dict(self._last_ticks), "bars": dict(self._last_bars), "signals": list(self._signals),
            "dashboard": self._pagedata is not None,
        }
        if self._pagedata is not None:
            snap.update(self._pagedata.snapshot())
        return snap

    async def _handler(self, ws: ServerConnection) -> None:
        peer = ws.remote_address[0] if ws.remote_address else ""
        client = _Client(ws=ws, loopback=is_loopback_host(str(peer)), limit=self._limit)
        sock = ws.transport.get_extra_info("socket") if ws.transport is not None else None
        if sock is not None and self._send_buffer:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer)
        if self._publish_token:
            query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
            presented = (query.get("publish_token") or [""])[0]
            client.can_publish = bool(presented) and hmac.compare_digest(presented.encode(),
                                                                         self._publish_token.encode())
        client.can_flatten = client.can_publish
        client.can_publish = client.can_publish or client.loopback
        wanted = parse_qs(urlsplit(ws.request.path).query).get("symbols") if ws.request else None
        if wanted:  # ?symbols=NIFTY,BANKNIFTY subscribes from the first message on
            names = frozenset(name for value in wanted for name in value.split(",") if name)
            client.symbols = None if "*" in names else names
        if ws.request and (parse_qs(urlsplit(ws.request.path).query).get("batch") or [""])[0] in ("1", "true"):
            client.batch = True
        client.queue.append(_json({**self.snapshot(), "can_flatten": client.can_flatten}))
        client.wake.set()
        self._clients.add(client)
        self._grouped = None
        self.stats.clients = len(self._clients)
        self.stats.connected_total += 1
        writer = self._spawn(self._writer(client))
        try:
            async for raw in ws:
                self._on_client_message(client, raw)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            self._grouped = None
            self.stats.clients = len(self._clients)
            writer.cancel()

    async def _writer(self, client: _Client) -> None:
        ws = client.ws
        try:
            while not client.dropped:
                client.sending = False  # idle: a tick flush may write this viewer's frames directly
                await client.wake.wait()
                client.wake.clear()
                client.sending = True
                while client.queue and not client.dropped:
                    item = client.queue.popleft()
                    if isinstance(item, dict):  # a conflation slot: its ticks, as one batch or one by one
                        texts = [TICKS_PREFIX + ",".join(item.values()) + "]}"] if client.batch else item.values()
                        for text in texts:
                            await ws.send(text)
                    else:
                        await ws.send(item)
                    client.sent += 1
                    client.behind = 0  # progress: only a viewer that stops draining is dropped
                if client.pending and not client.dropped:
                    latest = list(client.pending.values())
                    client.pending.clear()
                    for text in latest:
                        await ws.send(text)
                        client.sent += 1
                        client.behind = 0
        except ConnectionClosed:
            pass

    def _reply(self, client: _Client, msg: dict[str, Any]) -> None:
        self._send(client, _json(msg))

    def _send(self, client: _Client, text: str) -> None:
        """Queue one unkeyed message for one viewer (dropping it when it is too far behind)."""
        if not client.dropped and not client.offer(None, text):
            self._drop(client)

    def _on_client_message(self, client: _Client, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            kind = msg["type"]
        except (ValueError, TypeError, KeyError):
            self._reply(client, {"type": "error", "message": "expected a JSON object with a 'type'"})
            return
        if kind in ("subscribe", "unsubscribe"):
            symbols = msg.get("symbols")
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                self._reply(client, {"type": "error", "message": f"{kind}: 'symbols' must be a list of strings"})
                return
            if kind == "subscribe":
                if "*" in symbols:
                    client.symbols = None
                else:
                    client.symbols = (client.symbols or frozenset()) | frozenset(symbols)
            else:
                if client.symbols is None:
                    client.symbols = frozenset(self._last_ticks) - frozenset(symbols)
                else:
                    client.symbols -= frozenset(symbols)
            self._grouped = None
            self._reply(client, {"type": "subscribed",
                                 "symbols": None if client.symbols is None else sorted(client.symbols)})
        elif kind == "publish":
            if msg.get("channel") != "signal" or not isinstance(msg.get("data"), dict):
                self._reply(client, {"type": "error", "message": "publish: channel must be 'signal' with 'data'"})
                return
            if not client.can_publish:
                self.stats.rejected_publish += 1
                self._reply(client, {"type": "error", "message": "publish refused: not loopback, no publish token"})
                return
            self.stats.signals_in += 1
            data = dict(msg["data"])
            data.setdefault("received_ts", self._clock.now())
            self.publish_signal(data)
            if self.on_signal is not None:
                self.on_signal(data)
        elif kind == "ping":
            self._reply(client, {"type": "pong", "ts": self._clock.now()})
        elif kind in ("history", "flatten"):
            if self._pagedata is None:
                self._reply(client, {"type": "error", "message": f"{kind}: this hub serves no data home"})
            elif kind == "history":
                self._pagedata.on_history(client, msg)
            else:
                self._pagedata.on_flatten(client, msg)
        else:
            self._reply(client, {"type": "error", "message": f"unknown message type {kind!r}"})

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            if self._clients:
                self._fanout(("heartbeat",), _json({"type": "heartbeat", "ts": self._clock.now()}), None)

"""The sim's ICICI Breeze side: REST and the two socket.io streams on their own loopback port, fed by the same
replay, clock and faults as the Kite side (the exchange calls :meth:`BreezeSide.broadcast` with each replayed
batch and :meth:`BreezeSide.on_fault` with each fault).

One aiohttp application on ``127.0.0.1:<breeze port>`` serves every Breeze host at once (the client's endpoint
constants all point at ``http://127.0.0.1:<port>``, see :mod:`tradesig.broker.breeze`):

* ``/breezeapi/api/v1/…`` (API_URL) — ``customerdetails``, ``historicalcharts``, ``quotes``, ``optionchain``;
* ``/api/v2/historicalcharts`` (BREEZE_NEW_URL);
* ``/MotherAppMaster/SecurityMaster.zip`` (SECURITY_MASTER_URL) — the replayed day's indices and contracts;
* ``/apiuser/login?api_key=…`` — the login page: redirects to the redirect URL with ``apisession``;
* ``/socket.io/`` (LIVE_STREAM_URL) — ``join``/``leave`` tokens, ``stock`` quote ticks;
* ``/ohlcvstream/`` (LIVE_OHLC_STREAM_URL, socketio_path ``ohlcvstream``) — ``join``, ``1MIN`` bars;
* ``/_sim/state`` — the exchange's state (so a feed can follow the replay clock from this port).

Socket.io framing is python-socketio's (``AsyncServer`` on aiohttp), not hand-written. Messages are sent in order
by one sender task. Faults: ``drop`` closes every stream connection (and refuses new ones for ``seconds``),
``stall`` withholds stream messages, ``expire_token`` expires every session and closes the streams, ``rate_limit``
answers REST with 429, ``delay`` holds REST answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tradesig.market import INDICES
from tradesig.sim.breeze import api
from tradesig.sim.breeze.auth import BreezeAuth
from tradesig.sim.breeze.wire import (
    INDEX_CODES,
    MasterRow,
    MinuteBars,
    breeze_date,
    join_tokens,
    ohlc_csv,
    quote_tick,
    security_master_zip,
    stream_token,
)

if TYPE_CHECKING:
    from aiohttp import web

    from tradesig.sim.exchange import SimExchange
    from tradesig.sim.instruments import Instrument

log = logging.getLogger(__name__)

RATE_LIMITED = "Limit exceeded: too many requests (sim fault: rate_limit)"


class BreezeSide:
    """Breeze REST + streams for ``exchange`` (see module doc). ``port`` is bound by :meth:`start`."""

    def __init__(self, exchange: SimExchange) -> None:
        self.ex = exchange
        cfg = exchange.config
        self.auth = BreezeAuth(cfg.api_key, cfg.api_secret, cfg.redirect_url, cfg.open_access)
        self.port = 0
        self.host = "127.0.0.1"
        self.stats = {"stock_sent": 0, "ohlc_sent": 0, "requests": 0}
        self.master_rows = self._master()
        self.fno = {r.token: self.ex.catalog.by_token[int(r.token)] for r in self.master_rows
                    if r.exchange in ("NFO", "BFO")}
        self.bars = MinuteBars()
        self._flushed = False
        self._queue: asyncio.Queue[Callable[[], Awaitable[Any]]] | None = None
        self._runner: Any = None
        self._sender: asyncio.Task | None = None
        self.stream: Any = None
        self.ohlc: Any = None
        self.subs: dict[str, dict[str, set[str]]] = {"stream": {}, "ohlc": {}}  # server -> sid -> tokens

    # ------------------------------------------------------------------------------------------ master

    def _master(self) -> list[MasterRow]:
        rows = []
        for symbol, (exchange, code, token) in INDEX_CODES.items():
            rows.append(MasterRow(exchange, token, code, INDICES[symbol].tradingsymbol))
        for ins in self.ex.catalog.instruments:
            if ins.is_index or ins.underlying not in INDEX_CODES or ins.expiry is None:
                continue
            kind = "FUTIDX" if ins.instrument_type == "FUT" else "OPTIDX"
            rows.append(MasterRow(ins.exchange, str(ins.instrument_token), INDEX_CODES[ins.underlying][1],
                                  ins.tradingsymbol, kind, breeze_date(ins.expiry), ins.strike,
                                  ins.instrument_type if kind == "OPTIDX" else "XX"))
        return rows

    # --------------------------------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind ``host:port`` (0: a free port) and start the sender; returns the bound port. Raises ``OSError``
        when the port cannot be bound (nothing left running)."""
        import socketio
        from aiohttp import web

        app = web.Application()
        self.stream = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        self.ohlc = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        self.stream.attach(app, socketio_path="socket.io")
        self.ohlc.attach(app, socketio_path="ohlcvstream")
        for name, server in (("stream", self.stream), ("ohlc", self.ohlc)):
            self._bind_events(name, server)
        routes = [("GET", "/apiuser/login", self._login), ("GET", "/_sim/state", self._state),
                  ("GET", "/MotherAppMaster/SecurityMaster.zip", self._master_zip),
                  ("GET", "/api/v2/historicalcharts", self._historical_v2)]
        routes += [(m, f"/breezeapi/api/v1/{name}", self._v1) for name in
                   ("customerdetails", "historicalcharts", "quotes", "optionchain") for m in ("GET", "POST")]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._queue = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_loop(), name="sim-breeze-sender")
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # aiohttp exposes no public accessor for it
        log.info("sim: Breeze REST and streams on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        if self._runner is not None:
            for server in (self.stream, self.ohlc):
                with contextlib.suppress(Exception):  # noqa: BLE001 - shutting down; peers may be gone already
                    await asyncio.wait_for(server.shutdown(), 2.0)  # disconnects clients, ends engineio's tasks
            await self._runner.cleanup()
            # engineio leaves each closed socket's ping task asleep for its ping interval: end them with the server
            for task in asyncio.all_tasks():
                if getattr(task.get_coro(), "__qualname__", "") == "AsyncSocket._send_ping":
                    task.cancel()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------------------------------ streams

    def _bind_events(self, name: str, server: Any) -> None:
        import socketio

        subs = self.subs[name]

        async def connect(sid: str, environ: dict, auth: Any = None) -> None:
            if self.ex.faults.active("refuse_ws", self.ex.wall.monotonic()):
                raise socketio.exceptions.ConnectionRefusedError("service unavailable (sim fault: drop)")
            auth = auth if isinstance(auth, dict) else {}
            problem = self.auth.key_problem(str(auth.get("user") or ""), str(auth.get("token") or ""))
            if problem:
                raise socketio.exceptions.ConnectionRefusedError(problem)
            subs[sid] = set()

        async def disconnect(sid: str, *args: Any) -> None:
            # breeze_connect's ws_disconnect emits an event named "disconnect" instead of closing: honour it
            if subs.pop(sid, None) is not None and server.manager.is_connected(sid, "/"):
                await server.disconnect(sid)

        async def join(sid: str, data: Any) -> None:
            if self.ex.clock.held:  # --wait-for-client: a Breeze subscriber starts the replay as a Kite one does
                asyncio.get_running_loop().call_later(0.5, self.ex._release)
            for token in join_tokens(data):
                subs.setdefault(sid, set()).add(token)
                await server.enter_room(sid, token)

        async def leave(sid: str, data: Any) -> None:
            for token in join_tokens(data):
                subs.get(sid, set()).discard(token)
                await server.leave_room(sid, token)

        for event, fn in (("connect", connect), ("disconnect", disconnect), ("join", join), ("leave", leave)):
            server.on(event, fn)

    def _sids(self, server: Any) -> list[str]:
        name = "stream" if server is self.stream else "ohlc"
        return list(self.subs[name])

    def _wanted(self, name: str) -> set[str]:
        return set().union(*self.subs[name].values()) if self.subs[name] else set()

    async def _send_loop(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            try:
                await job()
            except Exception as exc:  # noqa: BLE001 - a peer gone mid-send must not end the stream for others
                log.debug("breeze send failed: %s", exc)

    def _send(self, server: Any, event: str, data: Any, room: str) -> None:
        if self._queue is not None:
            self._queue.put_nowait(lambda: server.emit(event, data, room=room))

    def broadcast(self, batch: list[dict[str, Any]], now: datetime) -> None:
        """Send the replayed ``batch`` (the Kite side's full ticks, index ticks among them): a ``stock`` event per
        index tick to its subscribers, the subscribed futures/options re-quoted at each index tick, a ``1MIN`` bar
        per finished minute. Nothing is sent while a ``stall`` fault holds (bars keep forming)."""
        stalled = self.ex.faults.active("stall", self.ex.wall.monotonic())
        wanted = self._wanted("stream")
        wanted_ohlc = self._wanted("ohlc")
        fno_wanted = [t for t in wanted if t.split("!", 1)[-1] in self.fno]
        for tick in batch:
            ins = self.ex.catalog.by_token.get(int(tick["instrument_token"]))
            if ins is None or not ins.is_index or ins.underlying not in INDEX_CODES:
                continue
            exchange, code, token = INDEX_CODES[ins.underlying]
            ts = tick.get("exchange_timestamp")
            closed = self.bars.add(ins.underlying, int(ts.timestamp()) if ts else int(now.timestamp()),
                                   float(tick["last_price"]))
            if stalled:
                continue
            key = stream_token(exchange, token)
            if key in wanted:
                self._send(self.stream, "stock", quote_tick(key, tick), key)
                self.stats["stock_sent"] += 1
            okey = stream_token(exchange, token, ohlc=True)
            if closed is not None and okey in wanted_ohlc:
                self._send(self.ohlc, "1MIN", ohlc_csv(exchange, code, closed), okey)
                self.stats["ohlc_sent"] += 1
            for sub in fno_wanted:
                self._fno_tick(sub, ins.underlying, ts or now)
        if self.ex.replay.done and not self._flushed:
            self._flushed = True
            for symbol, bar in self.bars.flush().items():
                exchange, code, token = INDEX_CODES[symbol]
                okey = stream_token(exchange, token, ohlc=True)
                if okey in wanted_ohlc and not stalled:
                    self._send(self.ohlc, "1MIN", ohlc_csv(exchange, code, bar), okey)
                    self.stats["ohlc_sent"] += 1

    def _fno_tick(self, sub: str, underlying: str, at: datetime) -> None:
        ins: Instrument = self.fno[sub.split("!", 1)[-1]]
        if ins.underlying != underlying:
            return
        tick = self.ex.market.tick(ins, "full", at)
        if tick is not None:
            self._send(self.stream, "stock", quote_tick(sub, tick, fno=True), sub)
            self.stats["stock_sent"] += 1

    def on_fault(self, kind: str) -> None:
        """The exchange applied fault ``kind``: ``drop`` and ``expire_token`` close every stream connection (the
        sessions expire first for the latter); timed faults are read where they apply."""
        if kind == "expire_token":
            self.auth.expire_all()
        if kind in ("drop", "expire_token"):
            for server in (self.stream, self.ohlc):
                for sid in self._sids(server) if server is not None else []:
                    self.subs["stream" if server is self.stream else "ohlc"].pop(sid, None)
                    if self._queue is not None:
                        self._queue.put_nowait(lambda s=server, i=sid: s.disconnect(i))

    def state(self) -> dict[str, Any]:
        """The ``breeze`` part of the sim's state (no secrets)."""
        return {"url": self.url, "port": self.port, "sessions": len(self.auth.keys),
                "expired_sessions": len(self.auth.expired),
                "stream_connections": len(self.subs["stream"]), "ohlc_connections": len(self.subs["ohlc"]),
                "master_rows": len(self.master_rows), **self.stats}

    # --------------------------------------------------------------------------------------------- REST

    def _json(self, body: dict[str, Any], status: int = 200) -> web.Response:
        from aiohttp import web

        return web.json_response(body, status=status)

    async def _guard(self) -> web.Response | None:
        """The REST faults: ``rate_limit`` (429), ``delay`` (held answer)."""
        self.stats["requests"] += 1
        delay = self.ex.faults.take_delay()
        if delay:
            await asyncio.sleep(delay)
        if self.ex.faults.active("rate_limit", self.ex.wall.monotonic()):
            return self._json(api.failure(429, RATE_LIMITED), 429)
        return None

    async def _login(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if request.query.get("api_key") != self.auth.api_key:
            return self._json(api.failure(500, "Public Key does not exist."), 400)
        raise web.HTTPFound(self.auth.login_redirect())

    async def _state(self, request: web.Request) -> web.Response:
        return self._json({"status": "success", "data": self.ex.state()})

    async def _master_zip(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.Response(body=security_master_zip(self.master_rows), content_type="application/zip")

    async def _v1(self, request: web.Request) -> web.Response:
        refused = await self._guard()
        if refused is not None:
            return refused
        name = request.path.rsplit("/", 1)[-1]
        raw = (await request.read()).decode("utf-8", "replace")
        try:
            params = json.loads(raw or "{}")
            if not isinstance(params, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            return self._json(api.failure(500, f"Invalid JSON body: {exc}"), 400)
        now = self.ex.clock.sync()
        if name == "customerdetails":
            key, problem = self.auth.customer(str(params.get("AppKey") or ""), str(params.get("SessionToken") or ""))
            if problem:
                return self._json(api.failure(500, problem))
            return self._json(api.success(api.customer_details("tradesig sim", key or "")))
        problem = self.auth.signature_problem({k.lower(): v for k, v in request.headers.items()}, raw)
        if problem:
            return self._json(api.failure(500, problem), 401)
        try:
            if name == "historicalcharts":
                return self._json(api.success(api.historical(self.ex, params, now, v2=False)))
            if name == "quotes":
                row = api.quote_row(self.ex, api.resolve(self.ex, params), now)
                return self._json(api.success([row] if row else []))
            return self._json(api.success(api.option_chain(self.ex, params, now)))
        except api.BreezeApiError as exc:
            return self._json(api.failure(exc.status, exc.text))

    async def _historical_v2(self, request: web.Request) -> web.Response:
        refused = await self._guard()
        if refused is not None:
            return refused
        problem = self.auth.session_problem(request.headers.get("X-SessionToken", ""),
                                            request.headers.get("apikey", ""))
        if problem:
            return self._json(api.failure(500, problem), 401)
        try:
            rows = api.historical(self.ex, dict(request.query), self.ex.clock.sync(), v2=True)
        except api.BreezeApiError as exc:
            return self._json(api.failure(exc.status, exc.text))
        return self._json(api.success(rows))


__all__ = ["BreezeSide", "RATE_LIMITED"]

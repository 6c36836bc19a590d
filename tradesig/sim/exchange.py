"""``SimExchange``: a local Kite — REST API, login flow and binary ticker — replaying recorded bars.

In-process use (tests, ``tradesig demo``)::

    from tradesig.sim import SimConfig, SimExchange

    sim = SimExchange(SimConfig(data_files=[path], day=date(2024, 6, 4), speed=600, start=time(15, 0)))
    with sim.run_in_thread() as handle:          # binds 127.0.0.1 on a free port
        kite = KiteConnect(handle.api_key, root=handle.rest_url)
        ticker = KiteTicker(handle.api_key, token, root=handle.ws_url)
        handle.fault({"kind": "drop"})           # same JSON as POST /_sim/fault

or ``await sim.serve(host, port)`` inside an event loop (``await sim.start(...)`` / ``await sim.stop()``).

Authentication: only tokens this sim issued (``GET /connect/login`` → ``request_token`` → ``POST /session/token``
with checksum = sha256(api_key + request_token + api_secret)) and not expired are accepted, unless
``open_access``. Access tokens expire at 06:00 IST the next day by the wall clock (as Kite's), or at once by the
``expire_token`` fault. Control endpoint (no Kite auth; loopback only): ``GET /_sim/state``,
``POST /_sim/fault`` (JSON, see :meth:`SimExchange.apply_fault`), ``DELETE /_sim/fault`` (clear all).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tradesig.clock import IST, Clock, SystemClock, parse_datetime_ist
from tradesig.errors import DataError, redact
from tradesig.feed import kite_protocol as kp
from tradesig.market import INDICES
from tradesig.sim.chain import ChainSnapshots, default_chain_files
from tradesig.sim.data import MarketData, load_bars, synthetic_data
from tradesig.sim.instruments import Catalog, build_catalog, read_dump, synthetic_catalog
from tradesig.sim.market import INTERVAL_MINUTES, MarketState
from tradesig.sim.orders import OrderBook, OrderError
from tradesig.sim.paths import DEFAULT_TICKS_PER_BAR
from tradesig.sim.replay import ReplayClock, build_schedule
from tradesig.sim.server import HttpRequest, HttpResponse, Server, WsConnection

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "tradesig-sim"
DEFAULT_API_SECRET = "tradesig-sim-secret"
DEFAULT_REDIRECT_URL = "http://127.0.0.1:5005/callback"
USER_ID = "SIM001"
#: Kite's per-second limits by endpoint class (requests per second); DESIGN.md "Market facts"
RATE_LIMITS = {"quote": 1, "historical": 3, "orders": 10, "other": 10}
REQUEST_TOKEN_TTL = timedelta(minutes=10)
MAX_CONNECTIONS_PER_KEY = 3
FAULT_KINDS = ("drop", "stall", "expire_token", "rate_limit", "delay", "reject_next_order", "timeout_next_order",
               "clear")


def default_instruments_dump() -> Path | None:
    """The real Kite NFO/BFO dump in ``../shared/data/kite`` beside the repository (or $TRADESIG_SHARED_DATA)."""
    import os

    roots = [os.environ.get("TRADESIG_SHARED_DATA"), str(Path(__file__).resolve().parents[3] / "shared" / "data")]
    for root in roots:
        if root:
            p = Path(root) / "kite" / "kite_instruments_NFO_BFO_2026-08-18.csv.gz"
            if p.exists():
                return p
    return None


@dataclass
class SimConfig:
    """Everything a sim session needs. Defaults match ``tradesig sim serve --help``.

    ``day``: IST date to replay (None: the last date in the data, or the next weekday for synthetic data);
    ``start``: IST time the replay begins (None: the first bar); ``speed``: sim seconds per wall second;
    ``latency_ms`` of order processing in sim time; ``capital`` rupees; ``rate``/``iv`` annualised decimals for
    the futures/options model; ``chain_files``: real option-chain snapshots (None: the NIFTY snapshots in
    ../shared/data/options when present; used only for a day they hold); ``freeze`` index key → freeze
    quantity (units); ``faults``: fault specs applied
    at start (with ``at`` = "HH:MM[:SS]" IST sim time: scheduled); ``wait_for_client``: sim time stands still
    until the first ticker client sets a mode (or 1 s after its first subscription), so that it sees the
    replay from its first tick.
    """

    data_files: list[Path] = field(default_factory=list)
    day: date | None = None
    speed: float = 1.0
    start: time | None = None
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    redirect_url: str = DEFAULT_REDIRECT_URL
    open_access: bool = False
    instruments_dump: Path | None = None
    chain_files: list[Path] | None = None
    ticks_per_bar: int = DEFAULT_TICKS_PER_BAR
    seed: int = 0
    rate: float = 0.065
    iv: float = 0.15
    freeze: dict[str, int] = field(default_factory=lambda: {k: v.freeze_quantity for k, v in INDICES.items()})
    capital: float = 1_000_000.0
    latency_ms: int = 200
    rate_limits: bool = True
    heartbeat_seconds: float = 1.0
    wait_for_client: bool = False
    faults: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.speed <= 1000:
            raise DataError(f"speed {self.speed} is out of range", "use --speed between 1 and 1000")


def _json(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps({"status": "success", "data": data}).encode())


def _error(status: int, message: str, error_type: str) -> HttpResponse:
    return HttpResponse(status, json.dumps({"status": "error", "message": message, "data": None,
                                            "error_type": error_type}).encode())


@dataclass
class _Conn:
    ws: WsConnection
    token: str
    subs: dict[int, str] = field(default_factory=dict)
    last_sent: float = 0.0


class SimExchange:
    """The sim exchange (see module doc). Construct, then :meth:`serve`, :meth:`start` or :meth:`run_in_thread`.

    Raises :class:`DataError` at construction for unreadable data or a day the data does not hold.
    """

    def __init__(self, config: SimConfig, wall: Clock | None = None) -> None:
        self.config = config
        self.wall = wall or SystemClock()
        if config.data_files:
            self.data: MarketData = load_bars([Path(p) for p in config.data_files])
            days = self.data.dates()
            if not days:
                raise DataError("the data files hold no bars")
            self.day = config.day or days[-1]
            if self.day not in days:
                raise DataError(f"the data holds no bars on {self.day}",
                                f"dates available: {days[0]} .. {days[-1]} ({len(days)} sessions)")
        else:
            self.day = config.day or _next_weekday(self.wall.now().astimezone(IST).date())
            self.data = synthetic_data(self.day, seed=config.seed or 7)
        self.synthetic = self.data.synthetic
        first_bar = min(int(s.ts[s.day_slice(self.day)][0]) for s in self.data.series.values()
                        if s.day_slice(self.day).stop > s.day_slice(self.day).start)
        start_dt = datetime.combine(self.day, config.start, IST) if config.start else \
            datetime.fromtimestamp(first_bar, IST)
        self.schedule = build_schedule(self.data, self.day, start=config.start, ticks_per_bar=config.ticks_per_bar,
                                       seed=config.seed)
        spots = {}
        for series in self.data.series.values():
            sl = series.day_slice(self.day)
            if sl.stop > sl.start:
                spots[series.symbol] = float(series.open[sl.start]) / 100
        dump = config.instruments_dump or default_instruments_dump()
        rows = read_dump(dump) if dump else []
        if rows:
            self.catalog: Catalog = build_catalog(rows, self.day, spots)
            self.instruments_source = str(dump)
        else:
            log.warning("sim: no Kite instruments dump found; derivatives are a SYNTHETIC instrument master")
            self.catalog = synthetic_catalog(self.day, spots)
            self.instruments_source = "synthetic (no Kite instruments dump found)"
        chain_files = default_chain_files() if config.chain_files is None else list(config.chain_files)
        self.chain = None if self.synthetic else ChainSnapshots.load(chain_files, self.day)
        self.market = MarketState(self.data, self.catalog, self.day, rate=config.rate, iv=config.iv,
                                  seed=config.seed, chain=self.chain)
        self.market.seed_before(int(start_dt.timestamp()))
        self.clock = ReplayClock(start_dt, config.speed, self.wall)
        self.orders = OrderBook(self.catalog, self.market, freeze=dict(config.freeze), capital=config.capital,
                                latency=timedelta(milliseconds=config.latency_ms), user_id=USER_ID,
                                api_secret=config.api_secret, day_prefix=self.day.strftime("%y%m%d"))
        self._request_tokens: dict[str, datetime] = {}
        self._access_tokens: dict[str, datetime] = {}  # token -> expiry (wall, UTC)
        self._expired: set[str] = set()
        self._seen_tokens: set[str] = set()
        self._conns: list[_Conn] = []
        self._rate: dict[tuple[str, str], deque[float]] = {}
        self._faults: dict[str, Any] = {}
        self._scheduled: list[dict[str, Any]] = []
        self._pos = 0
        self.session_over: asyncio.Event | None = None  # created on the loop in start()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._server: Server | None = None
        self.port = 0
        self.host = "127.0.0.1"
        self.stats = {"ticks_sent": 0, "frames_sent": 0, "postbacks_sent": 0, "requests": 0}
        for spec in config.faults:
            self._validate_fault(spec)

    # ----------------------------------------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind and start the replay; returns the bound port."""
        self.session_over = asyncio.Event()
        self._wake = asyncio.Event()
        self._server = Server(self)
        self.host = host
        self.port = await self._server.start(host, port)
        self.clock.restart()
        if self.config.wait_for_client:
            self.clock.hold()
        for spec in self.config.faults:
            self.apply_fault(spec)
        self._tasks = [asyncio.create_task(self._drive(), name="sim-replay"),
                       asyncio.create_task(self._heartbeats(), name="sim-heartbeat")]
        log.info("sim listening on %s:%s (day %s, speed %sx%s)", host, self.port, self.day, self.config.speed,
                 ", synthetic data" if self.synthetic else "")
        return self.port

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        for c in list(self._conns):
            c.ws.abort()
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def serve(self, host: str = "127.0.0.1", port: int = 0, linger: float | None = 30.0,
                    stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set, or the replayed session ended ``linger`` wall seconds ago (None: never)."""
        await self.start(host, port)
        stop = stop or asyncio.Event()
        try:
            waiters = [asyncio.create_task(stop.wait())]
            if linger is not None:
                async def over() -> None:
                    await self.session_over.wait()
                    await asyncio.sleep(linger)

                waiters.append(asyncio.create_task(over()))
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for p in pending:
                p.cancel()
        finally:
            await self.stop()

    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> SimHandle:
        """Start the sim on its own event loop in a daemon thread; returns a started :class:`SimHandle`."""
        handle = SimHandle(self)
        handle.start(host, port)
        return handle

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # ------------------------------------------------------------------------------------------------ replay

    async def _drive(self) -> None:
        sched = self.schedule
        while True:
            now = self.clock.sync()
            now_e = now.timestamp()
            self._run_scheduled_faults(now)
            batch: list[dict[str, Any]] = []
            touched: set[int] = set()
            while self._pos < len(sched) and sched.ts[self._pos] <= now_e:
                token, ts, price = int(sched.token[self._pos]), int(sched.ts[self._pos]), int(sched.price[self._pos])
                self.market.apply_tick(token, ts, price)
                ins = self.catalog.by_token.get(token)
                if ins is not None:
                    tick = self.market.tick(ins, "full", datetime.fromtimestamp(ts, UTC))
                    if tick is not None:
                        batch.append(tick)
                touched.add(token)
                self._pos += 1
            postbacks = self.orders.step(now)
            if batch or postbacks:
                self._broadcast(batch, touched, postbacks, now)
            if self._pos >= len(sched) and not self.session_over.is_set():
                log.info("sim: replayed session of %s ended at %s IST", self.day, now.astimezone(IST).time())
                self.session_over.set()
            nxt: list[datetime] = []
            if self._pos < len(sched):
                nxt.append(datetime.fromtimestamp(int(sched.ts[self._pos]), UTC))
            due = self.orders.next_due()
            if due is not None:
                nxt.append(due)
            if self.orders.has_open():
                nxt.append(now + timedelta(seconds=1))
            for spec in self._scheduled:
                nxt.append(spec["_at"])
            delay = min([self.clock.wall_delay(t) for t in nxt] + [0.5])
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that races its timeout
            # (CPython gh-86296), which would keep this loop alive after stop().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0005)):
                    await self._wake.wait()

    def _stalled(self) -> bool:
        until = self._faults.get("stall_until")
        return until is not None and self.wall.monotonic() < until

    def _broadcast(self, batch: list[dict[str, Any]], touched: set[int], postbacks: list[dict[str, Any]],
                   now: datetime) -> None:
        if self._stalled():
            return
        texts = [kp.encode_order_postback(p) for p in postbacks]
        for conn in list(self._conns):
            ticks = []
            for t in batch:
                mode = conn.subs.get(t["instrument_token"])
                if mode is not None:
                    ticks.append(_in_mode(t, mode))
            for token, mode in conn.subs.items():
                ins = self.catalog.by_token.get(token)
                if ins is None or ins.is_index:
                    continue
                if self.market.underlying_token.get(ins.underlying) in touched:
                    tick = self.market.tick(ins, mode, now)
                    if tick is not None:
                        ticks.append(tick)
            if ticks:
                self._send_binary(conn, kp.encode_frame(ticks))
                self.stats["ticks_sent"] += len(ticks)
            for text in texts:
                if conn.ws.send_text(text):
                    self.stats["postbacks_sent"] += 1
                    conn.last_sent = self.wall.monotonic()

    def _send_binary(self, conn: _Conn, frame: bytes) -> None:
        if conn.ws.send_binary(frame):
            conn.last_sent = self.wall.monotonic()
            self.stats["frames_sent"] += 1

    async def _heartbeats(self) -> None:
        period = self.config.heartbeat_seconds
        while True:
            await asyncio.sleep(min(0.25, period / 4))
            if self._stalled():
                continue
            mono = self.wall.monotonic()
            for conn in list(self._conns):
                if mono - conn.last_sent >= period:
                    self._send_binary(conn, kp.HEARTBEAT)

    # --------------------------------------------------------------------------------------------- websocket

    def authorize_ws(self, request: HttpRequest) -> tuple[int, str] | None:
        q = request.query
        api_key = (q.get("api_key") or [""])[0]
        token = (q.get("access_token") or [""])[0]
        refuse_until = self._faults.get("refuse_ws_until")
        if refuse_until is not None and self.wall.monotonic() < refuse_until:
            return 503, "service unavailable (sim fault: drop)"
        problem = self._token_problem(api_key, token)
        if problem:
            return 403, problem
        if sum(1 for c in self._conns if not c.ws.closed) >= MAX_CONNECTIONS_PER_KEY:
            return 429, f"at most {MAX_CONNECTIONS_PER_KEY} ticker connections per api_key"
        return None

    async def ws_opened(self, ws: WsConnection) -> None:
        token = (ws.query.get("access_token") or [""])[0]
        self._conns.append(_Conn(ws, token, last_sent=self.wall.monotonic()))

    async def ws_closed(self, ws: WsConnection) -> None:
        self._conns = [c for c in self._conns if c.ws is not ws]

    async def ws_message(self, ws: WsConnection, data: str | bytes) -> None:
        conn = next((c for c in self._conns if c.ws is ws), None)
        if conn is None:
            return
        msg = kp.decode_control(data)
        if isinstance(msg, kp.InvalidControl):
            ws.send_text(kp.encode_error(msg.reason))
            return
        now = self.clock.sync()
        if isinstance(msg, kp.Subscribe):
            new = [t for t in dict.fromkeys(msg.tokens) if t not in conn.subs]
            if len(conn.subs) + len(new) > kp.MAX_INSTRUMENTS:
                ws.send_text(kp.encode_error(f"subscription limit of {kp.MAX_INSTRUMENTS} instruments "
                                             "per connection exceeded"))
                return
            for t in new:
                conn.subs[t] = kp.SUBSCRIBE_DEFAULT_MODE
            self._snapshot(conn, new, now)
            if self.clock.held and new:
                # a client usually sets its mode right after subscribing: start on that, or in 1 s
                asyncio.get_running_loop().call_later(1.0, self._release)
        elif isinstance(msg, kp.Unsubscribe):
            for t in msg.tokens:
                conn.subs.pop(t, None)
        else:  # SetMode
            changed = [t for t in msg.tokens if t in conn.subs]
            for t in changed:
                conn.subs[t] = msg.mode
            self._snapshot(conn, changed, now)
            if changed:
                self._release()

    def _release(self) -> None:
        if self.clock.held:
            self.clock.release()
            log.info("sim: first ticker client subscribed; replay starts")
            if self._wake is not None:
                self._wake.set()

    def _snapshot(self, conn: _Conn, tokens: list[int], now: datetime) -> None:
        """Send the current state of newly subscribed tokens at once, as Kite does."""
        if self._stalled():
            return
        ticks = []
        for t in tokens:
            ins = self.catalog.by_token.get(t)
            if ins is None:
                continue
            when = now
            if ins.is_index:
                st = self.market.index.get(t)
                if st is None or not st.ts:
                    continue
                when = datetime.fromtimestamp(st.ts, UTC)
            tick = self.market.tick(ins, conn.subs[t], when)
            if tick is not None:
                ticks.append(tick)
        if ticks:
            self._send_binary(conn, kp.encode_frame(ticks))

    # ------------------------------------------------------------------------------------------------ faults

    def _validate_fault(self, spec: dict[str, Any]) -> None:
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise DataError(f"unknown fault kind {kind!r}", f"kinds: {', '.join(FAULT_KINDS)}")
        for k in ("seconds", "count"):
            if k in spec and not isinstance(spec[k], (int, float)):
                raise DataError(f"fault {kind}: {k} must be a number")
        if "at" in spec:
            try:
                time.fromisoformat(str(spec["at"]))
            except ValueError:
                raise DataError(f"fault {kind}: at={spec['at']!r} is not HH:MM[:SS]") from None

    def apply_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Apply (or, with ``at`` = "HH:MM[:SS]" IST sim time, schedule) a fault; returns the active faults.

        Kinds: ``drop`` (abort every ticker connection now; ``seconds``: refuse new ones that long, 503),
        ``stall`` (``seconds``, default 30: no ticks, heartbeats or postbacks, connections kept open),
        ``expire_token`` (every token issued or seen so far answers 403 TokenException; ticker connections are
        closed), ``rate_limit`` (``seconds``, default 10: every REST call answers 429), ``delay`` (``seconds``
        per response, default 2, for ``count`` responses, default 1), ``reject_next_order`` (``message``: the
        next order is accepted, then REJECTED), ``timeout_next_order`` (``seconds``, default 30: the next
        order is placed but its response is held that long — past the client's timeout), ``clear``.
        Raises :class:`DataError` for an unknown kind or a malformed field. Wall-clock durations.
        """
        self._validate_fault(spec)
        kind = spec["kind"]
        if "at" in spec:
            at = datetime.combine(self.day, time.fromisoformat(str(spec["at"])), IST)
            self._scheduled.append({**{k: v for k, v in spec.items() if k != "at"}, "_at": at})
            if self._wake is not None:
                self._wake.set()
            return self.active_faults()
        mono = self.wall.monotonic()
        seconds = float(spec.get("seconds", 0) or 0)
        log.info("sim fault: %s", kind)
        if kind == "clear":
            self._faults.clear()
            self._scheduled.clear()
            self.orders.reject_next = None
        elif kind == "drop":
            for c in list(self._conns):
                c.ws.abort()
            self._conns.clear()
            if seconds:
                self._faults["refuse_ws_until"] = mono + seconds
        elif kind == "stall":
            self._faults["stall_until"] = mono + (seconds or 30.0)
        elif kind == "expire_token":
            self._expired.update(self._access_tokens)
            self._expired.update(self._seen_tokens)
            for c in list(self._conns):
                c.ws.send_text(kp.encode_error("Token expired"))
                c.ws.close(1000, "token expired")
        elif kind == "rate_limit":
            self._faults["rate_limit_until"] = mono + (seconds or 10.0)
        elif kind == "delay":
            self._faults["delay"] = {"seconds": seconds or 2.0, "count": int(spec.get("count", 1))}
        elif kind == "reject_next_order":
            self.orders.reject_next = str(spec.get("message") or "RMS:Rule: order rejected by the sim (fault)")
        elif kind == "timeout_next_order":
            self._faults["timeout_next_order"] = seconds or 30.0
        return self.active_faults()

    def _run_scheduled_faults(self, now: datetime) -> None:
        due = [s for s in self._scheduled if s["_at"] <= now]
        if due:
            self._scheduled = [s for s in self._scheduled if s["_at"] > now]
            for s in due:
                self.apply_fault({k: v for k, v in s.items() if k != "_at"})

    def active_faults(self) -> dict[str, Any]:
        mono = self.wall.monotonic()
        out: dict[str, Any] = {}
        for key in ("stall_until", "rate_limit_until", "refuse_ws_until"):
            if key in self._faults and self._faults[key] > mono:
                out[key.replace("_until", "")] = {"seconds_left": round(self._faults[key] - mono, 3)}
        if self._faults.get("delay"):
            out["delay"] = dict(self._faults["delay"])
        if "timeout_next_order" in self._faults:
            out["timeout_next_order"] = {"seconds": self._faults["timeout_next_order"]}
        if self.orders.reject_next is not None:
            out["reject_next_order"] = {"message": self.orders.reject_next}
        if self._expired:
            out["expired_tokens"] = len(self._expired)
        out["scheduled"] = [{**{k: v for k, v in s.items() if k != "_at"},
                             "at": s["_at"].astimezone(IST).strftime("%H:%M:%S")} for s in self._scheduled]
        return out

    def state(self) -> dict[str, Any]:
        """The sim's state for ``GET /_sim/state`` (no secrets, no tokens)."""
        now = self.clock.sync()
        return {
            "synthetic": self.synthetic,
            "data_sources": self.data.sources,
            "instruments_source": self.instruments_source,
            "date": self.day.isoformat(),
            "sim_time": now.astimezone(IST).isoformat(),
            "speed": self.clock.speed,
            "session_over": bool(self.session_over and self.session_over.is_set()),
            "ticks_replayed": self._pos,
            "ticks_total": len(self.schedule),
            "symbols": self.data.symbols(),
            "api_key": self.config.api_key,
            "open_access": self.config.open_access,
            "connections": [{"subscriptions": len(c.subs)} for c in self._conns],
            "orders": len(self.orders.orders),
            "trades": len(self.orders.trades),
            "access_tokens_issued": len(self._access_tokens),
            "faults": self.active_faults(),
            "stats": dict(self.stats),
            "models": {"futures": f"cost of carry F = S*exp(r*t), r = {self.config.rate} (modelled)",
                       "options": (f"real chain snapshots for {len(self.chain)} contracts "
                                   f"({', '.join(self.chain.sources)}) from their first snapshot on; otherwise "
                                   if self.chain else "")
                       + f"Black-Scholes from spot, flat IV {self.config.iv}, r = {self.config.rate} (modelled)",
                       "volume_oi": "from chain snapshots where present; otherwise 0: the data holds none",
                       "depth": "5 levels one tick apart, 5-40 lots each (sim liquidity model)"},
        }

    # -------------------------------------------------------------------------------------------------- auth

    def _token_problem(self, api_key: str, token: str) -> str | None:
        if token in self._expired:
            return "Token is invalid or has expired."
        if self.config.open_access:
            if token:
                self._seen_tokens.add(token)
                return None
            return "Incorrect `api_key` or `access_token`."
        if api_key != self.config.api_key:
            return "Invalid `api_key`."
        expiry = self._access_tokens.get(token)
        if expiry is None:
            return "Incorrect `api_key` or `access_token`."
        if self.wall.now() >= expiry:
            self._expired.add(token)
            return "Token is invalid or has expired."
        return None

    def _auth(self, req: HttpRequest) -> HttpResponse | None:
        header = req.headers.get("authorization", "")
        if not header.startswith("token ") or ":" not in header:
            return _error(403, "Incorrect `api_key` or `access_token`.", "TokenException")
        api_key, token = header[6:].split(":", 1)
        problem = self._token_problem(api_key.strip(), token.strip())
        if problem:
            return _error(403, problem, "TokenException")
        return None

    def _rate_limited(self, cls: str, key: str) -> bool:
        if not self.config.rate_limits:
            return False
        mono = self.wall.monotonic()
        q = self._rate.setdefault((cls, key), deque())
        while q and mono - q[0] >= 1.0:
            q.popleft()
        if len(q) >= RATE_LIMITS[cls]:
            return True
        q.append(mono)
        return False

    # -------------------------------------------------------------------------------------------------- REST

    async def handle_http(self, req: HttpRequest) -> HttpResponse:
        self.stats["requests"] += 1
        try:
            resp = self._route(req)
        except OrderError as exc:
            resp = _error(exc.status, exc.message, exc.error_type)
        except DataError as exc:
            resp = _error(400, exc.message, "InputException")
        except (ValueError, KeyError, TypeError) as exc:  # malformed parameters or JSON body from the client
            resp = _error(400, f"Invalid input: {exc}", "InputException")
        if self._wake is not None:
            self._wake.set()
        d = self._faults.get("delay")
        if d and not req.path.startswith("/_sim"):
            resp.delay = max(resp.delay, d["seconds"])
            d["count"] -= 1
            if d["count"] <= 0:
                self._faults.pop("delay", None)
        return resp

    def _route(self, req: HttpRequest) -> HttpResponse:
        path = req.path.rstrip("/") or "/"
        m = req.method
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["_sim"]:
            return self._control(req, parts)
        if path == "/connect/login" and m == "GET":
            return self._login(req)
        if path == "/session/token" and m == "POST":
            return self._session_token(req)
        until = self._faults.get("rate_limit_until")
        if until is not None and self.wall.monotonic() < until:
            return _error(429, "Too many requests", "NetworkException")
        if path in ("/instruments",) or (len(parts) == 2 and parts[0] == "instruments" and m == "GET"
                                         and parts[1] != "historical"):
            exchange = parts[1] if len(parts) == 2 else None
            return HttpResponse(200, self.catalog.csv_bytes(exchange), "text/csv")
        denied = self._auth(req)
        if denied is not None:
            return denied
        if req.headers.get("x-kite-version") != "3":
            return _error(400, "Missing or unsupported `X-Kite-Version` header (send 3).", "InputException")
        token = req.headers.get("authorization", "")[6:].split(":", 1)[-1]
        if self._rate_limited(_rate_class(parts, m), token):
            return _error(429, "Too many requests", "NetworkException")
        now = self.clock.sync()
        if path == "/session/token" and m == "DELETE":
            self._expired.add((req.query.get("access_token") or [token])[0])
            return _json(True)
        if path == "/user/profile":
            return _json(self._profile())
        if parts[:2] == ["user", "margins"]:
            margins = self.orders.margins(now)
            return _json(margins[parts[2]] if len(parts) == 3 and parts[2] in margins else margins)
        if parts[:1] == ["quote"] and m == "GET":
            return self._quote(req, parts[1] if len(parts) > 1 else "full", now)
        if parts[:2] == ["instruments", "historical"] and len(parts) == 4:
            return self._historical(req, parts[2], parts[3], now)
        if parts[:1] == ["orders"]:
            return self._orders(req, parts, token, now)
        if path == "/trades":
            return _json(self.orders.trades)
        if path == "/portfolio/positions" and m == "GET":
            return _json(self.orders.position_rows(now))
        if path == "/portfolio/holdings":
            return _json([])
        if path == "/margins/basket" and m == "POST":
            orders = req.json()
            if not isinstance(orders, list):
                return _error(400, "Expected a JSON list of orders.", "InputException")
            return _json(self.orders.basket(orders, now))
        if path == "/margins/orders" and m == "POST":
            orders = req.json()
            if not isinstance(orders, list):
                return _error(400, "Expected a JSON list of orders.", "InputException")
            return _json(self.orders.basket(orders, now)["orders"])
        return _error(404, f"Route not found: {m} {path}", "GeneralException")

    def _profile(self) -> dict[str, Any]:
        name = "tradesig sim (SYNTHETIC data)" if self.synthetic else "tradesig sim"
        return {"user_id": USER_ID, "user_type": "individual", "email": "sim@localhost", "user_name": name,
                "user_shortname": "sim", "broker": "ZERODHA", "exchanges": ["NSE", "NFO", "BSE", "BFO"],
                "products": ["CNC", "NRML", "MIS"], "order_types": ["MARKET", "LIMIT"], "avatar_url": None,
                "meta": {"demat_consent": "physical", "sim": True, "synthetic": self.synthetic}}

    def _login(self, req: HttpRequest) -> HttpResponse:
        api_key = (req.query.get("api_key") or [""])[0]
        if api_key != self.config.api_key and not self.config.open_access:
            return HttpResponse(400, b"Invalid api_key", "text/plain")
        rt = secrets.token_urlsafe(24)
        self._request_tokens[rt] = self.wall.now()
        parts = urlsplit(self.config.redirect_url)
        extra = urlencode({"action": "login", "type": "login", "status": "success", "request_token": rt})
        query = f"{parts.query}&{extra}" if parts.query else extra
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        return HttpResponse(302, b"", "text/plain", [("location", location)])

    def _session_token(self, req: HttpRequest) -> HttpResponse:
        form = req.form()
        api_key = (form.get("api_key") or [""])[0]
        rt = (form.get("request_token") or [""])[0]
        checksum = (form.get("checksum") or [""])[0]
        if api_key != self.config.api_key and not self.config.open_access:
            return _error(403, "Invalid `api_key`.", "TokenException")
        issued = self._request_tokens.pop(rt, None)
        if issued is None or self.wall.now() - issued > REQUEST_TOKEN_TTL:
            return _error(403, "Token is invalid or has expired.", "TokenException")
        want = hashlib.sha256((api_key + rt + self.config.api_secret).encode()).hexdigest()
        if not secrets.compare_digest(want, checksum):
            return _error(403, "Invalid checksum.", "TokenException")
        token = secrets.token_urlsafe(24)
        login = self.wall.now().astimezone(IST)
        expiry = datetime.combine(login.date() + timedelta(days=1), time(6, 0), IST)
        self._access_tokens[token] = expiry
        log.info("sim: session issued (token %s)", redact(token))
        data = {**self._profile(), "api_key": api_key, "access_token": token, "public_token": secrets.token_hex(8),
                "enctoken": "", "refresh_token": "", "silo": "", "login_time": login.strftime("%Y-%m-%d %H:%M:%S")}
        return _json(data)

    def _quote(self, req: HttpRequest, kind: str, now: datetime) -> HttpResponse:
        if kind not in ("full", "ltp", "ohlc"):
            return _error(404, f"Route not found: /quote/{kind}", "GeneralException")
        out = {}
        for ident in req.query.get("i", []):
            ins = self.catalog.lookup(ident)
            if ins is None:
                continue
            q = self.market.quote(ins, now)
            if q is None:
                continue
            if kind == "ltp":
                out[ident] = {"instrument_token": q["instrument_token"], "last_price": q["last_price"]}
            elif kind == "ohlc":
                out[ident] = {"instrument_token": q["instrument_token"], "last_price": q["last_price"],
                              "ohlc": q["ohlc"]}
            else:
                out[ident] = q
        return _json(out)

    def _historical(self, req: HttpRequest, token_text: str, interval: str, now: datetime) -> HttpResponse:
        if not token_text.isdigit() or int(token_text) not in self.catalog.by_token:
            return _error(400, "Invalid token.", "InputException")
        if interval not in INTERVAL_MINUTES:
            return _error(400, f"Invalid interval {interval!r}.", "InputException")
        q = req.query
        try:
            start = parse_datetime_ist((q.get("from") or [""])[0])
            end_text = (q.get("to") or [""])[0]
            end = parse_datetime_ist(end_text)
        except ValueError:
            return _error(400, "Invalid `from` or `to` date (yyyy-mm-dd hh:mm:ss).", "InputException")
        if len(end_text.strip()) == 10:
            end = end + timedelta(days=1) - timedelta(seconds=1)
        if start > end:
            return _error(400, "`from` date is after `to` date.", "InputException")
        oi = (q.get("oi") or ["0"])[0] == "1"
        ins = self.catalog.by_token[int(token_text)]
        return _json({"candles": self.market.candles(ins, interval, start, end, now, with_oi=oi)})

    def _orders(self, req: HttpRequest, parts: list[str], token: str, now: datetime) -> HttpResponse:
        m = req.method
        if len(parts) == 1 and m == "GET":
            return _json(self.orders.order_list())
        if m in ("POST", "PUT", "DELETE"):
            if m == "POST" and len(parts) == 2:
                data = self.orders.place(parts[1], req.form(), now)
                resp = _json(data)
                hold = self._faults.pop("timeout_next_order", None)
                if hold:
                    resp.delay = hold
                self._flush_postbacks(self.orders.step(now), now)
                return resp
            if len(parts) == 3 and m == "PUT":
                pbs = self.orders.modify(parts[1], parts[2], req.form(), now)
                self._flush_postbacks(pbs, now)
                return _json({"order_id": parts[2]})
            if len(parts) == 3 and m == "DELETE":
                pbs = self.orders.cancel(parts[1], parts[2], now)
                self._flush_postbacks(pbs, now)
                return _json({"order_id": parts[2]})
        if len(parts) == 2 and m == "GET":
            return _json(self.orders.order_history(parts[1]))
        if len(parts) == 3 and parts[2] == "trades" and m == "GET":
            return _json(self.orders.order_trades(parts[1]))
        return _error(404, f"Route not found: {m} {req.path}", "GeneralException")

    def _flush_postbacks(self, postbacks: list[dict[str, Any]], now: datetime) -> None:
        if postbacks:
            self._broadcast([], set(), postbacks, now)

    def _control(self, req: HttpRequest, parts: list[str]) -> HttpResponse:
        if parts == ["_sim", "state"] and req.method == "GET":
            return _json(self.state())
        if parts == ["_sim", "fault"] and req.method == "POST":
            try:
                spec = req.json()
            except ValueError:
                return _error(400, "Body must be a JSON object with a `kind`.", "InputException")
            if not isinstance(spec, dict):
                return _error(400, "Body must be a JSON object with a `kind`.", "InputException")
            return _json(self.apply_fault(spec))
        if parts == ["_sim", "fault"] and req.method == "DELETE":
            return _json(self.apply_fault({"kind": "clear"}))
        return _error(404, "Route not found", "GeneralException")


def _rate_class(parts: list[str], method: str) -> str:
    """Kite's rate-limit class of a REST call: quote, historical, orders (place/modify/cancel) or other."""
    if parts[:1] == ["quote"]:
        return "quote"
    if parts[:2] == ["instruments", "historical"]:
        return "historical"
    if parts[:1] == ["orders"] and method in ("POST", "PUT", "DELETE"):
        return "orders"
    return "other"


def _in_mode(full_tick: dict[str, Any], mode: str) -> dict[str, Any]:
    """The same tick as the packet of another mode carries it."""
    if mode == "full":
        return full_tick
    base = {k: full_tick[k] for k in ("tradable", "instrument_token", "last_price")}
    base["mode"] = mode
    if mode == "ltp":
        return base
    base.update({k: full_tick[k] for k in ("ohlc", "change") if k in full_tick})
    return base


def _next_weekday(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


class SimHandle:
    """A sim running on its own event loop in a daemon thread (context manager; ``stop()`` ends it).

    ``port``, ``rest_url`` (for ``KiteConnect(root=...)``), ``ws_url`` (for ``KiteTicker(root=...)``),
    ``api_key``/``api_secret``; ``fault(spec)`` and ``state()`` run on the sim's loop and return its answer.
    """

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="tradesig-sim", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._host = "127.0.0.1"
        self._port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.exchange.start(self._host, self._port))
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.exchange.stop())
        self.loop.close()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SimHandle:
        self._host, self._port = host, port
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the sim's loop and return its result."""
        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.call(self.exchange.apply_fault, spec)

    def state(self) -> dict[str, Any]:
        return self.call(self.exchange.state)

    def wait_session_over(self, timeout: float | None = None) -> bool:
        fut = asyncio.run_coroutine_threadsafe(self.exchange.session_over.wait(), self.loop)
        try:
            fut.result(timeout=timeout)
            return True
        except TimeoutError:
            fut.cancel()
            return False

    @property
    def port(self) -> int:
        return self.exchange.port

    @property
    def rest_url(self) -> str:
        return self.exchange.rest_url

    @property
    def ws_url(self) -> str:
        return self.exchange.ws_url

    @property
    def api_key(self) -> str:
        return self.exchange.config.api_key

    @property
    def api_secret(self) -> str:
        return self.exchange.config.api_secret

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_fault_spec(text: str) -> dict[str, Any]:
    """``"KIND[,key=value...]"`` (the CLI's ``--fault``) → the JSON spec of ``POST /_sim/fault``.

    Example: ``"stall,at=10:30,seconds=20"`` → ``{"kind": "stall", "at": "10:30", "seconds": 20.0}``. Numbers
    become floats (``count`` an int). Raises :class:`DataError` for an empty kind or a part without ``=``.
    """
    kind, *rest = [p.strip() for p in text.split(",")]
    if not kind:
        raise DataError(f"fault {text!r} has no kind", f"kinds: {', '.join(FAULT_KINDS)}")
    spec: dict[str, Any] = {"kind": kind}
    for part in rest:
        if "=" not in part:
            raise DataError(f"fault {text!r}: {part!r} is not key=value", "e.g. stall,at=10:30,seconds=20")
        key, value = (x.strip() for x in part.split("=", 1))
        if key in ("seconds",):
            try:
                spec[key] = float(value)
            except ValueError:
                raise DataError(f"fault {text!r}: {key} must be a number") from None
        elif key == "count":
            try:
                spec[key] = int(value)
            except ValueError:
                raise DataError(f"fault {text!r}: count must be an integer") from None
        else:
            spec[key] = value
    return spec


def serve_until_signalled(exchange: SimExchange, host: str = "127.0.0.1", port: int = 0,
                          linger: float | None = 30.0, announce: Any = None) -> None:
    """Run ``exchange`` on a new event loop until SIGTERM/SIGINT, or ``linger`` wall seconds after the replayed
    session ended (None: until signalled). ``announce(exchange)`` is called once the port is bound."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(exchange.serve(host, port, linger=linger, stop=stop))
        while not exchange.port and not task.done():
            await asyncio.sleep(0.01)
        if announce is not None and exchange.port:
            announce(exchange)
        await task

    asyncio.run(main())


def serve_from_options(settings: Any, *, data_files: list[Path], day: date | None, speed: float, start: time | None,
                       port: int, redirect_url: str | None, api_key: str, api_secret: str, open_access: bool,
                       instruments: Path | None, chain: list[Path] | None, faults: list[str],
                       linger: float | None, rate_limits: bool,
                       wait_for_client: bool, seed: int, ticks_per_bar: int, capital: float,
                       announce: Any = None) -> None:
    """``tradesig sim serve``: build a :class:`SimConfig` from the settings (``backtest.rate``/``iv``,
    ``instruments[*].freeze_quantity``, ``paper.latency_ms``, ``kite.redirect_url``) and the options, then serve on
    127.0.0.1 until signalled or ``linger`` seconds after the session. Raises :class:`DataError` for bad data or
    options (before binding)."""
    config = SimConfig(
        data_files=list(data_files), day=day, speed=speed, start=start, api_key=api_key, api_secret=api_secret,
        redirect_url=redirect_url or settings.kite.redirect_url, open_access=open_access,
        instruments_dump=instruments, chain_files=chain, ticks_per_bar=ticks_per_bar, seed=seed,
        rate=settings.backtest.rate,
        iv=settings.backtest.iv, capital=capital, latency_ms=settings.paper.latency_ms, rate_limits=rate_limits,
        wait_for_client=wait_for_client,
        freeze={k: v.freeze_quantity for k, v in settings.instruments.items()} or SimConfig().freeze,
        faults=[parse_fault_spec(f) for f in faults])
    serve_until_signalled(SimExchange(config), "127.0.0.1", port, linger=linger, announce=announce)

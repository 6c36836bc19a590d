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

The exchange holds its parts, one job each: the replay (:mod:`tradesig.sim.replay`), the market model
(:mod:`tradesig.sim.market`), the REST route table (:mod:`tradesig.sim.rest`), the ticker connections
(:mod:`tradesig.sim.ticker`), auth (:mod:`tradesig.sim.auth`), rate limits (:mod:`tradesig.sim.ratelimit`),
fault state (:mod:`tradesig.sim.faults`) and the order book (:mod:`tradesig.sim.orders`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from tradesig.clock import IST, Clock, SystemClock
from tradesig.errors import DataError
from tradesig.feed import kite_protocol as kp
from tradesig.market import INDICES, freeze_quantity
from tradesig.sim import rest
from tradesig.sim.auth import REQUEST_TOKEN_TTL, SimAuth
from tradesig.sim.chain import ChainSnapshots, default_chain_files
from tradesig.sim.data import MarketData, load_bars, synthetic_data
from tradesig.sim.faults import FAULT_KINDS, FaultState, parse_fault_spec, validate_fault
from tradesig.sim.handle import SimHandle
from tradesig.sim.instruments import Catalog, build_catalog, dated_catalog, dump_applies, dump_year, read_dump
from tradesig.sim.market import MarketState
from tradesig.sim.orders import OrderBook, OrderError
from tradesig.sim.paths import DEFAULT_TICKS_PER_BAR
from tradesig.sim.ratelimit import RATE_LIMITS, RateLimiter
from tradesig.sim.replay import Replay, ReplayClock, build_schedule
from tradesig.sim.server import HttpRequest, HttpResponse, Server, WsConnection
from tradesig.sim.ticker import MAX_CONNECTIONS_PER_KEY, TickerHub
from tradesig.volatility import build_iv_model

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "tradesig-sim"
DEFAULT_API_SECRET = "tradesig-sim-secret"
DEFAULT_REDIRECT_URL = "http://127.0.0.1:5005/callback"
USER_ID = "SIM001"
#: how long (wall seconds) the sim waits, once its session is over, for slow ticker clients to read their backlog
BACKLOG_WAIT_SECONDS = 300.0
#: pacing: the replay's clock stops while a ticker client has more than PACE_HOLD_BYTES unread (kernel buffers
#: aside) and runs again below PACE_RESUME_BYTES; a client that has not read for PACE_GIVE_UP_SECONDS is not
#: waited for
PACE_HOLD_BYTES = 256 * 1024
PACE_RESUME_BYTES = 64 * 1024
PACE_GIVE_UP_SECONDS = 30.0


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
    the futures/options model (``iv``: the flat fallback of the IV model); ``iv_file``: a daily IV series
    (e.g. India VIX closes) for :func:`tradesig.volatility.build_iv_model`, which otherwise estimates IV from the
    index's daily closes before the replayed date in the data; ``chain_files``: real option-chain snapshots
    (None: the NIFTY snapshots in ../shared/data/options when present; used only for a day they hold);
    ``instruments_dump``: a Kite
    dump, used only for a replay in the year it was taken (otherwise the day's contracts come from the dated rules,
    :func:`tradesig.sim.instruments.dated_catalog`); ``freeze`` index key → freeze quantity (units), overriding
    ``tradesig.market.freeze_quantity(symbol, day)``; ``faults``: fault specs applied
    at start (with ``at`` = "HH:MM[:SS]" IST sim time: scheduled); ``wait_for_client``: sim time stands still
    until the first ticker client sets a mode (or 1 s after its first subscription), so that it sees the
    replay from its first tick; ``pace_clients``: the replay's clock waits for a ticker client that trails it
    (``speed`` is then a ceiling; ``stats.paced`` counts the waits); ``breeze_port``: also serve ICICI Breeze's
    REST and socket.io streams on this loopback port (0: a free one; None: no Breeze side), :mod:`tradesig.sim.breeze`;
    ``speed_changes``: ``(IST sim time, speed)`` pairs, in order of time: from that sim time on the replay runs at
    that speed (a test or a demo hurries through hours it only has to pass, then watches a moment at ``speed``).
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
    iv_file: Path | None = None
    freeze: dict[str, int] = field(default_factory=dict)
    capital: float = 1_000_000.0
    latency_ms: int = 200
    rate_limits: bool = True
    heartbeat_seconds: float = 1.0
    wait_for_client: bool = False
    pace_clients: bool = True
    faults: list[dict[str, Any]] = field(default_factory=list)
    breeze_port: int | None = None
    speed_changes: list[tuple[time, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for speed in [self.speed] + [s for _, s in self.speed_changes]:
            if not 0 < speed <= 1000:
                raise DataError(f"speed {speed} is out of range", "use --speed between 1 and 1000")
        times = [t for t, _ in self.speed_changes]
        if times != sorted(set(times)):
            raise DataError("speed changes are not in order of time", "give each sim time once, earliest first")


class SimExchange:
    """The sim exchange (see module doc). Construct, then :meth:`serve`, :meth:`start` or :meth:`run_in_thread`.

    Raises :class:`DataError` at construction for unreadable data, a day the data does not hold, or a bad fault.
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
        if dump_applies(rows, self.day):
            self.catalog: Catalog = build_catalog(rows, self.day, spots)
            self.instruments_source = str(dump)
        else:
            if rows:
                log.info("sim: the instruments dump %s is of %s, not %s: listing %s's contracts by the dated rules",
                         dump, dump_year(rows), self.day.year, self.day)
            self.catalog = dated_catalog(self.day, spots)
            self.instruments_source = (f"synthetic tokens; the contracts listed on {self.day} by the dated rules "
                                       "(expiries: market calendar; lots: tradesig.market.lot_size)")
        chain_files = default_chain_files() if config.chain_files is None else list(config.chain_files)
        self.chain = None if self.synthetic else ChainSnapshots.load(chain_files, self.day)
        iv_models = {series.symbol: build_iv_model(series.symbol, daily_closes=series.daily_closes(self.day),
                                                   iv_file=config.iv_file, fallback=config.iv)
                     for series in self.data.series.values() if series.symbol in INDICES}
        self.market = MarketState(self.data, self.catalog, self.day, rate=config.rate, iv=config.iv,
                                  seed=config.seed, chain=self.chain, iv_models=iv_models)
        self.market.seed_before(int(start_dt.timestamp()))
        self.clock = ReplayClock(start_dt, config.speed, self.wall)
        self._speed_changes = [(datetime.combine(self.day, t, IST), float(v)) for t, v in config.speed_changes]
        freeze = {k: freeze_quantity(k, self.day) for k in INDICES} | dict(config.freeze)
        self.orders = OrderBook(self.catalog, self.market, freeze=freeze, capital=config.capital,
                                latency=timedelta(milliseconds=config.latency_ms), user_id=USER_ID,
                                api_secret=config.api_secret, day_prefix=self.day.strftime("%y%m%d"))
        self.stats = {"ticks_sent": 0, "frames_sent": 0, "postbacks_sent": 0, "requests": 0, "paced": 0}
        self.replay = Replay(self.schedule, self.market, self.catalog)
        self.auth = SimAuth(config.api_key, config.api_secret, config.redirect_url, config.open_access, self.wall)
        self.limits = RateLimiter(config.rate_limits)
        self.faults = FaultState(self.day)
        self.ticker = TickerHub(self.catalog, self.market, self.wall, self._stalled, self.stats)
        self.session_over: asyncio.Event | None = None  # created on the loop in start()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._server: Server | None = None
        self.port = 0
        self.host = "127.0.0.1"
        for spec in config.faults:
            validate_fault(spec)
        self.breeze = None
        if config.breeze_port is not None:
            from tradesig.sim.breeze.server import BreezeSide

            self.breeze = BreezeSide(self)

    # ----------------------------------------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind and start the replay; returns the bound port."""
        self.session_over = asyncio.Event()
        self._wake = asyncio.Event()
        self._server = Server(self)
        self.host = host
        bound = await self._server.start(host, port)
        if self.breeze is not None:
            try:
                await self.breeze.start(host, self.config.breeze_port or 0)
            except OSError as exc:  # a busy Breeze port must not cost the Kite side: a free one is printed
                if not self.config.breeze_port:
                    raise
                log.warning("sim: Breeze port %s unavailable (%s): serving Breeze on a free port",
                            self.config.breeze_port, exc)
                await self.breeze.start(host, 0)
        self.port = bound  # set last: serve_until_signalled announces the URLs once it is set
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
        for c in list(self.ticker.conns):
            c.ws.abort()
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self.breeze is not None:
            await self.breeze.stop()

    async def serve(self, host: str = "127.0.0.1", port: int = 0, linger: float | None = 30.0,
                    stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set, or ``linger`` wall seconds (None: never) after the replayed session ended
        and every ticker client has read what was sent to it. A client slower than the replay (a loaded machine)
        holds a backlog in the socket: the sim waits for it to be read, up to ``BACKLOG_WAIT_SECONDS``, so that it
        does not close the connection on the session's last ticks."""
        await self.start(host, port)
        stop = stop or asyncio.Event()
        try:
            waiters = [asyncio.create_task(stop.wait())]
            if linger is not None:
                async def over() -> None:
                    await self.session_over.wait()
                    waited = 0.0
                    while self.ticker.unsent_bytes() and waited < BACKLOG_WAIT_SECONDS:
                        await asyncio.sleep(0.1)
                        waited += 0.1
                    if waited:
                        log.info("sim: ticker clients read their backlog in %.1f s after the session", waited)
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

    def _pace(self) -> None:
        """Replay at most ``speed`` ×, as fast as the ticker clients read: a client trailing the replay (a loaded
        machine, a replay faster than its consumer) holds the clock until it has caught up, so what it does
        (orders, quotes) meets the market it has seen, not one minutes ahead."""
        if not self.config.pace_clients:
            return
        trailing = self.ticker.trailing(PACE_HOLD_BYTES, PACE_GIVE_UP_SECONDS)
        if not self.clock.paused and trailing > PACE_HOLD_BYTES:
            self.clock.pause()
            self.stats["paced"] += 1
        elif self.clock.paused and trailing <= PACE_RESUME_BYTES:
            self.clock.resume()

    def _change_speed(self, now: datetime) -> None:
        while self._speed_changes and self._speed_changes[0][0] <= now:
            _, speed = self._speed_changes.pop(0)
            log.info("sim: replaying at %g x from %s IST", speed, now.astimezone(IST).time())
            self.clock.set_speed(speed)

    async def _drive(self) -> None:
        while True:
            self._pace()
            now = self.clock.sync()
            self._change_speed(now)
            for spec in self.faults.due(now):
                self.apply_fault(spec)
            batch, touched = self.replay.advance(now)
            postbacks = self.orders.step(now)
            if batch or postbacks:
                self.ticker.broadcast(batch, touched, postbacks, now)
            if batch and self.breeze is not None:
                self.breeze.broadcast(batch, now)
            if self.replay.done and not self.session_over.is_set():
                log.info("sim: replayed session of %s ended at %s IST", self.day, now.astimezone(IST).time())
                self.session_over.set()
            nxt = [t for t in (self.replay.next_time(), self.orders.next_due()) if t is not None]
            if self.orders.has_open():
                nxt.append(now + timedelta(seconds=1))
            nxt.extend(spec["_at"] for spec in self.faults.scheduled)
            nxt.extend(at for at, _ in self._speed_changes[:1])
            delay = min([self.clock.wall_delay(t) for t in nxt] + [0.5])
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that races its timeout
            # (CPython gh-86296), which would keep this loop alive after stop().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0005)):
                    await self._wake.wait()

    def _stalled(self) -> bool:
        return self.faults.active("stall", self.wall.monotonic())

    def flush_postbacks(self, postbacks: list[dict[str, Any]], now: datetime) -> None:
        """Send order postbacks to every ticker connection now (after a REST order call)."""
        if postbacks:
            self.ticker.broadcast([], set(), postbacks, now)

    async def _heartbeats(self) -> None:
        period = self.config.heartbeat_seconds
        while True:
            await asyncio.sleep(min(0.25, period / 4))
            self.ticker.heartbeat(period)

    # --------------------------------------------------------------------------------------------- websocket

    def authorize_ws(self, request: HttpRequest) -> tuple[int, str] | None:
        q = request.query
        if self.faults.active("refuse_ws", self.wall.monotonic()):
            return 503, "service unavailable (sim fault: drop)"
        problem = self.auth.token_problem((q.get("api_key") or [""])[0], (q.get("access_token") or [""])[0])
        if problem:
            return 403, problem
        return self.ticker.refusal()

    async def ws_opened(self, ws: WsConnection) -> None:
        self.ticker.opened(ws)

    async def ws_closed(self, ws: WsConnection) -> None:
        self.ticker.closed(ws)

    async def ws_message(self, ws: WsConnection, data: str | bytes) -> None:
        conn = self.ticker.find(ws)
        if conn is None:
            return
        msg = kp.decode_control(data)
        if isinstance(msg, kp.InvalidControl):
            ws.send_text(kp.encode_error(msg.reason))
            return
        changed = self.ticker.control(conn, msg, self.clock.sync())
        if isinstance(msg, kp.Subscribe) and self.clock.held and msg.tokens:
            # a client usually sets its mode right after subscribing: start on that, or in 1 s
            asyncio.get_running_loop().call_later(1.0, self._release)
        if changed:
            self._release()

    def _release(self) -> None:
        if self.clock.held:
            self.clock.release()
            log.info("sim: first ticker client subscribed; replay starts")
            if self._wake is not None:
                self._wake.set()

    # ------------------------------------------------------------------------------------------------ faults

    def apply_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Apply (or, with ``at`` = "HH:MM[:SS]" IST sim time, schedule) a fault; returns the active faults.

        Kinds and fields: :mod:`tradesig.sim.faults`. Raises :class:`DataError` for an unknown kind or a malformed
        or negative field. Wall-clock durations.
        """
        validate_fault(spec)
        kind = spec["kind"]
        if "at" in spec:
            self.faults.schedule(spec)
            if self._wake is not None:
                self._wake.set()
            return self.active_faults()
        seconds = float(spec.get("seconds", 0) or 0)
        log.info("sim fault: %s", kind)
        if kind == "clear":
            self.faults.clear()
            self.orders.reject_next = None
        elif kind == "drop":
            self.ticker.abort_all()
        elif kind == "expire_token":
            self.auth.expire_all()
            self.ticker.close_all("Token expired", "token expired")
        elif kind == "reject_next_order":
            self.orders.reject_next = str(spec.get("message") or "RMS:Rule: order rejected by the sim (fault)")
        self.faults.arm(kind, seconds, spec, self.wall.monotonic())
        if self.breeze is not None:
            self.breeze.on_fault(kind)
        return self.active_faults()

    def active_faults(self) -> dict[str, Any]:
        out = self.faults.describe(self.wall.monotonic())
        if self.orders.reject_next is not None:
            out["reject_next_order"] = {"message": self.orders.reject_next}
        if self.auth.expired:
            out["expired_tokens"] = len(self.auth.expired)
        out["scheduled"] = self.faults.describe_schedule()
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
            "ticks_replayed": self.replay.pos,
            "ticks_total": len(self.schedule),
            "symbols": self.data.symbols(),
            "api_key": self.config.api_key,
            "open_access": self.config.open_access,
            "connections": [{"subscriptions": len(c.subs)} for c in self.ticker.conns],
            "orders": len(self.orders.orders),
            "trades": len(self.orders.trades),
            "access_tokens_issued": len(self.auth.access_tokens),
            "faults": self.active_faults(),
            "stats": dict(self.stats),
            "models": self.market.models(),
            "breeze": self.breeze.state() if self.breeze is not None else None,
        }

    # -------------------------------------------------------------------------------------------------- REST

    async def handle_http(self, req: HttpRequest) -> HttpResponse:
        self.stats["requests"] += 1
        try:
            resp = rest.handle(self, req)
        except OrderError as exc:
            resp = rest.error(exc.status, exc.message, exc.error_type)
        except DataError as exc:
            resp = rest.error(400, exc.message, "InputException")
        except (ValueError, KeyError, TypeError) as exc:  # malformed parameters or JSON body from the client
            resp = rest.error(400, f"Invalid input: {exc}", "InputException")
        if self._wake is not None:
            self._wake.set()
        if not req.path.startswith("/_sim"):
            resp.delay = max(resp.delay, self.faults.take_delay())
        return resp

    def profile(self) -> dict[str, Any]:
        """Kite's ``GET /user/profile`` data for the sim's user (``meta.sim``/``meta.synthetic`` say what it is)."""
        name = "tradesig sim (SYNTHETIC data)" if self.synthetic else "tradesig sim"
        return {"user_id": USER_ID, "user_type": "individual", "email": "sim@localhost", "user_name": name,
                "user_shortname": "sim", "broker": "ZERODHA", "exchanges": ["NSE", "NFO", "BSE", "BFO"],
                "products": ["CNC", "NRML", "MIS"], "order_types": ["MARKET", "LIMIT"], "avatar_url": None,
                "meta": {"demat_consent": "physical", "sim": True, "synthetic": self.synthetic}}


def _next_weekday(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


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
                       announce: Any = None, iv_file: Path | None = None, breeze_port: int | None = None) -> None:
    """``tradesig sim serve``: build a :class:`SimConfig` from the settings (``backtest.rate``/``iv``,
    ``instruments[*].freeze_quantity``, ``paper.latency_ms``, ``kite.redirect_url``) and the options, then serve on
    127.0.0.1 until signalled or ``linger`` seconds after the session. ``iv_file`` (else ``pricing.iv_file`` of the
    config, when it has one): a daily IV series for the option model; ``breeze_port``: the Breeze side's port, None
    for none. Raises :class:`DataError` for bad data or options (before binding)."""
    iv_file = iv_file or getattr(getattr(settings, "pricing", None), "iv_file", None)
    config = SimConfig(
        data_files=list(data_files), day=day, speed=speed, start=start, api_key=api_key, api_secret=api_secret,
        redirect_url=redirect_url or settings.kite.redirect_url, open_access=open_access,
        instruments_dump=instruments, chain_files=chain, ticks_per_bar=ticks_per_bar, seed=seed,
        rate=settings.backtest.rate,
        iv=settings.backtest.iv, iv_file=Path(iv_file) if iv_file else None, capital=capital,
        latency_ms=settings.paper.latency_ms, rate_limits=rate_limits,
        wait_for_client=wait_for_client,
        freeze={k: v.freeze_quantity for k, v in settings.instruments.items()},
        faults=[parse_fault_spec(f) for f in faults], breeze_port=breeze_port)
    serve_until_signalled(SimExchange(config), "127.0.0.1", port, linger=linger, announce=announce)


__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "DEFAULT_REDIRECT_URL", "FAULT_KINDS", "MAX_CONNECTIONS_PER_KEY",
           "RATE_LIMITS", "REQUEST_TOKEN_TTL", "SimConfig", "SimExchange", "SimHandle", "default_instruments_dump",
           "parse_fault_spec", "serve_from_options", "serve_until_signalled"]

"""``trade start``: the long-running paper/live engine following the feed hub.

The hub (tradesig.feed.hub, ``settings.hub.listen``) sends JSON messages; the runner uses ``bar`` (closed
1-minute bars of the indices: ``symbol``, ``interval``, ``ts`` ISO bar start, OHLC) and ``tick`` (index ticks
update the underlying; option ticks, keyed by ``tradingsymbol``/``symbol``, feed the paper broker's quotes). A
reader thread owns the WebSocket (reconnecting with the feed's backoff policy); the main thread owns the engine,
so order placement never stalls the socket.

Every loop: closed bars go to the engine; every ``tick_seconds``: flush hourly buckets whose end passed, time
checks (expiry exit, kill switch, daily loss), manual exit requests, the state file, and systemd
``WATCHDOG=1``/``STATUS=`` (tradesig.feed.notify). ``READY=1`` once warmed up and connected.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import datetime, timedelta
from typing import Any

from tradesig.clock import Clock, SystemClock, ist_date
from tradesig.config import LoadedConfig
from tradesig.errors import BrokerError
from tradesig.feed.follow import SimFollowClock, pick_clock
from tradesig.trade import events as ev
from tradesig.trade.risk import KillSwitch

__all__ = ["FeedQuotes", "HubReader", "Runner", "build_runner", "SimFollowClock", "pick_clock", "run",
           "sim_price_source"]

log = logging.getLogger(__name__)


def sim_price_source(root: str, market: str = "quote", symbols: list[str] | None = None) -> str:
    """How to label option prices fetched from ``root``: ``market`` ("quote": Kite's market prices; "breeze":
    ICICI Breeze's) unless ``root`` is a
    loopback address where a ``tradesig sim`` answers ``/_sim/state`` — its option prices are modelled
    (Black-Scholes from the replayed spot), so they are labelled ``"modelled [iv sim: …]"`` with the sim's IV
    (``iv_source`` of its state, else its ``models.iv_sources`` per index, else the flat IV its ``models`` text
    names); with ``symbols``, only those indices' IV sources are named. A remote root is never probed."""
    import re
    from urllib.parse import urlsplit

    from tradesig.feed.follow import sim_state
    from tradesig.feed.hub import is_loopback_host
    from tradesig.trade.quotes import modelled_source

    if not is_loopback_host(urlsplit(root).hostname or ""):
        return market
    try:
        state = sim_state(root, timeout=2.0)
    except BrokerError:
        return market
    models = state.get("models") or {}
    text = str(models.get("options") or "")
    found = re.search(r"flat IV [0-9.]+", text)
    per_index = {u: src for u, src in (models.get("iv_sources") or {}).items()   # index → IVModel.source
                 if symbols is None or u in symbols}
    named = "; ".join(f"{u} {src}" for u, src in sorted(per_index.items())) if len(per_index) > 1 else \
        next(iter(per_index.values()), None)
    iv = state.get("iv_source") or named or (found.group(0) if found else "sim model")
    return modelled_source(f"sim: {iv}")


class HubReader(threading.Thread):
    """Reads the hub WebSocket into a queue: ("bar", dict) / ("tick", dict) / ("status", str) / ("source", str: the
    feed's upstream from the hub's ``status``, when it changes). Reconnects with
    :func:`tradesig.feed.backoff.backoff` until :meth:`stop`."""

    def __init__(self, url: str, symbols: list[str], out: queue.Queue) -> None:
        super().__init__(name="hub-reader", daemon=True)
        self.url = url
        self.symbols = symbols
        self.out = out
        self._halt = threading.Event()
        self.connected = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        from tradesig.feed.backoff import backoff

        attempt = 0
        source = None
        url = self.url + ("&" if "?" in self.url else "?") + "batch=1"  # ticks as "ticks" batches
        while not self._halt.is_set():
            try:
                with connect(url, open_timeout=5, close_timeout=1) as ws:
                    ws.send(json.dumps({"type": "subscribe", "symbols": ["*"]}))
                    self.connected.set()
                    attempt = 0
                    self.out.put(("status", "connected"))
                    while not self._halt.is_set():
                        try:
                            raw = ws.recv(timeout=1.0)
                        except TimeoutError:
                            continue
                        msg = json.loads(raw)
                        kind = msg.get("type")
                        if kind in ("bar", "tick"):
                            self.out.put((kind, msg))
                        elif kind == "ticks":
                            for tick in msg["ticks"]:
                                self.out.put(("tick", tick))
                        elif kind == "status" and msg.get("source") and msg["source"] != source:
                            source = msg["source"]
                            self.out.put(("source", source))
            except (OSError, WebSocketException, ValueError) as exc:
                self.connected.clear()
                self.out.put(("status", f"hub disconnected: {exc}"))
                attempt += 1
                self._halt.wait(backoff(attempt))


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


#: Market time the feed gets to publish a minute bar after the minute ends, before an hour is closed by time;
#: during a fast replay at least FLUSH_GRACE_WALL seconds of wall time (a loaded machine delays the feed in wall time).
#: While the hub's data trails the clock (the engine, or the feed before it, is behind), an hour closes by time only
#: once the data has passed its end by FLUSH_GRACE, or the clock by FLUSH_GRACE_STALL_WALL wall seconds (a feed that
#: has stopped: the session is over, the broker is gone), so a lagging engine never closes an hour before its last
#: minutes arrive. At real speed both wall graces are below FLUSH_GRACE: nothing changes there.
FLUSH_GRACE = timedelta(seconds=60)
FLUSH_GRACE_WALL = 2.0
FLUSH_GRACE_STALL_WALL = 10.0


class FeedQuotes:
    """The paper engine's option quotes: the hub's option ticks (:class:`~tradesig.trade.quotes.TickQuotes`)
    first, else the REST quotes of the feed's upstream — ICICI Breeze's ``quotes`` once the hub's status says the
    feed streams from Breeze (``open_breeze()`` returns them; issue 17: quotes come from whichever source the feed
    uses), else Kite's ``/quote`` (``kite``). When the Breeze session cannot be opened the engine keeps Kite's
    quotes (labelled as Kite's) and says so once in the log.

    A tick older than ``max_tick_age`` market seconds (``clock.now()``) is passed over for the REST quote: the feed
    unsubscribes strikes when its chain re-centres, and their last ticks must not freeze the paper fills."""

    def __init__(self, ticks: Any, kite: Any, open_breeze: Any = None, *, clock: Clock | None = None,
                 max_tick_age: float = 5.0) -> None:
        self.ticks = ticks
        self.kite = kite
        self.open_breeze = open_breeze
        self.clock = clock
        self.max_tick_age = max_tick_age
        self.breeze: Any = None
        self.feed_source: str | None = None

    def use(self, source: str) -> None:
        """The feed's upstream changed to ``source`` ("kite", "sim", "breeze"): open Breeze's quotes for it."""
        from tradesig.errors import TradesigError

        self.feed_source = source
        if source == "breeze" and self.breeze is None and self.open_breeze is not None:
            try:
                self.breeze = self.open_breeze()
                log.info("paper quotes: ICICI Breeze (the feed streams from Breeze)")
            except TradesigError as exc:
                log.warning("paper quotes stay on Kite's /quote: cannot open a Breeze session: %s", exc)
                self.open_breeze = None

    def rest(self) -> Any:
        return self.breeze if self.feed_source == "breeze" and self.breeze is not None else self.kite

    def _tick(self, contract: Any) -> Any:
        q = self.ticks.quote(contract)
        if q is None or self.clock is None:
            return q
        return q if (self.clock.now() - q.ts).total_seconds() <= self.max_tick_age else None

    def quote(self, contract: Any) -> Any:
        return self._tick(contract) or self.rest().quote(contract)

    def quote_many(self, contracts: list[Any]) -> dict[str, Any]:
        ticks = {c.tradingsymbol: q for c in contracts if (q := self._tick(c)) is not None}
        rest = [c for c in contracts if c.tradingsymbol not in ticks]
        return {**ticks, **(self.rest().quote_many(rest) if rest else {})}


class Runner:
    """Wires an engine to the hub queue; :meth:`step` processes what is queued (testable without a socket)."""

    def __init__(self, loaded: LoadedConfig, engine: Any, mode: str, clock: Clock, *, tick_quotes: Any = None,
                 feed_quotes: FeedQuotes | None = None, notifier: Any = None, tick_seconds: float = 5.0,
                 min_wall_seconds: float = 0.1) -> None:
        self.loaded = loaded
        self.engine = engine
        self.mode = mode
        self.clock = clock
        self.tick_quotes = tick_quotes
        self.feed_quotes = feed_quotes
        self.notifier = notifier
        self.tick_seconds = tick_seconds
        self.min_wall_seconds = min_wall_seconds
        self.queue: queue.Queue = queue.Queue()
        self._last_tick = 0.0
        self._last_tick_market: datetime | None = None
        self._last_bar: dict[str, datetime] = {}
        #: the newest market time the hub's data (ticks and minute bars of the engine's underlyings) has shown
        self.data_time: datetime | None = None
        #: the feed's upstream as the hub's status says ("kite", "sim", "breeze"; None until one arrived)
        self.feed_source: str | None = None

    def handle(self, kind: str, msg: Any) -> None:
        from tradesig.trade.hourly import MinuteBar

        if kind == "bar" and msg.get("interval", "1m") == "1m" and msg.get("symbol") in self.engine.symbols:
            bar = MinuteBar(_ts(msg["ts"]), float(msg["open"]), float(msg["high"]), float(msg["low"]),
                            float(msg["close"]))
            symbol = msg["symbol"]
            last = self._last_bar.get(symbol)
            if last is not None and bar.ts <= last:  # a repeat, or a late minute of the hour in progress
                if self.engine.on_late_minute_bar(symbol, bar):
                    log.info("trade %s: late %s minute %s merged into its hour", self.mode, symbol, bar.ts)
                return
            if last is not None and bar.ts - last > timedelta(minutes=1):
                self._fill_from_store(symbol, last, bar.ts)
            self._last_bar[symbol] = bar.ts
            self._saw_data(bar.ts + timedelta(minutes=bar.minutes))
            self.engine.on_minute_bar(symbol, bar)
        elif kind == "tick":  # docs/viewer-protocol.md "tick": symbol, ltp, ts (exchange time), bid/ask
            symbol = msg.get("symbol")
            price = msg.get("ltp")
            if price is None:
                return
            ts = _ts(msg.get("ts") or self.clock.now())
            if symbol in self.engine.symbols:
                self.engine.spots.update(symbol, float(price), ts)
                self._saw_data(ts)
            elif self.tick_quotes is not None:
                self.tick_quotes.update(symbol, msg, ts)
        elif kind == "source":
            self.feed_source = str(msg)
            if self.feed_quotes is not None:
                self.feed_quotes.use(self.feed_source)

    def _saw_data(self, ts: datetime) -> None:
        if self.data_time is None or ts > self.data_time:
            self.data_time = ts

    def flush_horizon(self) -> datetime:
        """The time up to which hourly buckets may be closed by time (FLUSH_GRACE and its wall bounds above)."""
        now, speed = self.clock.now(), self.clock.speed
        horizon = now - max(FLUSH_GRACE, timedelta(seconds=FLUSH_GRACE_WALL * speed))
        if self.data_time is not None and self.data_time - FLUSH_GRACE < horizon:
            stalled = now - max(FLUSH_GRACE, timedelta(seconds=FLUSH_GRACE_STALL_WALL * speed))
            horizon = max(self.data_time - FLUSH_GRACE, stalled)
        return horizon

    def _fill_from_store(self, symbol: str, after: datetime, before: datetime) -> None:
        """Minutes missed between two hub bars (a late start, a hub reconnect): read them from the Store, where
        the feed writes every closed bar, and deliver them in order first."""
        from tradesig.store.datasets import Store
        from tradesig.trade.hourly import MinuteBar

        if self.loaded is None:
            return
        rows = Store(self.loaded.home).read_bars(symbol, "1m", ist_date(before), ist_date(before))
        missed = [r for r in rows.iter_rows(named=True) if after < r["ts"] < before]
        if missed:
            log.info("trade %s: %d %s minutes from the store (%s..%s)", self.mode, len(missed), symbol,
                     missed[0]["ts"], missed[-1]["ts"])
        for row in missed:
            self._last_bar[symbol] = row["ts"]
            self.engine.on_minute_bar(symbol, MinuteBar.from_row(row))

    def housekeeping(self) -> None:
        from tradesig.trade.service import pending_exit_requests, write_state

        # Closing an hour by time is the fallback for a minute that never comes (the hour's last minute, or the
        # next hour's first, normally closes it): allow the feed FLUSH_GRACE to deliver the hour's last minute bar.
        self.engine.flush(self.flush_horizon())
        for pid in pending_exit_requests(self.loaded.home):
            if pid in self.engine.positions:
                self.engine.exit_position(pid, "manual")
        if self.engine.positions:
            self.engine.reconcile()
        self.engine.on_time()
        snap = self.engine.snapshot()
        write_state(self.loaded.home, self.mode, snap)
        if self.notifier is not None:
            self.notifier.watchdog()
            self.notifier.notify(status=f"{self.mode}: {len(snap['open'])} open, day P&L {snap['day_pnl']:.2f}"
                                        + (", KILL SWITCH" if snap["kill_switch"] else ""))

    def step(self, timeout: float = 1.0, max_batch: int = 10_000) -> None:
        """Handle everything queued (waiting up to ``timeout`` wall seconds for the first message, at most
        ``max_batch`` messages), then run the housekeeping when due. Draining the queue before the housekeeping
        keeps a fast replay's thousands of ticks a second from delaying the bars behind them."""
        try:
            item: tuple[str, Any] | None = self.queue.get(timeout=timeout)
        except queue.Empty:
            item = None
        handled = 0
        while item is not None:
            kind, msg = item
            if kind == "status":
                log.info("trade %s: %s", self.mode, msg)
            else:
                self.handle(kind, msg)
            handled += 1
            try:
                item = self.queue.get_nowait() if handled < max_batch else None
            except queue.Empty:
                item = None
        # Housekeeping (time exits, reconciliation, state) every ``tick_seconds`` of market time — when a replay
        # runs fast that is less than a wall second — but never more often than ``min_wall_seconds`` of wall time.
        mono, market = self.clock.monotonic(), self.clock.now()
        due = (self._last_tick_market is None
               or (market - self._last_tick_market).total_seconds() >= self.tick_seconds)
        if due and mono - self._last_tick >= self.min_wall_seconds:
            self._last_tick, self._last_tick_market = mono, market
            try:
                self.housekeeping()
            except BrokerError as exc:
                log.warning("trade %s: housekeeping failed: %s", self.mode, exc)


def build_runner(loaded: LoadedConfig, mode: str, *, strategies: list[str] | None = None, lots: int | None = None,
                 clock: Clock | None = None, notifier: Any = None, symbols: list[str] | None = None,
                 trade_from: datetime | None = None) -> Runner:
    """Construct the engine for ``mode`` ("paper" or "live"): instruments from the broker's instruments dump
    (Kite or the sim), the events log as the event sink, the kill switch of the data home, the signal state
    warmed with the Store's hourly bars of the last ``WARMUP_DAYS`` days, and open positions restored from the
    previous state file (then reconciled with the broker). Signals on bars closing before ``trade_from`` (default:
    now) are not traded. Order waits go through ``clock.sleep`` (market seconds; a replay clock scales them).
    Raises TokenError without a valid Kite token."""
    from tradesig.alerts import alerting_sink
    from tradesig.store.datasets import Store
    from tradesig.trade.build import build_engine
    from tradesig.trade.hourly import MinuteBar, hourly_bar_end
    from tradesig.trade.position import Position
    from tradesig.trade.quotes import BrokerQuotes, TickQuotes
    from tradesig.trade.service import WARMUP_DAYS, event_sink, live_broker, load_state

    clock = clock or SystemClock()
    settings = loaded.settings
    kite_broker = live_broker(loaded, clock)
    wanted = symbols or settings.feed.symbols
    price_label = sim_price_source(settings.kite.root, symbols=wanted)
    kite_broker.quote_source = price_label
    instruments = kite_broker.instruments()
    # the events log, plus alerts (webhook/Telegram) for fills, rejections, risk actions and the kill switch
    emit = alerting_sink(loaded, event_sink(loaded.home, clock), mode=mode, now=clock.now)
    symbols = [s for s in wanted if instruments.expiries(s, ist_date(clock.now()))]
    tick_quotes = TickQuotes(price_label)
    breeze_root = settings.breeze.root

    def open_breeze() -> Any:
        from tradesig.trade.breeze_quotes import open_breeze_quotes

        return BrokerQuotes(open_breeze_quotes(loaded, instruments.by_tradingsymbol, clock,
                                               source=sim_price_source(breeze_root, "breeze", wanted) if breeze_root
                                               else "breeze"), clock)

    feed_quotes = FeedQuotes(tick_quotes, BrokerQuotes(kite_broker.quote, clock), open_breeze, clock=clock,
                             max_tick_age=settings.paper.max_quote_age_seconds)
    engine = build_engine(settings, mode, clock=clock, instruments=instruments, symbols=symbols,
                          quotes=feed_quotes, broker=kite_broker if mode == "live" else None, emit=emit,
                          strategies=strategies, lots=lots, kill_switch=KillSwitch(loaded.home),
                          trade_from=trade_from or clock.now()).engine
    store = Store(loaded.home)
    now = clock.now()
    today = ist_date(now)
    seeded: dict[str, datetime] = {}
    for sym in symbols:
        bars = store.read_bars(sym, "1h", today - timedelta(days=WARMUP_DAYS), today)
        closed = [r for r in bars.iter_rows(named=True) if hourly_bar_end(r["ts"]) <= now]
        engine.warm_up(sym, closed)
        # the minutes of the hour in progress (the feed stores them as they close): a restart mid-hour still
        # builds that hourly bar from all of its minutes
        since = hourly_bar_end(closed[-1]["ts"]) if closed else None
        if since is not None:
            seeded[sym] = since - timedelta(minutes=1)
        minutes = store.read_bars(sym, "1m", today, today)
        for row in minutes.iter_rows(named=True):
            if (since is None or row["ts"] >= since) and row["ts"] + timedelta(minutes=1) <= now:
                engine.aggregators[sym].add(MinuteBar.from_row(row))
                seeded[sym] = row["ts"]
    previous = load_state(loaded.home, mode)
    if previous and mode == "live":
        engine.restore(Position.from_dict(p) for p in previous.get("open", []))
        engine.reconcile()
    emit(ev.EngineStart(mode, tuple(symbols), tuple(sorted(engine.strategies)), engine.lots, len(engine.positions)))
    runner = Runner(loaded, engine, mode, clock, tick_quotes=tick_quotes, feed_quotes=feed_quotes,
                    notifier=notifier)
    runner._last_bar.update(seeded)
    return runner


def run(loaded: LoadedConfig, mode: str, *, strategies: list[str] | None = None, lots: int | None = None,
        until: datetime | None = None, hub_url: str | None = None, clock: Clock | None = None) -> dict[str, Any]:
    """Run ``trade start`` until ``until`` (aware) or SIGTERM/SIGINT; returns the final snapshot. ``clock``
    defaults to the system clock (:class:`SimFollowClock` to follow a sim's replayed day)."""
    import signal

    from tradesig.feed.hub import parse_listen
    from tradesig.feed.notify import Notifier

    notifier = Notifier()
    runner = build_runner(loaded, mode, strategies=strategies, lots=lots, notifier=notifier, clock=clock)
    host, port = parse_listen(loaded.settings.hub.listen)
    url = hub_url or f"ws://{host}:{port}/ws"
    reader = HubReader(url, runner.engine.symbols, runner.queue)
    stopping = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    reader.start()
    notifier.ready(f"trade {mode}: {len(runner.engine.symbols)} symbols, following {url}")
    try:
        while not stopping.is_set() and (until is None or runner.clock.now() < until):
            runner.step()
    finally:
        reader.stop()
        notifier.notify(stopping=1)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    snap = runner.engine.snapshot()
    from tradesig.trade.service import write_state

    write_state(loaded.home, mode, snap)
    return snap

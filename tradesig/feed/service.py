"""``tradesig feed``: the trading day's market-data service (asyncio): stream, persist, survive, serve.

One :class:`FeedService` owns the single upstream connection (Kite ticker, the sim — which *is* the Kite path
with other roots — or Breeze) and runs these tasks on one event loop:

- **upstream**: connect with the stored token, subscribe the indices, their current-month futures and the near
  option chain in full mode, read frames into :class:`~tradesig.feed.ingest.Ingestor` (journal first). On a
  failure the pure policy :func:`tradesig.feed.backoff.decide` says what next: backoff with jitter, or — for a
  403/TokenException — *no retry* until the token file changes (checked every ``token_reload_seconds`` ≤ 1 s,
  so a new token is used within 2 s). The stall watchdog aborts a connection that sends no data (heartbeats
  do not count) for ``stall_seconds`` while the market is open.
- **housekeeping** (every second): flush ticks to Parquet and close bars; backfill dirty minutes from the
  historical API; publish ``status`` to the hub; ``STATUS=``/``WATCHDOG=1`` to systemd; ``--until``.
- **poller**: while the ticker is down longer than ``poll_after_seconds``, ``/quote`` once a second (Kite's limit),
  journaled and stored as *polled* ticks.
- **hub** (``--serve``): the viewer WebSocket (:mod:`tradesig.feed.hub`).

Market time: for ``kite``/``breeze`` the wall clock (the given :class:`Clock`); for ``sim`` the sim's replay
clock (``GET /_sim/state``), so phases, ``--until`` and the last bar's completeness follow the replayed day.
Phases come from :class:`tradesig.calendar.MarketCalendar`: pre-open ticks are captured from 09:00; outside the
session (holiday, night) the feed idles (no connection, WATCHDOG still sent) instead of failing.

Entry points: :func:`run_feed` (blocking; SIGTERM/SIGINT stop it cleanly, exit 0) and ``await
FeedService(...).run()`` in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import signal
import time as _time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tradesig.clock import IST, Clock, SystemClock, ist_date, to_ist
from tradesig.config import LoadedConfig
from tradesig.errors import BrokerError, ConfigError, DataError, ProtocolError, TokenError, redact
from tradesig.feed.backoff import StallDetected, StallWatchdog, classify, decide
from tradesig.feed.follow import sim_state
from tradesig.feed.notify import Notifier

log = logging.getLogger(__name__)

SOURCES = ("kite", "sim", "breeze")
SIM_API_KEY = "tradesig-sim"
_UPSTREAM_ERRORS = (OSError, TimeoutError, ConnectionClosed, InvalidStatus, InvalidHandshake, StallDetected,
                    TokenError, BrokerError, ProtocolError, DataError)
_ACTIVE = ("PRE_OPEN", "PRE_OPEN_MATCH", "OPEN", "CLOSING")


@dataclass
class FeedOptions:
    """What ``tradesig feed`` was asked to do (CLI flags over config).

    ``source`` kite|sim|breeze; ``symbols`` index keys; ``until`` IST time to stop (None: run until stopped);
    ``serve`` ``[HOST:]PORT`` of the hub (None: no hub); ``hub_token``/``publish_token`` the viewer and publisher
    tokens (text); ``rest_root``/``ws_root`` Kite roots (None: config / env / ``sim_url``); ``sim_url`` the sim's
    REST URL (its ticker is the same host and port); ``chain_strikes`` option strikes each side of spot (0: none);
    ``idle_outside_session``: idle when the calendar says the market is shut (False for the sim's replays).
    """

    source: str = "kite"
    symbols: list[str] = field(default_factory=lambda: ["NIFTY", "BANKNIFTY", "SENSEX"])
    until: time | None = None
    serve: str | None = None
    hub_token: str | None = None
    publish_token: str | None = None
    rest_root: str | None = None
    ws_root: str | None = None
    sim_url: str | None = None
    api_key: str | None = None
    chain_strikes: int = 0
    stall_seconds: float = 15.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    poll_after_seconds: float = 10.0
    token_reload_seconds: float = 1.0
    client_queue: int = 1000
    hub_send_buffer: int | None = 2**16
    status_seconds: float = 1.0
    idle_outside_session: bool = True
    flush_ticks: int = 100_000


@dataclass
class FeedSummary:
    """What a run did (returned by :meth:`FeedService.run`; rendered by the CLI)."""

    source: str
    ticks: int
    polled_ticks: int
    ticks_written: int
    bars_written: dict[str, int]
    gaps: int
    reconnects: int
    token_waits: int
    recovered_ticks: int
    connect_attempts: int
    stopped_by: str


def options_from_settings(loaded: LoadedConfig, **overrides: Any) -> FeedOptions:
    """:class:`FeedOptions` from the config's ``feed``/``hub``/``kite`` sections, then ``overrides`` (non-None)."""
    s = loaded.settings
    opts = FeedOptions(symbols=list(s.feed.symbols), chain_strikes=s.feed.chain_strikes,
                       stall_seconds=s.feed.stall_seconds, backoff_cap=s.feed.backoff_cap_seconds,
                       poll_after_seconds=s.feed.poll_after_seconds,
                       token_reload_seconds=min(s.feed.token_reload_seconds, 1.0),
                       client_queue=s.hub.client_queue)
    for key, value in overrides.items():
        if value is not None:
            setattr(opts, key, value)
    return opts


def resolve_roots(loaded: LoadedConfig, options: FeedOptions, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(REST root, ticker root): ``--sim-url`` (same host for both; ws:// for the ticker), else explicit options,
    else ``TRADESIG_KITE_ROOT``/``TRADESIG_KITE_WS_ROOT``, else config ``kite.root``/``kite.ws_root``."""
    import os

    env = dict(os.environ) if env is None else env
    if options.sim_url:
        rest = options.sim_url.rstrip("/")
        ws = "ws" + rest[len("http"):] if rest.startswith("http") else rest
        return rest, ws
    rest = options.rest_root or env.get("TRADESIG_KITE_ROOT") or loaded.settings.kite.root
    ws = options.ws_root or env.get("TRADESIG_KITE_WS_ROOT") or loaded.settings.kite.ws_root
    return rest.rstrip("/"), ws.rstrip("/")


class FeedService:
    """The feed. ``loaded``: config + data home; ``options``: see :class:`FeedOptions`; ``clock``: wall clock
    (UTC); ``calendar``: a MarketCalendar (default: :func:`tradesig.calendar.get_calendar`); ``notifier``: sd_notify
    (default from the environment); ``rng``: jitter source of the backoff; ``breeze_module``: an imported
    breeze_connect (tests). Raises :class:`ConfigError` for a bad source or hub address."""

    def __init__(self, loaded: LoadedConfig, options: FeedOptions, *, clock: Clock | None = None,
                 calendar: Any = None, notifier: Notifier | None = None, rng: random.Random | None = None,
                 breeze_module: Any = None) -> None:
        from tradesig.broker.tokens import TokenStore

        if options.source not in SOURCES:
            raise ConfigError(f"unknown feed source {options.source!r}", f"use one of {', '.join(SOURCES)}")
        self.loaded = loaded
        self.settings = loaded.settings
        self.home = Path(loaded.home)
        self.options = options
        self.clock = clock or SystemClock()
        self._calendar = calendar
        self.notifier = notifier or Notifier()
        self.rng = rng or random.Random()
        self.breeze_module = breeze_module
        self.tokens = TokenStore(self.home, self.clock)
        self.rest_root, self.ws_root = resolve_roots(loaded, options)
        self.broker = "breeze" if options.source == "breeze" else "kite"
        self.api_key = options.api_key or self.settings.kite.api_key
        if options.source == "sim" and self.api_key.startswith("YOUR_"):
            self.api_key = SIM_API_KEY
        self.hub = None
        if options.serve:
            from tradesig.feed.hub import Hub, parse_listen

            try:
                host, port = parse_listen(options.serve)
            except ValueError as exc:
                raise ConfigError(str(exc), "--serve takes [HOST:]PORT, e.g. 8765 or 0.0.0.0:8765") from None
            from tradesig.feed.hub_page import DashboardSources

            self.hub = Hub(host, port, token=options.hub_token, publish_token=options.publish_token,
                           client_queue=options.client_queue, send_buffer=options.hub_send_buffer,
                           health=self.health, clock=self.clock,
                           dashboard=DashboardSources(loaded, self.market_now, lambda: self.universe.options
                                                      if self.universe is not None else {}))
        self.ingest: Any = None
        self.universe: Any = None
        self.rest: Any = None
        self.watchdog = StallWatchdog(options.stall_seconds)
        self.connected = False
        self.polling = False
        self.waiting_for_token = False
        self.ready_sent = False
        self.reconnects = 0
        self.token_waits = 0
        self.connect_attempts = 0
        self.attempts_per_token: dict[Any, int] = {}
        self.down_since: float | None = None
        self.token_expiry: datetime | None = None
        self.phase: str | None = None
        self.sim_time: datetime | None = None
        self.sim_synthetic = False
        self.last_error: str | None = None
        self._stop: asyncio.Event | None = None
        self._stopped_by = "stop"
        self._client: Any = None
        self._rates: deque[tuple[float, int]] = deque(maxlen=10)
        self._backfill_failures: dict[tuple[str, datetime], int] = {}
        self._last_oi: dict[int, int] = {}
        self._tasks: list[asyncio.Task] = []
        self._start_day: Any = None
        self._instrument_rows: list[dict[str, Any]] = []
        self._market_day: Any = None
        self._spots: dict[str, float] = {}
        self.chain_recentres = 0

    # ------------------------------------------------------------------------------------------------ time
    def _calendar_obj(self) -> Any:
        if self._calendar is None:
            from tradesig.calendar import get_calendar

            self._calendar = get_calendar(self.loaded)
        return self._calendar

    def market_now(self) -> datetime:
        """The market's time: the sim's replay clock for ``sim`` (when known), else the wall clock."""
        if self.options.source == "sim" and self.sim_time is not None:
            return self.sim_time
        return self.clock.now()

    def current_phase(self) -> str:
        """Session phase name at :meth:`market_now` (``UNKNOWN`` beyond the calendar's coverage)."""
        from tradesig.errors import CalendarCoverageError

        try:
            return self._calendar_obj().phase(self.market_now()).name
        except CalendarCoverageError:
            return "UNKNOWN"

    def _market_active(self) -> bool:
        """Is silence abnormal now? Only in continuous trading (OPEN): in pre-open the indices are quiet until the
        09:08 match, and after the close ticks thin out."""
        return self.current_phase() in ("OPEN", "UNKNOWN")

    def _until_reached(self) -> bool:
        if self.options.until is None:
            return False
        now = to_ist(self.market_now())
        if self.options.source == "sim" and self.sim_time is None:
            return False
        return now.time() >= self.options.until and (self._start_day is None or now.date() >= self._start_day)

    # ------------------------------------------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        """The ``/health`` and ``status`` document: connected, polling, waiting_for_token, phase, last tick age
        (s), ticks/s (over the last ~10 s), gaps, reconnects, token expiry (ISO UTC), source, market time, PCR."""
        mono = self.clock.monotonic()
        rate = 0.0
        if len(self._rates) >= 2:
            (t0, n0), (t1, n1) = self._rates[0], self._rates[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        age = None
        if self.watchdog.last_data is not None:
            age = round(mono - self.watchdog.last_data, 3)
        stats = self.ingest.stats if self.ingest is not None else None
        doc: dict[str, Any] = {
            "source": self.options.source, "connected": self.connected, "polling": self.polling,
            "waiting_for_token": self.waiting_for_token, "phase": self.phase or self.current_phase(),
            "last_tick_age_s": age, "ticks_per_s": round(rate, 1),
            "ticks": stats.ticks if stats else 0, "gaps": stats.gaps if stats else 0,
            "reconnects": self.reconnects, "token_expiry": self.token_expiry,
            "market_time": self.market_now(), "last_error": self.last_error,
        }
        if self.universe is not None and self.universe.options:
            from tradesig.feed.universe import pcr

            doc["pcr"] = pcr(self._last_oi, self.universe.options)
        return doc

    def status_line(self) -> str:
        h = self.health()
        expiry = to_ist(h["token_expiry"]).strftime("%d %b %H:%M IST") if h["token_expiry"] else "-"
        state = "connected" if h["connected"] else ("token expired" if h["waiting_for_token"] else
                                                    ("polling" if h["polling"] else "down"))
        return (f"{state}; {h['ticks_per_s']} ticks/s; gaps {h['gaps']}; reconnects {h['reconnects']}; "
                f"phase {h['phase']}; token until {expiry}")

    # ------------------------------------------------------------------------------------------------ run
    def request_stop(self, reason: str = "stop") -> None:
        """Ask the service to flush everything and return (safe from signal handlers on the loop)."""
        self._stopped_by = reason
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> FeedSummary:
        """Run until :meth:`request_stop`, ``--until`` or SIGTERM (in :func:`run_feed`); returns the summary."""
        from tradesig.feed.ingest import Ingestor

        self._stop = asyncio.Event()
        self._start_day = ist_date(self.market_now()) if self.options.source != "sim" else None
        self.ingest = Ingestor(self.home, self.clock, source=self.options.source, on_bar=self._on_bar,
                               on_ticks=self._on_ticks if self.hub is not None else None,
                               flush_ticks=self.options.flush_ticks)
        await asyncio.to_thread(self.ingest.recover)
        today = ist_date(self.clock.now())
        for day in sorted(set(self.ingest.journal.dates()) | {today})[-2:]:
            self.ingest.seed_bars(day)
        if self.hub is not None:
            await self.hub.start()
        upstream = self._breeze_loop() if self.options.source == "breeze" else self._kite_loop()
        self._tasks = [asyncio.create_task(upstream, name="feed-upstream"),
                       asyncio.create_task(self._housekeeping(), name="feed-housekeeping")]
        if self.options.source != "breeze":
            self._tasks.append(asyncio.create_task(self._poller(), name="feed-poller"))
        if self.options.source == "sim":
            self._tasks.append(asyncio.create_task(self._sim_clock(), name="feed-sim-clock"))
        try:
            waiter = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait([waiter, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not waiter and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, *_UPSTREAM_ERRORS):
                    await task
            if self._client is not None:
                self._client.abort()
            self.notifier.stopping()
            final_now = self._final_now()
            if self.ingest.end_gaps(final_now):
                with contextlib.suppress(*_UPSTREAM_ERRORS):
                    await asyncio.wait_for(self._backfill(final=True), 60)
            self.ingest.close(now=final_now)
            if self.hub is not None:
                self.hub.publish_status(self.health())
                await self.hub.stop()
        s = self.ingest.stats
        log.info("feed stopped (%s): %d ticks, %d gaps, %d reconnects", self._stopped_by, s.ticks, s.gaps,
                 self.reconnects)
        summary = FeedSummary(self.options.source, s.ticks, s.polled_ticks, s.ticks_written, dict(s.bars_written),
                              s.gaps, self.reconnects, self.token_waits, s.recovered_ticks, self.connect_attempts,
                              self._stopped_by)
        # One ``feed_stats`` event per run, dated by the market's time (the replayed day for the sim), for report.
        self.ingest.events.append("feed_stats", {**dataclasses.asdict(summary), "synthetic": self.sim_synthetic},
                                  self.market_now())
        return summary

    def _final_now(self) -> datetime | None:
        """The time that decides whether the last open minute is complete: the market's, never beyond it."""
        if self.options.source == "sim":
            return self.sim_time
        return self.clock.now()

    # ------------------------------------------------------------------------------------------------ kite
    def _kite_rest(self, access_token: str) -> Any:
        from tradesig.broker.kite import make_kite
        from tradesig.feed.poller import KiteRest

        kite = make_kite(self.settings, access_token, api_key=self.api_key, root=self.rest_root)
        return KiteRest(kite, self.rest_root)

    def _resolve_universe(self, rest: Any) -> Any:
        """Blocking: quotes of the indices (spot, market date) and the instruments dumps → :class:`Universe`."""
        from tradesig.feed.universe import build_universe
        from tradesig.market import INDICES

        keys = [f"{INDICES[s].exchange}:{INDICES[s].tradingsymbol}" for s in self.options.symbols]
        spots: dict[str, float] = {}
        today = ist_date(self.market_now())
        quotes = rest.quote(keys)
        for s in self.options.symbols:
            q = quotes.get(f"{INDICES[s].exchange}:{INDICES[s].tradingsymbol}") or {}
            if q.get("last_price"):
                spots[s] = float(q["last_price"])
            ts = q.get("timestamp")
            if isinstance(ts, datetime):
                today = (ts if ts.tzinfo else ts.replace(tzinfo=IST)).astimezone(IST).date()
        rows: list[dict[str, Any]] = []
        for exchange in sorted({INDICES[s].derivatives_exchange for s in self.options.symbols}):
            try:
                rows.extend(rest.instruments(exchange))
            except DataError as exc:
                log.warning("instruments of %s unavailable (%s): no futures/options for it", exchange, exc)
        steps = {s: float(self.settings.instruments[s].strike_step) for s in self.options.symbols
                 if s in self.settings.instruments}
        self._instrument_rows, self._market_day = rows, today
        uni = build_universe(rows, self.options.symbols, today, spots=spots,
                             chain_strikes=self.options.chain_strikes, strike_steps=steps)
        log.info("subscribing %d instruments (%s; futures %s; %d options)", len(uni.tokens),
                 ", ".join(self.options.symbols), ", ".join(uni.index_future.values()) or "none", len(uni.options))
        return uni

    def _adopt_universe(self) -> None:
        self.ingest.symbols.update(self.universe.tokens)
        self.ingest.bars.index_future.update(self.universe.index_future)
        self.ingest.bars.backfill_symbols = set(self.options.symbols) | set(self.universe.index_future.values())

    def _load_token(self) -> Any:
        record = self.tokens.load(self.broker)
        self.token_expiry = record.expires_at
        return record

    async def _wait_token_change(self, fingerprint: Any, reason: str) -> None:
        """No retry with this token: wait until the token file's fingerprint changes (or stop)."""
        self.waiting_for_token = True
        self.token_waits += 1
        log.warning("token unusable (%s); waiting for a new token file %s (run 'tradesig login')", reason,
                    self.tokens.path(self.broker))
        assert self._stop is not None
        while not self._stop.is_set():
            if self.tokens.fingerprint(self.broker) != fingerprint:
                break
            await self._sleep(self.options.token_reload_seconds)
        self.waiting_for_token = False
        log.info("token file changed: reconnecting")

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))

    def _wanted(self) -> bool:
        """Should the feed be connected now? (idle outside the session: holidays, nights)."""
        if not self.options.idle_outside_session or self.options.source == "sim":
            return True
        from tradesig.errors import CalendarCoverageError

        now = self.market_now()
        cal = self._calendar_obj()
        try:
            if cal.phase(now).name in _ACTIVE:
                return True
            nxt = cal.next_open(now)
        except CalendarCoverageError:
            return True
        # connect from 10 minutes before pre-open (09:00 IST) so pre-open ticks are captured from 09:00
        pre_open = nxt.astimezone(IST).replace(hour=9, minute=0, second=0, microsecond=0)
        return nxt - now < timedelta(hours=1) and now >= pre_open - timedelta(minutes=10)

    async def _kite_loop(self) -> None:
        from tradesig.feed.kite_ws import KiteTickerClient

        assert self._stop is not None
        attempt = 0
        while not self._stop.is_set():
            if not self._wanted():
                self.phase = self.current_phase()
                await self._sleep(30.0)
                continue
            fingerprint = self.tokens.fingerprint(self.broker)
            try:
                record = self._load_token()
            except TokenError as exc:
                self.last_error = exc.message
                await self._wait_token_change(fingerprint, exc.message)
                continue
            cause = None
            self.connect_attempts += 1
            self.attempts_per_token[fingerprint] = self.attempts_per_token.get(fingerprint, 0) + 1
            client = KiteTickerClient(self.ws_root, self.api_key, record.access_token)
            self._client = client
            try:
                await client.connect()
                if self.rest is None or self.rest.kite.access_token != record.access_token:
                    self.rest = self._kite_rest(record.access_token)
                if self.universe is None:
                    self.universe = await asyncio.to_thread(self._resolve_universe, self.rest)
                    self._adopt_universe()
                await client.subscribe(self.universe.all_tokens(), "full")
                self._on_connected()
                attempt = await self._pump(client, attempt)
            except _UPSTREAM_ERRORS as exc:
                cause = classify(exc)
                self.last_error = f"{type(exc).__name__}: {redact_in(str(exc), record.access_token)}"
            finally:
                client.abort()
                self._client = None
            if self._stop.is_set():
                break
            self._on_disconnected(cause or "closed")
            delay = decide(cause or "closed", attempt, base=self.options.backoff_base, cap=self.options.backoff_cap,
                           rng=self.rng)
            if delay is None:
                await self._wait_token_change(fingerprint, self.last_error or "rejected")
                attempt = 0
                continue
            log.info("reconnecting in %.2f s after %s (attempt %d)", delay, cause, attempt + 1)
            attempt += 1
            await self._sleep(delay)

    async def _pump(self, client: Any, attempt: int) -> int:
        """Read frames until stop (returns the attempt counter, reset once data flowed) or failure (raises)."""
        from tradesig.feed.kite_protocol import decode_text

        assert self._stop is not None
        self.watchdog.reset(self.clock.monotonic())
        while not self._stop.is_set():
            mono = self.clock.monotonic()
            active = self._market_active()
            try:
                msg = await asyncio.wait_for(client.recv(), timeout=min(1.0, max(0.05, self.watchdog.remaining(mono)))
                                             if active else 1.0)
            except TimeoutError:
                if self.watchdog.stalled(self.clock.monotonic(), active):
                    raise StallDetected(f"no market data for {self.options.stall_seconds:g} s") from None
                continue
            self._phase_on_message()
            if isinstance(msg, (bytes, bytearray)):
                n = self.ingest.on_frame(bytes(msg), self.clock.now())
                if n:
                    self.watchdog.data(self.clock.monotonic())
                    attempt = 0
                    if self.hub is not None and self.hub.client_count:
                        # recv() returns without yielding while frames are buffered: let the viewers' writers
                        # run between frames, or a backlog would build up and drop every viewer at once
                        await asyncio.sleep(0)
            else:
                text = decode_text(msg)
                if text.type == "error":
                    log.warning("ticker error message: %s", text.data)
                    self.last_error = str(text.data)
        return attempt

    def _phase_on_message(self) -> None:
        """Recompute the market phase (a few µs) for every message; a change is logged and sent to viewers."""
        phase = self.current_phase()
        if phase != self.phase:
            log.info("market phase %s -> %s", self.phase, phase)
            self.phase = phase
            if self.hub is not None:
                self.hub.publish_status(self.health())

    def _on_connected(self) -> None:
        self.connected = True
        self.polling = False
        self.down_since = None
        if not self.ready_sent:
            self.ready_sent = True
            self.notifier.ready(self.status_line())
        log.info("feed connected and subscribed (%s)", self.options.source)

    def _on_disconnected(self, cause: str) -> None:
        was = self.connected
        self.connected = False
        if self.down_since is None:
            self.down_since = self.clock.monotonic()
        self.ingest.mark_disconnect(cause)
        if was:
            self.reconnects += 1
        log.warning("upstream lost (%s): %s", cause, self.last_error or "")

    # ------------------------------------------------------------------------------------------------ breeze
    async def _breeze_loop(self) -> None:
        """Breeze: open the socket.io stream with the stored session; a rejected session waits for a new token
        file, other failures back off and retry (same policy as the Kite path)."""
        from tradesig.config import resolve_secret
        from tradesig.feed.breeze_ws import BreezeStream

        assert self._stop is not None
        secret = resolve_secret(self.loaded, self.settings.breeze.api_secret)
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._stop.is_set():
            fingerprint = self.tokens.fingerprint("breeze")
            try:
                record = self._load_token()
                stream = BreezeStream(record.api_key or self.settings.breeze.api_key, secret, record.access_token,
                                      home=self.home, loop=loop, on_ticks=self._on_breeze_ticks,
                                      module=self.breeze_module)
                self.connect_attempts += 1
                await asyncio.to_thread(stream.start, self.options.symbols)
            except (TokenError, BrokerError) as exc:
                self.last_error = exc.message
                delay = decide(classify(exc), attempt, base=self.options.backoff_base, cap=self.options.backoff_cap,
                               rng=self.rng)
                if delay is None:
                    await self._wait_token_change(fingerprint, exc.message)
                else:
                    attempt += 1
                    await self._sleep(delay)
                continue
            self._on_connected()
            self.watchdog.reset(self.clock.monotonic())
            try:
                await self._stop.wait()
            finally:
                await asyncio.to_thread(stream.stop)

    def _on_breeze_ticks(self, ticks: list[dict[str, Any]]) -> None:
        n = self.ingest.on_json({"kind": "breeze", "ticks": ticks}, self.clock.now())
        if n:
            self.watchdog.data(self.clock.monotonic())

    # ------------------------------------------------------------------------------------------------ helpers
    async def _poller(self) -> None:
        """While the ticker is down > poll_after_seconds (and the token is not rejected): /quote each second."""
        assert self._stop is not None
        while not self._stop.is_set():
            await self._sleep(0.25)
            down = self.down_since is not None and not self.connected and \
                self.clock.monotonic() - self.down_since > self.options.poll_after_seconds
            if not down or self.waiting_for_token or self.universe is None or self.rest is None:
                self.polling = False
                continue
            self.polling = True
            try:
                quotes = await asyncio.to_thread(self.rest.quote, list(self.universe.quote_keys))
            except (TokenError, BrokerError, DataError) as exc:
                log.warning("quote polling failed: %s", exc)
                await self._sleep(1.0)
                continue
            if quotes and not self.connected:
                self.ingest.on_json({"kind": "polled", "quotes": quotes, "tokens": self.universe.quote_keys},
                                    self.clock.now())

    async def _sim_clock(self) -> None:
        """Follow the sim's replay clock (``GET /_sim/state``) once a second."""
        assert self._stop is not None
        while not self._stop.is_set():
            with contextlib.suppress(BrokerError, ValueError, KeyError):
                state = await asyncio.to_thread(sim_state, self.rest_root, 2.0)
                self.sim_time = datetime.fromisoformat(state["sim_time"]).astimezone(UTC)
                self.sim_synthetic = bool(state.get("synthetic"))
            await self._sleep(0.5)

    async def _housekeeping(self) -> None:
        assert self._stop is not None
        last_watchdog = 0.0
        while not self._stop.is_set():
            await self._sleep(self.options.status_seconds)
            if self._stop.is_set():
                break
            self.ingest.flush()
            self._rates.append((self.clock.monotonic(), self.ingest.stats.ticks))
            if self.universe is not None and self.universe.options:
                self._update_oi()
                await self._recentre_chain()
            await self._backfill()
            self.phase = self.current_phase()
            status = self.health()
            if self.hub is not None:
                self.hub.publish_status(status)
            flowing = self.connected and not self.watchdog.stalled(self.clock.monotonic(), self._market_active())
            idle = not self._wanted()
            if idle and not self.ready_sent:  # idling by design (holiday, night) is a healthy start for systemd
                self.ready_sent = True
                self.notifier.ready(f"idle: market {self.phase}")
            self.notifier.status(self.status_line())
            mono = self.clock.monotonic()
            interval = (self.notifier.watchdog_seconds or 2.0) / 2
            if (flowing or idle) and mono - last_watchdog >= interval:
                self.notifier.watchdog()
                last_watchdog = mono
            if self._until_reached():
                log.info("--until %s reached", self.options.until)
                self.request_stop("until")

    def _update_oi(self) -> None:
        """Latest OI per option token and latest index prices from the ticks not yet in closed bars (for the
        PCR and the chain's re-centring)."""
        frames = self.ingest.bars._pending
        if not frames:
            return
        import polars as pl

        df = pl.concat(frames, how="diagonal_relaxed")
        names = {v: k for k, v in self.universe.tokens.items()}
        if "oi" in df.columns:
            last = df.drop_nulls("oi").group_by("symbol").agg(pl.col("oi").last())
            for sym, oi in zip(last["symbol"].to_list(), last["oi"].to_list(), strict=True):
                token = names.get(sym)
                if token in self.universe.options:
                    self._last_oi[token] = int(oi)
        spots = df.filter(pl.col("symbol").is_in(self.options.symbols)).group_by("symbol").agg(
            pl.col("last_price").last())
        self._spots.update(dict(zip(spots["symbol"].to_list(), spots["last_price"].to_list(), strict=True)))

    async def _recentre_chain(self) -> None:
        """Re-centre each index's option chain when spot has moved a full strike step from the chain's centre:
        subscribe the new strikes, unsubscribe those that fell out (the total stays within 3000)."""
        from tradesig.feed.universe import build_universe

        client = self._client
        if client is None or not self.connected or not self._instrument_rows:
            return
        moved = {}
        for symbol, centre in self.universe.chain_centre.items():
            spot = self._spots.get(symbol)
            step = float(self.settings.instruments[symbol].strike_step) if symbol in self.settings.instruments \
                else 50.0
            if spot is not None and abs(spot - centre) >= step:
                moved[symbol] = spot
        if not moved:
            return
        fresh = build_universe(self._instrument_rows, list(moved), self._market_day, spots=moved,
                               chain_strikes=self.options.chain_strikes, futures=False,
                               strike_steps={s: float(self.settings.instruments[s].strike_step) for s in moved
                                             if s in self.settings.instruments})
        old = {t for t, (sym, _, _) in self.universe.options.items() if sym in moved}
        new = set(fresh.options)
        try:
            if new - old:
                await client.subscribe(sorted(new - old), "full")
            if old - new:
                await client.unsubscribe(sorted(old - new))
        except _UPSTREAM_ERRORS as exc:
            log.warning("chain re-centring failed: %s", exc)
            return
        for token in old - new:
            self.universe.options.pop(token, None)
            self.universe.tokens.pop(token, None)
            self._last_oi.pop(token, None)
        self.universe.options.update(fresh.options)
        self.universe.tokens.update({t: fresh.tokens[t] for t in new})
        self.universe.chain_centre.update(fresh.chain_centre)
        self.ingest.symbols.update({t: fresh.tokens[t] for t in new})
        self.chain_recentres += 1
        log.info("option chain re-centred: %s", ", ".join(f"{s} {fresh.chain_centre[s]:g}" for s in moved))

    async def _backfill(self, final: bool = False) -> None:
        """Fetch dirty minutes from the historical API (after reconnects, restarts, late starts; ``final``: at
        shutdown, every dirty minute up to the market time, connected or not)."""
        if self.options.source == "breeze":
            self.ingest.bars.give_up_backfill()
            return
        upto = None
        if final:
            now = self._final_now()
            upto = now + timedelta(minutes=1) if now is not None else None
        requests = self.ingest.bars.backfill_requests(upto)
        if not requests:
            return
        if final and (self.rest is None or self.universe is None):
            with contextlib.suppress(TokenError, *_UPSTREAM_ERRORS):
                record = self._load_token()
                self.rest = self._kite_rest(record.access_token)
                self.universe = await asyncio.to_thread(self._resolve_universe, self.rest)
                self._adopt_universe()
        if self.rest is None or self.universe is None or not (self.connected or final):
            return
        tokens = {v: k for k, v in self.universe.tokens.items()}
        for symbol, first, last in requests:
            token = tokens.get(symbol)
            if token is None:
                self.ingest.bars.apply_backfill(symbol, _empty_bars(), first, last)
                continue
            try:
                bars = await asyncio.to_thread(self.rest.historical_1m, token, symbol, first, last)
            except (TokenError, BrokerError, DataError) as exc:
                key = (symbol, first)
                self._backfill_failures[key] = self._backfill_failures.get(key, 0) + 1
                log.warning("backfill of %s %s..%s failed (%s)", symbol, first, last, exc)
                if self._backfill_failures[key] >= 3:
                    self.ingest.bars.apply_backfill(symbol, _empty_bars(), first, last)
                continue
            added = self.ingest.bars.apply_backfill(symbol, bars, first, last)
            self.ingest.stats.backfilled += added
            log.info("backfilled %d bars of %s (%s..%s)", added, symbol, first, last)

    # ------------------------------------------------------------------------------------------------ hub
    def _on_ticks(self, rows: list[dict[str, Any]]) -> None:
        if self.hub is None:
            return
        for row in rows:
            self.hub.publish_tick(row)

    def _on_bar(self, bar: dict[str, Any]) -> None:
        if self.hub is not None:
            self.hub.publish_bar(bar)


def redact_in(text: str, secret: str | None) -> str:
    return text.replace(secret, redact(secret)) if secret else text


def _empty_bars():
    from tradesig.store.bars import empty_bars

    return empty_bars()


def run_feed(loaded: LoadedConfig, options: FeedOptions, *, clock: Clock | None = None) -> FeedSummary:
    """Run the feed in this process until ``--until``, SIGTERM or SIGINT; everything is flushed; returns the
    summary (the CLI exits 0). Raises :class:`ConfigError` for bad options."""
    service = FeedService(loaded, options, clock=clock)

    async def main() -> FeedSummary:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, service.request_stop, signal.Signals(sig).name)
        return await service.run()

    started = _time.monotonic()
    summary = asyncio.run(main())
    log.info("feed ran %.1f s", _time.monotonic() - started)
    return summary


__all__ = ["FeedService", "FeedOptions", "FeedSummary", "run_feed", "options_from_settings", "resolve_roots"]

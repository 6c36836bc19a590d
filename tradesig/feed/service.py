"""``tradesig feed``: the trading day's market-data service (asyncio): stream, persist, survive, serve.

One :class:`FeedService` owns the single upstream (a :class:`~tradesig.feed.sources.MarketSource`: the Kite
ticker, the sim — which *is* the Kite path with other roots and a replay clock — or Breeze) and runs these tasks on
one event loop:

- **upstream**: :func:`tradesig.feed.reconnect.reconnecting` opens sessions of the source (connect with the stored
  token, subscribe the indices, their current-month futures and the near option chain in full mode) and the source
  pumps frames into :class:`~tradesig.feed.ingest.Ingestor` (journal first). On a failure the pure policy
  (:mod:`tradesig.feed.backoff`) says what next: backoff with jitter (the attempt count resets once data flowed);
  for ``token`` *no retry* until the token file changes (checked every ``token_reload_seconds`` ≤ 1 s); for our
  own protocol misuse (``exc.ours``) the feed stops (exit 2). The stall watchdog aborts a connection that sends
  no data (heartbeats do not count) for ``stall_seconds`` while the market is open.
- **housekeeping** (every second): flush ticks to Parquet and close bars; backfill dirty minutes from the
  historical API; publish ``status`` to the hub; ``STATUS=``/``WATCHDOG=1`` to systemd; ``--until``.
- **poller**: while the ticker is down longer than ``poll_after_seconds`` (and the token is not rejected),
  ``/quote`` once a second (Kite's limit), journaled and stored as *polled* ticks.
- **hub** (``--serve``): the viewer WebSocket (:mod:`tradesig.feed.hub`).

Market time is the source's (:meth:`MarketSource.market_now`): the wall clock for Kite and Breeze, the sim's
replay clock for the sim, so phases, ``--until`` and the last bar's completeness follow the replayed day. Phases
come from :class:`tradesig.calendar.MarketCalendar`; outside the session the feed idles (no connection, WATCHDOG
still sent) instead of failing. A followed sim that is over for good (session ended, or gone) stops the feed.

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
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from tradesig.broker.tokens import TokenRecord, TokenStore
from tradesig.clock import IST, Clock, SystemClock, ist_date, to_ist
from tradesig.config import LoadedConfig, Settings
from tradesig.errors import BrokerError, CalendarCoverageError, ConfigError, DataError, TokenError
from tradesig.feed.backfill import Backfiller
from tradesig.feed.backoff import Backoff, Cause, StallWatchdog, classify
from tradesig.feed.barbuilder import GRACE, floor_minute
from tradesig.feed.notify import Notifier
from tradesig.feed.options import SOURCES, FeedOptions, FeedSummary, options_from_settings, resolve_roots
from tradesig.feed.reconnect import reconnecting
from tradesig.feed.sources import (
    SIM_API_KEY,
    UPSTREAM_ERRORS,
    Counters,
    KiteSource,
    LinkState,
    MarketSource,
    SimSource,
    make_source,
)

if TYPE_CHECKING:
    from tradesig.feed.chain import ChainTracker
    from tradesig.feed.hub import Hub
    from tradesig.feed.ingest import Ingestor
    from tradesig.feed.universe import Universe

log = logging.getLogger(__name__)
#: How far past a minute's end the market clock must be before :meth:`FeedService._minute_closer` closes it: the
#: bar builder's grace plus a few seconds for the next minute's first ticks to arrive.
CLOSE_AFTER = GRACE + timedelta(seconds=3)
#: Wall seconds between the minute closer's looks at the market clock.
CLOSER_POLL_SECONDS = 0.02

_ACTIVE = ("PRE_OPEN", "PRE_OPEN_MATCH", "OPEN", "CLOSING")


class _Phase(Protocol):
    name: str


class Calendar(Protocol):
    """What the feed asks of :class:`tradesig.calendar.MarketCalendar`."""

    def phase(self, ts: datetime) -> _Phase: ...
    def next_open(self, ts: datetime) -> datetime: ...


class FeedService:
    """The feed. ``loaded``: config + data home; ``options``: see :class:`FeedOptions`; ``clock``: wall clock
    (UTC); ``calendar``: a MarketCalendar (default: :func:`tradesig.calendar.get_calendar`); ``notifier``: sd_notify
    (default from the environment); ``rng``: jitter source of the backoff; ``breeze_module``: an imported
    breeze_connect (tests). Raises :class:`ConfigError` for a bad source or hub address."""

    def __init__(self, loaded: LoadedConfig, options: FeedOptions, *, clock: Clock | None = None,
                 calendar: Calendar | None = None, notifier: Notifier | None = None,
                 rng: random.Random | None = None, breeze_module: ModuleType | object | None = None) -> None:
        if options.source not in SOURCES:
            raise ConfigError(f"unknown feed source {options.source!r}", f"use one of {', '.join(SOURCES)}")
        self.loaded = loaded
        self.options = options
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.tokens = TokenStore(self.home, self.clock)
        self.policy = Backoff(options.backoff_base, options.backoff_cap, rng or random.Random())
        self.link = LinkState()
        self.counts = Counters()
        self.watchdog = StallWatchdog(options.stall_seconds)
        self.hub: Hub | None = self._make_hub() if options.serve else None
        self.source: MarketSource = make_source(self, breeze_module)
        self.ingest: Ingestor = None  # type: ignore[assignment]  # created in run() (recovery is I/O)
        self.chain: ChainTracker | None = None
        self.phase: str | None = None
        self._calendar = calendar
        self._stop: asyncio.Event | None = None
        self._stopped_by = "stop"
        self._ready_sent = False
        self._rates: deque[tuple[float, int]] = deque(maxlen=10)
        self._start_day: date | None = None

    def _make_hub(self) -> Hub:
        from tradesig.feed.hub import Hub, parse_listen

        opts = self.options
        try:
            host, port = parse_listen(opts.serve or "")
        except ValueError as exc:
            raise ConfigError(str(exc), "--serve takes [HOST:]PORT, e.g. 8765 or 0.0.0.0:8765") from None
        from tradesig.feed.hub_page import DashboardSources

        # the trader's page reads the store, the events log and the option universe through DashboardSources
        dashboard = DashboardSources(self.loaded, self.market_now,
                                     lambda: self.universe.options if self.universe is not None else {},
                                     written=self._bars_written)
        return Hub(host, port, token=opts.hub_token, publish_token=opts.publish_token,
                   client_queue=opts.client_queue, send_buffer=opts.hub_send_buffer, health=self.health,
                   clock=self.clock, dashboard=dashboard)

    def _bars_written(self) -> None:
        """For the page's store reads (a hub worker thread): wait until every bar the hub has published is in the
        store — the bars collected since the last flush are handed to the ingestor's writer thread (on the event
        loop, which owns them), then the writer is waited for."""
        ingest, loop = getattr(self, "ingest", None), getattr(self, "_loop", None)
        if ingest is None or ingest.writer is None or loop is None or not loop.is_running():
            return

        async def commit() -> None:
            ingest.commit_bars()

        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:  # no loop in this thread (the hub's page worker)
            on_loop = False
        if on_loop:  # called on the loop itself: commit here (waiting for the loop would deadlock)
            ingest.commit_bars()
        else:
            with contextlib.suppress(Exception):  # a stopping loop: the feed's close writes and waits for everything
                asyncio.run_coroutine_threadsafe(commit(), loop).result(timeout=30)
        ingest.writer.barrier()

    # ------------------------------------------------------------------------------------------ read-only views
    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def home(self) -> Path:
        return Path(self.loaded.home)

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def waiting_for_token(self) -> bool:
        return self.link.waiting_for_token

    @property
    def connect_attempts(self) -> int:
        return self.counts.connect_attempts

    @property
    def attempts_per_token(self) -> dict[tuple[int, int, int] | None, int]:
        return self.counts.attempts_per_token

    @property
    def chain_recentres(self) -> int:
        return self.counts.chain_recentres

    @property
    def universe(self) -> Universe | None:
        return self.source.universe

    @property
    def api_key(self) -> str | None:
        return self.source.api_key if isinstance(self.source, KiteSource) else None

    # ------------------------------------------------------------------------------------------------ time
    def _calendar_obj(self) -> Calendar:
        if self._calendar is None:
            from tradesig.calendar import get_calendar

            self._calendar = get_calendar(self.loaded)
        return self._calendar

    def market_now(self) -> datetime:
        """The market's time: the sim's replay clock for ``sim`` (when known), else the wall clock."""
        return self.source.market_now()

    def current_phase(self) -> str:
        """Session phase name at :meth:`market_now` (``UNKNOWN`` beyond the calendar's coverage)."""
        try:
            return self._calendar_obj().phase(self.market_now()).name
        except CalendarCoverageError:
            return "UNKNOWN"

    def market_active(self) -> bool:
        """Is silence abnormal now? Only in continuous trading (OPEN): in pre-open the indices are quiet until the
        09:08 match, and after the close ticks thin out."""
        return self.current_phase() in ("OPEN", "UNKNOWN")

    def _until_reached(self) -> bool:
        """``--until`` has passed in market time, and the source has delivered what it sent up to then."""
        if self.options.until is None or not self.source.market_time_known():
            return False
        now = to_ist(self.market_now())
        if now.time() < self.options.until or (self._start_day is not None and now.date() < self._start_day):
            return False
        return self.source.drained(datetime.combine(now.date(), self.options.until, IST))

    def _wanted(self) -> bool:
        """Should the feed be connected now? (idle outside the session: holidays, nights)."""
        if not self.source.idles_outside_session():
            return True
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

    # ------------------------------------------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        """The ``/health`` and ``status`` document: connected, polling, waiting_for_token, phase, last tick age
        (s), ticks/s (over the last ~10 s), gaps, reconnects, token expiry (ISO UTC), source, market time, PCR,
        and ``partial_minutes`` (per symbol: 1m bars stored partial, still waiting for a backfill)."""
        mono = self.clock.monotonic()
        rate = 0.0
        if len(self._rates) >= 2:
            (t0, n0), (t1, n1) = self._rates[0], self._rates[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        age = None if self.watchdog.last_data is None else round(mono - self.watchdog.last_data, 3)
        stats = self.ingest.stats if self.ingest is not None else None
        link = self.link
        doc: dict[str, Any] = {
            "source": self.options.source, "connected": link.connected, "polling": link.polling,
            "waiting_for_token": link.waiting_for_token, "phase": self.phase or self.current_phase(),
            "last_tick_age_s": age, "ticks_per_s": round(rate, 1),
            "ticks": stats.ticks if stats else 0, "gaps": stats.gaps if stats else 0,
            "reconnects": self.counts.reconnects, "token_expiry": link.token_expiry,
            "market_time": self.market_now(), "last_error": link.last_error,
        }
        if self.ingest is not None:
            doc["partial_minutes"] = {s: len(m) for s, m in sorted(self.ingest.bars.owed.items()) if m}
        pcr = self.chain.pcr() if self.chain is not None else None
        if pcr is not None:
            doc["pcr"] = pcr
        return doc

    def status_line(self) -> str:
        h = self.health()
        expiry = to_ist(h["token_expiry"]).strftime("%d %b %H:%M IST") if h["token_expiry"] else "-"
        state = "connected" if h["connected"] else ("token expired" if h["waiting_for_token"] else
                                                    ("polling" if h["polling"] else "down"))
        return (f"{state}; {h['ticks_per_s']} ticks/s; gaps {h['gaps']}; reconnects {h['reconnects']}; "
                f"phase {h['phase']}; token until {expiry}")

    # ------------------------------------------------------------------------------------- what sources use
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def stopped(self) -> None:
        assert self._stop is not None
        await self._stop.wait()

    def viewers_waiting(self) -> bool:
        return self.hub is not None and self.hub.client_count > 0

    async def on_message(self) -> None:
        """Recompute the market phase (a few µs) for every message; a change is logged and sent to viewers."""
        phase = self.current_phase()
        if phase != self.phase:
            log.info("market phase %s -> %s", self.phase, phase)
            self.phase = phase
            if self.hub is not None:
                self.hub.publish_status(self.health())

    def load_token(self, broker: str) -> TokenRecord:
        record = self.tokens.load(broker)
        self.link.token_expiry = record.expires_at
        return record

    # ------------------------------------------------------------------------------------------------ run
    def request_stop(self, reason: str = "stop") -> None:
        """Ask the service to flush everything and return (safe from signal handlers on the loop)."""
        self._stopped_by = reason
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> FeedSummary:
        """Run until :meth:`request_stop`, ``--until``, the end of a followed sim, or SIGTERM (in
        :func:`run_feed`); returns the summary. Raises :class:`UpstreamMisuse` on our own protocol misuse,
        :class:`tradesig.store.lock.HomeLocked` when another feed writes this data home."""
        from tradesig.store.lock import hold

        with hold(self.home, "feed"):  # one feed per data home: a second one exits 2 naming this PID
            return await self._run()

    async def _run(self) -> FeedSummary:
        from tradesig.feed.chain import ChainTracker
        from tradesig.feed.ingest import Ingestor

        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._start_day = ist_date(self.market_now()) if self.source.market_time_known() and \
            not isinstance(self.source, SimSource) else None
        self.ingest = Ingestor(self.home, self.clock, source=self.options.source, on_bar=self._on_bar,
                               on_ticks=self._on_ticks if self.hub is not None else None,
                               on_tick_array=self.hub.publish_tick_array if self.hub is not None else None,
                               flush_ticks=self.options.flush_ticks, write_behind=True)
        self.backfiller = Backfiller(self.source, self.ingest, self.policy, self.clock)
        if isinstance(self.source, KiteSource):
            self.chain = ChainTracker(self.source, self.ingest, self.settings, self.options, self.counts)
        await asyncio.to_thread(self.ingest.recover)
        today = ist_date(self.clock.now())
        for day in sorted(set(self.ingest.journal.dates()) | {today})[-2:]:
            self.ingest.seed_bars(day)
        if self.hub is not None:
            await self.hub.start()
        coros = [self._upstream(), self._housekeeping(), self._minute_closer(), *self.source.tasks()]
        if self.source.polls:
            coros.append(self._poller())
        tasks = [asyncio.create_task(c) for c in coros]
        try:
            waiter = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not waiter and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            self._stop.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                # a task's own error is raised above (once); here every task only has to have ended
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._shutdown()
        return self._summary()

    async def _shutdown(self) -> None:
        self.notifier.stopping()
        final_now = self._final_now()
        self.ingest.end_gaps(final_now)
        # every minute still owed a backfill gets one last attempt — not only those of a gap open at the end: a
        # gap that closed while its backfill was backing off (a refused session, a rate limit) is owed too
        with contextlib.suppress(*UPSTREAM_ERRORS):
            await asyncio.wait_for(self.backfiller.run(connected=self.link.connected, final_now=final_now,
                                                       final=True), 60)
        self.ingest.close(now=final_now)
        if self.hub is not None:
            self.hub.publish_status(self.health())
            await self.hub.stop()

    def _summary(self) -> FeedSummary:
        s, c = self.ingest.stats, self.counts
        log.info("feed stopped (%s): %d ticks, %d gaps, %d reconnects", self._stopped_by, s.ticks, s.gaps,
                 c.reconnects)
        summary = FeedSummary(self.options.source, s.ticks, s.polled_ticks, s.ticks_written, dict(s.bars_written),
                              s.gaps, c.reconnects, c.token_waits, s.recovered_ticks, c.connect_attempts,
                              self._stopped_by)
        # One ``feed_stats`` event per run, dated by the market's time (the replayed day for the sim), for report.
        synthetic = isinstance(self.source, SimSource) and self.source.synthetic
        owed = {s: len(m) for s, m in sorted(self.ingest.bars.owed.items()) if m}
        self.ingest.events.append("feed_stats", {**dataclasses.asdict(summary), "synthetic": synthetic,
                                                 "partial_minutes": owed}, self.market_now())
        return summary

    def _final_now(self) -> datetime | None:
        """The time that decides whether the last open minute is complete: the market's, never beyond it."""
        return self.source.settled_now()

    # ------------------------------------------------------------------------------------------------ upstream
    async def _open_session(self) -> object | None:
        """Idle while the market is shut (holidays, nights), then open a session of the source."""
        while not self._wanted():
            self.phase = self.current_phase()
            await self._sleep(30.0)
            if self.stopping():
                return None
        return await self.source.open()

    async def _upstream(self) -> None:
        assert self._stop is not None
        async for link in reconnecting(self._open_session, classify=classify, policy=self.policy, stop=self._stop,
                                       retry_on=UPSTREAM_ERRORS, close=self.source.close,
                                       wait_token=self._wait_token_change, on_down=self._on_disconnected):
            self._on_connected()
            async with link:
                await self.source.pump(link)

    def _on_connected(self) -> None:
        # minutes that began before now were not watched whole: they cannot be complete for new symbols
        if self.source.market_time_known():
            self.ingest.bars.stream_started(self.market_now() - GRACE)
        self.link.connected = True
        self.link.polling = False
        self.link.down_since = None
        self.backfiller.new_session()
        if not self._ready_sent:
            self._ready_sent = True
            self.notifier.ready(self.status_line())
        log.info("feed connected and subscribed (%s)", self.options.source)

    def _on_disconnected(self, cause: Cause, error: BaseException | None) -> None:
        if error is not None:
            text = error.message if isinstance(error, TokenError) else str(error)
            self.link.last_error = f"{type(error).__name__}: {self.source.redact(text)}"
        was = self.link.connected
        self.link.connected = False
        if self.link.down_since is None:
            self.link.down_since = self.clock.monotonic()
        self.ingest.mark_disconnect(cause)
        if was:
            self.counts.reconnects += 1
        log.warning("upstream lost (%s): %s", cause, self.link.last_error or "")

    async def _wait_token_change(self, reason: str) -> None:
        """No retry with this token: wait until the token file's fingerprint changes (or stop)."""
        broker, fingerprint = self.source.broker, self.source.fingerprint
        self.link.waiting_for_token = True
        self.source.rest = None  # its token is dead: no /quote poll may use it (a new session makes a new one)
        self.counts.token_waits += 1
        log.warning("token unusable (%s); waiting for a new token file %s (run 'tradesig login')",
                    self.source.redact(reason), self.tokens.path(broker))
        while not self.stopping():
            if self.tokens.fingerprint(broker) != fingerprint:
                log.info("token file changed: reconnecting")
                break
            await self._sleep(self.options.token_reload_seconds)
        self.link.waiting_for_token = False

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))

    # ------------------------------------------------------------------------------------------------ helpers
    async def _poller(self) -> None:
        """While the stream is down > poll_after_seconds (and the token is not rejected): /quote each second."""
        link = self.link
        while not self.stopping():
            await self._sleep(0.25)
            down = link.down_since is not None and not link.connected and \
                self.clock.monotonic() - link.down_since > self.options.poll_after_seconds
            rest, uni = self.source.rest, self.source.universe
            if not down or link.waiting_for_token or uni is None or rest is None:
                link.polling = False
                continue
            link.polling = True
            try:
                quotes = await asyncio.to_thread(rest.quote, list(uni.quote_keys))
            except (TokenError, BrokerError, DataError) as exc:
                log.warning("quote polling failed: %s", exc)
                await self._sleep(1.0)
                continue
            if quotes and not link.connected:
                self.ingest.on_json({"kind": "polled", "quotes": quotes, "tokens": uni.quote_keys}, self.clock.now())

    async def _minute_closer(self) -> None:
        """Close (store and publish) each minute bar as soon as the market clock is :data:`CLOSE_AFTER` past its
        end and the next minute's ticks are in, instead of at the next ``status_seconds`` housekeeping: one wall
        second of a 500x replay is over 8 market minutes, which delayed every hourly close — and ``trade start``'s
        paper entries — by minutes (issue 13 item 8). Flushes only when new ticks arrived while a minute is owed."""
        closed: datetime | None = None   # the minute boundary before which every bar is out
        ticks_then = -1
        while not self.stopping():
            await self._sleep(CLOSER_POLL_SECONDS)
            if not self.source.market_time_known():
                continue
            target = floor_minute(self.market_now() - CLOSE_AFTER)
            if closed is None:
                closed = target
                continue
            if target <= closed or self.ingest.stats.ticks == ticks_then:
                continue
            ticks_then = self.ingest.stats.ticks
            self.ingest.flush()
            done = self.ingest.bars.boundary()
            if done is not None and done >= target:
                closed = target

    async def _housekeeping(self) -> None:
        last_watchdog = 0.0
        while not self.stopping():
            await self._sleep(self.options.status_seconds)
            if self.stopping():
                break
            self.ingest.flush()
            self._rates.append((self.clock.monotonic(), self.ingest.stats.ticks))
            if self.chain is not None and self.universe is not None and self.universe.options:
                self.chain.update()
                await self.chain.recentre()
            await self.backfiller.run(connected=self.link.connected)
            self.phase = self.current_phase()
            if self.hub is not None:
                self.hub.publish_status(self.health())
            flowing = self.link.connected and not self.watchdog.stalled(self.clock.monotonic(), self.market_active())
            idle = not self._wanted()
            if idle and not self._ready_sent:  # idling by design (holiday, night) is a healthy start for systemd
                self._ready_sent = True
                self.notifier.ready(f"idle: market {self.phase}")
            self.notifier.status(self.status_line())
            mono = self.clock.monotonic()
            interval = (self.notifier.watchdog_seconds or 2.0) / 2
            if (flowing or idle) and mono - last_watchdog >= interval:
                self.notifier.watchdog()
                last_watchdog = mono
            over = self.source.finished()
            if over is not None:
                log.info("%s: stopping", over)
                self.request_stop(over)
            elif self._until_reached():
                log.info("--until %s reached", self.options.until)
                self.request_stop("until")

    # ------------------------------------------------------------------------------------------------ hub
    def _on_ticks(self, rows: list[dict[str, Any]]) -> None:
        if self.hub is not None:
            self.hub.publish_ticks(rows)

    def _on_bar(self, bar: dict[str, Any]) -> None:
        if self.hub is not None:
            self.hub.publish_bar(bar)


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


__all__ = ["FeedService", "FeedOptions", "FeedSummary", "run_feed", "options_from_settings", "resolve_roots",
           "SIM_API_KEY"]

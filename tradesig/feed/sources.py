"""The feed's upstreams behind one interface: :class:`MarketSource` (Kite, the sim, Breeze).

A source opens a session (:meth:`MarketSource.open`), pumps it into the ingestor (:meth:`MarketSource.pump`),
closes it, and says what it offers beyond streaming: REST ``/quote`` polling and historical backfill
(:attr:`MarketSource.rest`; Breeze's, in :mod:`tradesig.feed.breeze_source`, backfills only), its market clock
(:meth:`MarketSource.market_now`: the wall clock, or the sim's replay clock), and extra tasks (the sim's clock
follower). The reconnect loop around it is :func:`tradesig.feed.reconnect.reconnecting`, written once; the
service (:mod:`tradesig.feed.service`) never branches on the source's name.

Kite facts (Kite Connect v3 WebSocket docs): the ticker rejects a dead token with HTTP 403 at the handshake, and
an open connection whose token expires receives a text message ``{"type": "error", "data": "...token..."}`` and
is closed — both mean ``token`` (wait for ``tradesig login``), never a backoff-and-retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tradesig.broker.tokens import TokenRecord, TokenStore
from tradesig.clock import IST, Clock, ist_date
from tradesig.config import LoadedConfig, Settings
from tradesig.errors import BrokerError, DataError, ProtocolError, TokenError, redact
from tradesig.feed.backoff import StallDetected, StallWatchdog
from tradesig.feed.options import FeedOptions, SourceName, resolve_roots
from tradesig.feed.reconnect import Link

if TYPE_CHECKING:
    from tradesig.feed.ingest import Ingestor
    from tradesig.feed.kite_ws import KiteTickerClient
    from tradesig.feed.poller import KiteRest
    from tradesig.feed.universe import Universe

log = logging.getLogger(__name__)

SIM_API_KEY = "tradesig-sim"
#: exceptions an upstream session may end with (classified, then retried or waited out)
UPSTREAM_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, ConnectionClosed, InvalidStatus, InvalidHandshake, StallDetected, TokenError,
    BrokerError, ProtocolError, DataError)


@dataclass
class LinkState:
    """The upstream link as the status line shows it; ``down_since``/monotonic seconds, ``token_expiry`` UTC."""

    connected: bool = False
    polling: bool = False
    waiting_for_token: bool = False
    down_since: float | None = None
    last_error: str | None = None
    token_expiry: datetime | None = None


@dataclass
class Counters:
    """What the run counted: reconnects after a live session, token waits, connection attempts (in total and
    per token-file fingerprint), option-chain re-centrings."""

    reconnects: int = 0
    token_waits: int = 0
    connect_attempts: int = 0
    attempts_per_token: dict[tuple[int, int, int] | None, int] = field(default_factory=dict)
    chain_recentres: int = 0


class SourceHost(Protocol):
    """What a source uses of the feed that runs it (implemented by :class:`tradesig.feed.service.FeedService`)."""

    loaded: LoadedConfig
    options: FeedOptions
    clock: Clock
    tokens: TokenStore
    link: LinkState
    counts: Counters
    watchdog: StallWatchdog
    ingest: Ingestor

    def market_active(self) -> bool: ...
    def stopping(self) -> bool: ...
    async def stopped(self) -> None: ...
    def viewers_waiting(self) -> bool: ...
    async def on_message(self) -> None: ...
    def load_token(self, broker: str) -> TokenRecord: ...


class MarketSource:
    """One upstream. Subclasses implement :meth:`open`, :meth:`pump`, :meth:`close`; ``name`` is what the
    summary and stored rows say, ``broker`` whose token file is used."""

    name: ClassVar[SourceName]
    broker: ClassVar[str] = "kite"

    def __init__(self, host: SourceHost) -> None:
        self.host = host
        self.fingerprint: tuple[int, int, int] | None = None

    # what the source offers ------------------------------------------------------------------------------
    rest: KiteRest | None = None
    universe: Universe | None = None
    #: REST ``/quote`` polling while the stream is down, and historical backfill of gap minutes
    polls: ClassVar[bool] = True
    backfills: ClassVar[bool] = True

    @property
    def settings(self) -> Settings:
        return self.host.loaded.settings

    def market_now(self) -> datetime:
        """The market's time (UTC): the wall clock unless the source replays a day."""
        return self.host.clock.now()

    def market_time_known(self) -> bool:
        return True

    def settled_now(self) -> datetime | None:
        """The latest market time known for certain (decides whether the last open minute ended)."""
        return self.market_now()

    def idles_outside_session(self) -> bool:
        return self.host.options.idle_outside_session

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """Extra coroutines to run beside the upstream loop (the sim's clock follower)."""
        return []

    def redact(self, text: str) -> str:
        return text

    def finished(self) -> str | None:
        """Why this upstream is over for good (the feed then stops, exit 0); None while it may still deliver."""
        return None

    def drained(self, target: datetime) -> bool:
        """Has everything the upstream sent up to market time ``target`` been read? (Live: yes — the wall clock
        is the market's. A replay may run ahead of what its socket has delivered on a loaded machine.)"""
        return True

    # the session -----------------------------------------------------------------------------------------
    async def open(self) -> Any:
        raise NotImplementedError

    async def pump(self, link: Link[Any]) -> None:
        raise NotImplementedError

    async def close(self, session: Any) -> None:
        raise NotImplementedError

    async def prepare_backfill(self) -> None:
        """Make :attr:`rest` and :attr:`universe` usable for a last backfill at shutdown (no-op if they are)."""

    def _credentials(self) -> TokenRecord:
        self.fingerprint = self.host.tokens.fingerprint(self.broker)
        return self.host.load_token(self.broker)

    def _count_attempt(self) -> None:
        counts = self.host.counts
        counts.connect_attempts += 1
        counts.attempts_per_token[self.fingerprint] = counts.attempts_per_token.get(self.fingerprint, 0) + 1


class KiteSource(MarketSource):
    """Kite Connect: the ticker WebSocket (binary frames, full mode) plus REST for quotes, instruments, history."""

    name: ClassVar[SourceName] = "kite"
    #: the ticker socket's SO_RCVBUF (None: the kernel's autotuning)
    receive_buffer: ClassVar[int | None] = None

    def __init__(self, host: SourceHost) -> None:
        super().__init__(host)
        self.rest_root, self.ws_root = resolve_roots(host.loaded, host.options)
        self.api_key = host.options.api_key or self.settings.kite.api_key
        self.client: KiteTickerClient | None = None
        self.instrument_rows: list[dict[str, Any]] = []
        self.market_day: Any = None
        self._access_token: str | None = None

    def redact(self, text: str) -> str:
        token = self._access_token
        return text.replace(token, redact(token)) if token else text

    def _make_rest(self, access_token: str) -> KiteRest:
        from tradesig.broker.kite import make_kite
        from tradesig.feed.poller import KiteRest

        kite = make_kite(self.settings, access_token, api_key=self.api_key, root=self.rest_root)
        return KiteRest(kite, self.rest_root)

    async def open(self) -> KiteTickerClient:
        """Connect with the stored token, resolve the universe once, subscribe it in full mode."""
        from tradesig.feed.kite_ws import KiteTickerClient

        record = self._credentials()
        self._access_token = record.access_token
        self._count_attempt()
        client = KiteTickerClient(self.ws_root, self.api_key, record.access_token,
                                  receive_buffer=self.receive_buffer)
        self.client = client
        try:
            await client.connect()
            if self.rest is None or self.rest.kite.access_token != record.access_token:
                self.rest = self._make_rest(record.access_token)
            if self.universe is None:
                await self._resolve_universe()
            assert self.universe is not None
            await client.subscribe(self.universe.all_tokens(), "full")
        except BaseException:
            await self.close(client)
            raise
        return client

    async def close(self, session: KiteTickerClient) -> None:
        session.abort()
        if self.client is session:
            self.client = None

    async def pump(self, link: Link[KiteTickerClient]) -> None:
        """Read frames until stop (returns) or failure (raises): binary frames go to the ingestor (journal
        first), a silent connection raises :class:`StallDetected`, Kite's token-expired message raises
        :class:`TokenError`."""
        from tradesig.feed.kite_protocol import decode_text

        host, client = self.host, link.session
        watchdog = host.watchdog
        watchdog.reset(host.clock.monotonic())
        while not host.stopping():
            mono = host.clock.monotonic()
            active = host.market_active()
            try:
                msg = await asyncio.wait_for(client.recv(), timeout=min(1.0, max(0.05, watchdog.remaining(mono)))
                                             if active else 1.0)
            except TimeoutError:
                if watchdog.stalled(host.clock.monotonic(), active):
                    raise StallDetected(f"no market data for {host.options.stall_seconds:g} s") from None
                continue
            await host.on_message()
            if isinstance(msg, (bytes, bytearray)):
                if host.ingest.on_frame(bytes(msg), host.clock.now()):
                    watchdog.data(host.clock.monotonic())
                    link.data()
                    if host.viewers_waiting():
                        # recv() returns without yielding while frames are buffered: let the viewers' writers
                        # run between frames, or a backlog would build up and drop every viewer at once
                        await asyncio.sleep(0)
                continue
            text = decode_text(msg)
            if text.type == "error":
                log.warning("ticker error message: %s", text.data)
                host.link.last_error = str(text.data)
                if "token" in str(text.data).lower():
                    raise TokenError(f"ticker: {text.data}", "run 'tradesig login'")

    async def _resolve_universe(self) -> None:
        """Quotes of the indices (spot, market date) and the instruments dumps → :class:`Universe`."""
        from tradesig.feed.universe import build_universe
        from tradesig.market import INDICES

        rest, symbols = self.rest, self.host.options.symbols
        assert rest is not None
        keys = [f"{INDICES[s].exchange}:{INDICES[s].tradingsymbol}" for s in symbols]
        spots: dict[str, float] = {}
        today = ist_date(self.market_now())
        quotes = await asyncio.to_thread(rest.quote, keys)
        for s in symbols:
            q = quotes.get(f"{INDICES[s].exchange}:{INDICES[s].tradingsymbol}") or {}
            if q.get("last_price"):
                spots[s] = float(q["last_price"])
            ts = q.get("timestamp")
            if isinstance(ts, datetime):
                today = (ts if ts.tzinfo else ts.replace(tzinfo=IST)).astimezone(IST).date()
        rows: list[dict[str, Any]] = []
        for exchange in sorted({INDICES[s].derivatives_exchange for s in symbols}):
            try:
                rows.extend(await asyncio.to_thread(rest.instruments, exchange))
            except DataError as exc:
                log.warning("instruments of %s unavailable (%s): no futures/options for it", exchange, exc)
        steps = {s: float(self.settings.instruments[s].strike_step) for s in symbols
                 if s in self.settings.instruments}
        self.instrument_rows, self.market_day = rows, today
        uni = build_universe(rows, symbols, today, spots=spots, chain_strikes=self.host.options.chain_strikes,
                             strike_steps=steps)
        log.info("subscribing %d instruments (%s; futures %s; %d options)", len(uni.tokens), ", ".join(symbols),
                 ", ".join(uni.index_future.values()) or "none", len(uni.options))
        self.universe = uni
        self.host.ingest.adopt_universe(uni.tokens, uni.index_future, set(symbols) | set(uni.index_future.values()))
        self.host.ingest.bars.owe_stored_partial(today)  # the market day's partial bars (a replay's day too)

    async def prepare_backfill(self) -> None:
        if self.rest is not None and self.universe is not None:
            return
        with contextlib.suppress(*UPSTREAM_ERRORS):
            record = self.host.load_token(self.broker)
            self.rest = self._make_rest(record.access_token)
            await self._resolve_universe()


class SimSource(KiteSource):
    """A running ``tradesig sim serve``: the Kite code path with the sim's roots, and the sim's replay clock
    (``GET /_sim/state``) as the market's time. A sim unreachable for ``sim_gone_seconds`` (wall) after it was
    seen, or one whose replay has ended, ends the feed (:attr:`over`)."""

    name: ClassVar[SourceName] = "sim"
    #: a small receive buffer: a feed trailing the replay leaves its backlog in the sim's socket, where the sim's
    #: pacing sees it and holds the replay (docs/sim.md), not in megabytes of this kernel's autotuned buffer
    receive_buffer: ClassVar[int | None] = 64 * 1024

    def __init__(self, host: SourceHost) -> None:
        super().__init__(host)
        if self.api_key.startswith("YOUR_"):
            self.api_key = SIM_API_KEY
        self.sim_time: datetime | None = None
        self._sim_read: tuple[float, float] = (0.0, 1.0)  # (monotonic s when sim_time was read, replay speed)
        self.synthetic = False
        self._over: str | None = None
        self._session_over = False

    def market_now(self) -> datetime:
        """The sim's replay time: its last reading advanced by the wall time since, times the replay speed."""
        if self.sim_time is None:
            return self.host.clock.now()
        read_at, speed = self._sim_read
        if read_at <= 0.0:
            return self.sim_time
        return self.sim_time + timedelta(seconds=max(0.0, self.host.clock.monotonic() - read_at) * speed)

    def market_time_known(self) -> bool:
        return self.sim_time is not None

    def settled_now(self) -> datetime | None:
        return self.sim_time

    def idles_outside_session(self) -> bool:
        return False

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [self._follow_clock()]

    def finished(self) -> str | None:
        if self._over == "sim session over" and self.sim_time is not None and \
                not self.drained(_session_close(self.sim_time)):
            return None
        return self._over

    def drained(self, target: datetime) -> bool:
        """The ticks read have reached ``target`` (less the 2 s grace), the stream is down, or the sim has sent its
        whole session and no market data arrived for 2 s of wall time (a replayed day may end early)."""
        from tradesig.feed.barbuilder import GRACE

        clock = self.host.ingest.bars.market_clock
        if clock is not None and clock >= target - GRACE or not self.host.link.connected:
            return True  # caught up, or nothing more can arrive on a connection that is down
        last = self.host.watchdog.last_data
        quiet = last is None or self.host.clock.monotonic() - last > 2.0
        return self._session_over and quiet

    async def _follow_clock(self) -> None:
        """Follow the sim's replay clock (``GET /_sim/state``) every half second. The sim is over for good when
        its replayed session has ended and its clock is past that day's close (15:30 IST), or when it has not
        answered for ``sim_gone_seconds`` of wall time."""
        from tradesig.feed.follow import sim_state

        host = self.host
        last_seen = host.clock.monotonic()
        while not host.stopping():
            try:
                state = await asyncio.to_thread(sim_state, self.rest_root, 2.0)
                self.sim_time = datetime.fromisoformat(state["sim_time"]).astimezone(UTC)
                self._sim_read = (host.clock.monotonic(), float(state.get("speed") or 1.0))
                self.synthetic = bool(state.get("synthetic"))
                last_seen = host.clock.monotonic()
                self._session_over = bool(state.get("session_over"))
                if self._session_over and self.sim_time >= _session_close(self.sim_time):
                    self._over = "sim session over"
            except (BrokerError, ValueError, KeyError):
                if host.clock.monotonic() - last_seen > host.options.sim_gone_seconds:
                    self._over = "sim gone"
            await asyncio.sleep(0.5)


def _session_close(ts: datetime) -> datetime:
    """The regular session's close (UTC) on ``ts``'s IST date (tradesig.store.bars.session_hours)."""
    from tradesig.store.bars import session_hours

    day = ist_date(ts)
    close_m = session_hours(day)[1]
    return datetime(day.year, day.month, day.day, close_m // 60, close_m % 60, tzinfo=IST).astimezone(UTC)


def make_source(host: SourceHost, breeze_module: Any = None) -> MarketSource:
    """The :class:`MarketSource` for ``host.options.source`` (validated by the service)."""
    name = host.options.source
    if name == "breeze":
        from tradesig.feed.breeze_source import BreezeSource

        return BreezeSource(host, breeze_module)
    return SimSource(host) if name == "sim" else KiteSource(host)


__all__ = ["MarketSource", "KiteSource", "SimSource", "make_source", "LinkState", "Counters",
           "SourceHost", "UPSTREAM_ERRORS", "SIM_API_KEY"]

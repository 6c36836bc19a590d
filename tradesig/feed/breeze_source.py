"""The feed's ICICI Breeze upstream: the official ``breeze_connect`` client's socket.io quote stream, Breeze's
historical API (v2) for backfill, and — when the root is ``tradesig sim`` — the sim's replay clock.

Root (:func:`breeze_root`): ``--sim-url`` for ``--source breeze``, else ``TRADESIG_BREEZE_ROOT`` / ``breeze.root``,
else ICICI's hosts. A root on loopback is a sim: the market's time is its replay clock (``GET <root>/_sim/state``,
which the sim's Breeze port also serves), and the feed ends with its replayed session, as ``--source sim`` does.

Reconnects: breeze_connect does not report a lost stream, so :class:`~tradesig.feed.breeze_ws.BreezeStream`
listens for python-socketio's ``disconnect`` and the pump raises :class:`BrokerError` (the reconnect loop backs off
and opens a new session) — unless ``customerdetails`` then refuses the session (ICICI closed the stream because it
expired): :class:`TokenError`, as is breeze_connect's "Session key is expired" from ``generate_session``; the feed
then waits for a new token file (``tradesig login --broker breeze`` hot-reloads it). A silent stream raises
``StallDetected``. Gap minutes are backfilled from
``get_historical_data_v2`` (interval 1minute, cash), rate limited to one call per
:data:`HISTORICAL_INTERVAL` seconds (ICICI: 100 calls a minute).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import polars as pl

from tradesig.clock import IST
from tradesig.errors import BrokerError, TokenError
from tradesig.feed.backoff import StallDetected
from tradesig.feed.options import SourceName
from tradesig.feed.poller import RateLimiter, candles_to_bars
from tradesig.feed.reconnect import Link
from tradesig.feed.sources import MarketSource, SimSource, SourceHost
from tradesig.feed.universe import Universe
from tradesig.market import INDICES

if TYPE_CHECKING:
    from tradesig.feed.breeze_ws import BreezeStream

HISTORICAL_INTERVAL = 0.65  # seconds between historical calls: ICICI allows 100 API calls a minute
_SESSION_TEXTS = ("session", "Session", "Resource not available")


def breeze_root(host: SourceHost, env: dict[str, str] | None = None) -> str | None:
    """Where the feed's Breeze endpoints are: ``--sim-url``, ``TRADESIG_BREEZE_ROOT``, ``breeze.root``; None:
    ICICI's hosts (breeze_connect's own constants)."""
    env = dict(os.environ) if env is None else env
    root = host.options.sim_url or env.get("TRADESIG_BREEZE_ROOT") or host.loaded.settings.breeze.root
    return root.rstrip("/") if root else None


def is_loopback(root: str | None) -> bool:
    """Whether ``root`` is an http URL on a loopback address (``tradesig sim``)."""
    from tradesig.feed.hub import is_loopback_host

    return is_loopback_host(urlsplit(root or "").hostname or "")


def utc_stamp(ts: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.000Z`` (breeze_connect's documented from/to format)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class BreezeRest:
    """Breeze's historical API on a session's ``BreezeConnect`` client (blocking; run in a worker thread)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.limiter = RateLimiter(HISTORICAL_INTERVAL)

    def historical_1m(self, token: int, symbol: str, first: datetime, last: datetime) -> pl.DataFrame:
        """1m bars of index ``symbol`` starting in [first, last] (aware), BAR_SCHEMA, status "backfilled".

        Asks for the whole IST days around the range (ICICI's docs do not say in which zone from/to are read) and
        keeps the rows whose ``datetime`` (IST text) falls inside it. Raises :class:`TokenError` for a session
        ICICI refuses, :class:`BrokerError` for any other error answer.
        """
        from tradesig.feed.breeze_ws import BREEZE_CODES

        exchange, code = BREEZE_CODES[symbol]
        day0 = datetime.combine(first.astimezone(IST).date(), datetime.min.time(), IST)
        day1 = datetime.combine(last.astimezone(IST).date(), datetime.min.time(), IST) + timedelta(days=1)
        self.limiter.wait()
        try:
            answer = self.client.get_historical_data_v2(interval="1minute", from_date=utc_stamp(day0),
                                                        to_date=utc_stamp(day1 - timedelta(seconds=1)),
                                                        stock_code=code, exchange_code=exchange,
                                                        product_type="cash")
        except Exception as exc:  # breeze_connect raises only bare Exception; classified as the login does it
            from tradesig.broker.breeze import _classify

            raise _classify(exc, ()) from None
        if not isinstance(answer, dict) or answer.get("Status") != 200:
            text = str(answer.get("Error") if isinstance(answer, dict) else answer)
            if any(t in text for t in _SESSION_TEXTS):
                raise TokenError(f"Breeze historical: {text}", "run 'tradesig login --broker breeze'")
            raise BrokerError(f"Breeze historical: {text}")
        candles = []
        for row in answer.get("Success") or []:
            ts = datetime.strptime(str(row["datetime"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
            if first <= ts <= last:
                candles.append({"date": ts, "open": row["open"], "high": row["high"], "low": row["low"],
                                "close": row["close"], "volume": row.get("volume")})
        return candles_to_bars(candles, symbol)


class BreezeSource(MarketSource):
    """ICICI Breeze through ``breeze_connect`` (module doc). No REST quote polling (the service polls Kite's
    ``/quote`` shape); gap minutes are backfilled from Breeze's historical API."""

    name: ClassVar[SourceName] = "breeze"
    broker: ClassVar[str] = "breeze"
    polls: ClassVar[bool] = False
    backfills: ClassVar[bool] = True

    def __init__(self, host: SourceHost, module: Any = None) -> None:
        super().__init__(host)
        self.module = module
        self.root = breeze_root(host)
        self.rest_root = self.root or ""
        self.follows_sim = is_loopback(self.root)
        self.sim_time: datetime | None = None
        self.synthetic = False
        self._over: str | None = None
        self._link: Link[BreezeStream] | None = None
        self.universe = Universe(tokens={INDICES[s].token: s for s in host.options.symbols})

    # a sim root: its replay clock is the market's time, and its end ends the feed (SimSource's behaviour)
    def market_now(self) -> datetime:
        return SimSource.market_now(self) if self.follows_sim else super().market_now()  # type: ignore[arg-type]

    def market_time_known(self) -> bool:
        return self.sim_time is not None if self.follows_sim else True

    def idles_outside_session(self) -> bool:
        return False if self.follows_sim else super().idles_outside_session()

    def tasks(self) -> list[Any]:
        return [SimSource._follow_clock(self)] if self.follows_sim else []  # type: ignore[arg-type]

    def finished(self) -> str | None:
        return self._over

    async def open(self) -> BreezeStream:
        from tradesig.broker.login import SIM_API_KEY, SIM_API_SECRET
        from tradesig.config import resolve_secret
        from tradesig.feed.breeze_ws import BreezeStream

        record = self._credentials()
        # a session the sim issued to its own default key is signed with its documented default secret
        secret = SIM_API_SECRET if self.follows_sim and record.api_key == SIM_API_KEY else \
            resolve_secret(self.host.loaded, self.settings.breeze.api_secret)
        stream = BreezeStream(record.api_key or self.settings.breeze.api_key, secret, record.access_token,
                              home=Path(self.host.loaded.home), loop=asyncio.get_running_loop(),
                              on_ticks=self._on_ticks, module=self.module, root=self.root)
        self._count_attempt()
        await asyncio.to_thread(stream.start, self.host.options.symbols)
        if stream.client is not None and hasattr(stream.client, "get_historical_data_v2"):
            self.rest = BreezeRest(stream.client)  # type: ignore[assignment]
        return stream

    async def pump(self, link: Link[BreezeStream]) -> None:
        """Ticks arrive through the callback; this watches the stream until the feed stops (returns) or the stream
        is lost (BrokerError) or silent while the market is open (StallDetected)."""
        host, stream = self.host, link.session
        self._link = link
        host.watchdog.reset(host.clock.monotonic())
        while not host.stopping():
            if stream.lost.is_set():
                refused = await asyncio.to_thread(stream.session_refused)
                if refused:  # the server closed the stream because the session ended: wait for a new one
                    raise TokenError(f"Breeze session refused: {refused}", "run 'tradesig login --broker breeze'")
                raise BrokerError("Breeze stream disconnected")
            if host.watchdog.stalled(host.clock.monotonic(), host.market_active()):
                raise StallDetected(f"no market data for {host.options.stall_seconds:g} s")
            await asyncio.sleep(0.1)

    async def close(self, session: BreezeStream) -> None:
        self._link = None
        await asyncio.to_thread(session.stop)

    async def prepare_backfill(self) -> None:
        """Backfill at shutdown needs a live session's client: nothing to prepare when the last one is gone."""

    def _on_ticks(self, ticks: list[dict[str, Any]]) -> None:
        host = self.host
        if host.ingest.on_json({"kind": "breeze", "ticks": ticks}, host.clock.now()):
            host.watchdog.data(host.clock.monotonic())
            if self._link is not None:
                self._link.data()


__all__ = ["BreezeRest", "BreezeSource", "HISTORICAL_INTERVAL", "breeze_root", "is_loopback", "utc_stamp"]

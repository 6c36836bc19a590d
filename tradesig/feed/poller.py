"""REST side of the feed: ``/quote`` polling while the ticker is down, historical 1m backfill, instruments.

Blocking calls through the official ``kiteconnect`` client (the asyncio service runs them in a worker thread).
Rate limits (Kite Connect docs, "Rate limits"): quote 1 request/s, historical 3 requests/s; :class:`RateLimiter`
spaces calls by a monotonic clock so the feed never sends a second quote request within 1 s, and a 429 is
reported, not retried in a loop. Errors: kiteconnect exceptions are mapped by
:func:`tradesig.broker.kite.map_kite_error` (TokenError, BrokerError, DataError).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from tradesig.broker.kite import kite_call
from tradesig.clock import IST
from tradesig.store.bars import BAR_SCHEMA

log = logging.getLogger(__name__)

QUOTE_INTERVAL = 1.05  # seconds: Kite allows 1 request/s on /quote; a margin for window edges
HISTORICAL_INTERVAL = 0.4  # seconds: Kite allows 3 requests/s on historical; a margin for window edges
MAX_QUOTE_INSTRUMENTS = 500  # Kite /quote accepts up to 500 instruments per request


class RateLimiter:
    """At most one call per ``interval`` seconds (thread-safe); ``wait()`` sleeps until the next slot."""

    def __init__(self, interval: float, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()
        self.calls: list[float] = []

    def wait(self) -> None:
        with self._lock:
            now = self._monotonic()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._monotonic()
            self._next = now + self.interval
            self.calls = (self.calls + [now])[-100:]


class KiteRest:
    """The feed's REST calls on one ``kiteconnect.KiteConnect`` (``kite``); ``root`` is named in errors."""

    def __init__(self, kite: Any, root: str | None = None) -> None:
        self.kite = kite
        self.root = root
        self.quote_limiter = RateLimiter(QUOTE_INTERVAL)
        self.historical_limiter = RateLimiter(HISTORICAL_INTERVAL)

    def quote(self, keys: Sequence[str]) -> dict[str, Any]:
        """``GET /quote`` for ``"EXCHANGE:TRADINGSYMBOL"`` keys (≤ 500), rate limited to 1/s. Returns Kite's data
        dict (key → quote; prices rupees; timestamps naive IST datetimes as kiteconnect parses them)."""
        self.quote_limiter.wait()
        with kite_call(root=self.root):
            return self.kite.quote(list(keys)[:MAX_QUOTE_INSTRUMENTS])

    def instruments(self, exchange: str) -> list[dict[str, Any]]:
        """The instruments dump of ``exchange`` (NFO, BFO) as kiteconnect returns it (list of dicts)."""
        with kite_call(root=self.root):
            return self.kite.instruments(exchange)

    def historical_1m(self, token: int, symbol: str, first: datetime, last: datetime) -> pl.DataFrame:
        """1m bars of ``token`` whose start lies in [first, last] (aware), BAR_SCHEMA with symbol ``symbol``
        and status "backfilled"; rate limited to 3 requests/s. Candle times are IST (Kite REST)."""
        self.historical_limiter.wait()
        start = first.astimezone(IST).replace(tzinfo=None)
        end = last.astimezone(IST).replace(tzinfo=None)
        with kite_call(root=self.root):
            candles = self.kite.historical_data(token, start, end, "minute", oi=True)
        return candles_to_bars(candles, symbol)


def candles_to_bars(candles: list[dict[str, Any]], symbol: str) -> pl.DataFrame:
    """BAR_SCHEMA rows (status "backfilled") from kiteconnect historical candles (``date`` aware or naive IST,
    ``open``..``close`` rupees, ``volume``, optional ``oi``). Zero volume of an index candle becomes null (Kite
    reports 0 for indices: there is no volume, not a volume of zero); likewise an index's zero OI."""
    from tradesig.market import INDICES

    rows = []
    is_index = symbol in INDICES
    for c in candles:
        ts = c["date"]
        if isinstance(ts, str):
            ts = datetime.fromisoformat(ts)
        elif isinstance(ts, date) and not isinstance(ts, datetime):
            ts = datetime(ts.year, ts.month, ts.day)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=IST)
        volume = c.get("volume")
        rows.append({"symbol": symbol, "ts": ts, "open": float(c["open"]), "high": float(c["high"]),
                     "low": float(c["low"]), "close": float(c["close"]),
                     "volume": None if (is_index and not volume) else volume,
                     "oi": None if (is_index and not c.get("oi")) else c.get("oi"),
                     "status": "backfilled"})
    if not rows:
        return pl.DataFrame(schema=BAR_SCHEMA)
    df = pl.DataFrame(rows, schema_overrides={"volume": pl.Int64, "oi": pl.Int64})
    return df.with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us")).select(
        [pl.col(c).cast(t) for c, t in BAR_SCHEMA.items()])


__all__ = ["KiteRest", "RateLimiter", "candles_to_bars", "QUOTE_INTERVAL"]

"""Backfill stored 1-minute bars from the broker's historical API (Kite ``/instruments/historical``).

Kite Connect documents at most 60 days per minute-candle request and 3 historical requests a second; the feed's
:class:`~tradesig.feed.poller.KiteRest` enforces the rate, and requests here span at most 30 days. Bars are stored
with status ``backfilled``; bars already stored are not written twice (``Store.write_bars`` de-duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tradesig.broker.tokens import TokenRecord
from tradesig.clock import IST
from tradesig.config import LoadedConfig
from tradesig.market import index_spec

MAX_DAYS_PER_REQUEST = 30


@dataclass(frozen=True)
class BackfillResult:
    symbol: str
    first: date
    last: date
    received: int
    added: int


def backfill_history(loaded: LoadedConfig, symbols: list[str], first: date, last: date, *,
                     token: TokenRecord, root: str | None = None) -> list[BackfillResult]:
    """Fetch 1m bars of each index in ``symbols`` for IST dates ``first``..``last`` (inclusive) and store them.

    ``token``: the stored login (its API key and, unless ``root`` is given, the REST root it was issued by).

    Raises :class:`~tradesig.errors.TokenError` (403), :class:`~tradesig.errors.BrokerError` (unreachable) through
    the Kite error mapping; ``ValueError`` when ``first`` is after ``last``."""
    from tradesig.broker.kite import make_kite
    from tradesig.feed.poller import KiteRest
    from tradesig.store.datasets import Store

    if first > last:
        raise ValueError(f"--from {first} is after --to {last}")
    root = root or token.root or loaded.settings.kite.root
    kite = make_kite(loaded.settings, token.access_token, api_key=token.api_key, root=root)
    rest = KiteRest(kite, root=root)
    store = Store(loaded.home)
    results = []
    for name in symbols:
        spec = index_spec(name)
        received = added = 0
        start = first
        while start <= last:
            end = min(last, start + timedelta(days=MAX_DAYS_PER_REQUEST - 1))
            bars = rest.historical_1m(spec.token, spec.symbol, datetime.combine(start, time(0, 0), IST),
                                      datetime.combine(end, time(23, 59), IST))
            received += bars.height
            if bars.height:
                added += store.write_bars(bars, "1m", source="kite-historical")
            start = end + timedelta(days=1)
        results.append(BackfillResult(spec.symbol, first, last, received, added))
    return results

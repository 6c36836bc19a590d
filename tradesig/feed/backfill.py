"""Backfill: the minutes a gap touched are re-fetched from the broker's historical API (Kite
``/instruments/historical/TOKEN/minute``) and stored as ``backfilled`` bars over whatever was stored.

A failed fetch (429 rate limit, network, 5xx) is retried with the reconnect policy's backoff
(:class:`tradesig.feed.backoff.Backoff`; a 429 waits at least 1 s — Kite allows 3 historical requests/s). After
:data:`DEFER_AFTER` failures in a row the minutes are written ``partial`` from what was seen (never silently
missing) and stay owed (:attr:`BarBuilder.owed`): retried with backoff while the feed runs, and at the next start
(stored partial bars are owed again). ``tradesig history gaps`` lists what is still partial or missing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tradesig.clock import Clock
from tradesig.errors import BrokerError, DataError, TokenError
from tradesig.feed.backoff import Backoff, classify
from tradesig.feed.sources import MarketSource
from tradesig.store.bars import empty_bars

if TYPE_CHECKING:
    from tradesig.feed.ingest import Ingestor

log = logging.getLogger(__name__)

DEFER_AFTER = 3  # failures in a row before a range is written partial (and kept owed)


@dataclass
class _Retry:
    failures: int = 0
    not_before: float = 0.0  # monotonic seconds


class Backfiller:
    """Backfills the ingestor's dirty and owed minutes through the ``source``'s REST client (sources without
    one write them ``partial`` at once). ``policy`` spaces retries after failures; ``clock`` gives monotonic time."""

    def __init__(self, source: MarketSource, ingest: Ingestor, policy: Backoff, clock: Clock) -> None:
        self.source, self.ingest, self.policy, self.clock = source, ingest, policy, clock
        self.retries: dict[str, _Retry] = {}

    def new_session(self) -> None:
        """A new upstream session: backfills that failed on the old one (a refused session) may run at once."""
        self.retries.clear()

    async def run(self, *, connected: bool, final_now: datetime | None = None, final: bool = False) -> None:
        """Fetch the dirty minutes that have closed (``final``: at shutdown, every dirty minute up to
        ``final_now``, connected or not, once, whatever the backoff says)."""
        bars = self.ingest.bars
        if not self.source.backfills:
            bars.give_up_backfill()
            return
        upto = final_now + timedelta(minutes=1) if final and final_now is not None else None
        requests = bars.backfill_requests(upto)
        if not requests:
            return
        if final:
            await self.source.prepare_backfill()
        rest, uni = self.source.rest, self.source.universe
        if rest is None or uni is None or not (connected or final):
            return
        tokens = {v: k for k, v in uni.tokens.items()}
        now = self.clock.monotonic()
        for symbol, first, last in requests:
            token = tokens.get(symbol)
            if token is None:
                bars.apply_backfill(symbol, empty_bars(), first, last)
                continue
            retry = self.retries.setdefault(symbol, _Retry())
            if now < retry.not_before and not final:
                continue
            try:
                got = await asyncio.to_thread(rest.historical_1m, token, symbol, first, last)
            except (TokenError, BrokerError, DataError) as exc:
                cause = classify(exc)
                delay = self.policy.delay(cause if cause != "ours" else "protocol", retry.failures)
                retry.failures += 1
                retry.not_before = self.clock.monotonic() + (delay if delay is not None else 60.0)
                log.warning("backfill of %s %s..%s failed (%s, %d in a row)", symbol, first, last, exc,
                            retry.failures)
                if retry.failures >= DEFER_AFTER or final:
                    n = bars.defer_backfill(symbol, first, last)
                    if n:
                        log.warning("%d minutes of %s stored partial until a backfill succeeds", n, symbol)
                continue
            self.retries.pop(symbol, None)
            added = bars.apply_backfill(symbol, got, first, last)
            self.ingest.stats.backfilled += added
            log.info("backfilled %d bars of %s (%s..%s)", added, symbol, first, last)


__all__ = ["Backfiller", "DEFER_AFTER"]

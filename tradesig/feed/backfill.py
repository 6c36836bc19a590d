"""Backfill: the minutes a gap touched are re-fetched from the broker's historical API (Kite
``/instruments/historical/TOKEN/minute``) and stored as ``backfilled`` bars."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tradesig.errors import BrokerError, DataError, TokenError
from tradesig.feed.sources import MarketSource
from tradesig.store.bars import empty_bars

if TYPE_CHECKING:
    from tradesig.feed.ingest import Ingestor

log = logging.getLogger(__name__)

GIVE_UP_AFTER = 3  # failures of one range before its minutes are written from what was seen (partial)


class Backfiller:
    """Backfills the ingestor's dirty minutes through the ``source``'s REST client (sources without one write
    them ``partial`` at once)."""

    def __init__(self, source: MarketSource, ingest: Ingestor) -> None:
        self.source, self.ingest = source, ingest
        self.failures: dict[tuple[str, datetime], int] = {}

    async def run(self, *, connected: bool, final_now: datetime | None = None, final: bool = False) -> None:
        """Fetch the dirty minutes that have closed (``final``: at shutdown, every dirty minute up to
        ``final_now``, connected or not)."""
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
        for symbol, first, last in requests:
            token = tokens.get(symbol)
            if token is None:
                bars.apply_backfill(symbol, empty_bars(), first, last)
                continue
            try:
                got = await asyncio.to_thread(rest.historical_1m, token, symbol, first, last)
            except (TokenError, BrokerError, DataError) as exc:
                key = (symbol, first)
                self.failures[key] = self.failures.get(key, 0) + 1
                log.warning("backfill of %s %s..%s failed (%s)", symbol, first, last, exc)
                if self.failures[key] >= GIVE_UP_AFTER:
                    bars.apply_backfill(symbol, empty_bars(), first, last)
                continue
            added = bars.apply_backfill(symbol, got, first, last)
            self.ingest.stats.backfilled += added
            log.info("backfilled %d bars of %s (%s..%s)", added, symbol, first, last)


__all__ = ["Backfiller"]

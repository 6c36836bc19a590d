"""The option chain the feed follows: latest open interest per option (for the chain's PCR) and re-centring the
subscribed strikes when spot moves a full strike step (Kite allows 3000 instruments per connection)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import polars as pl

from tradesig.config import Settings
from tradesig.feed.options import FeedOptions
from tradesig.feed.sources import UPSTREAM_ERRORS, Counters, KiteSource

if TYPE_CHECKING:
    from tradesig.feed.ingest import Ingestor

log = logging.getLogger(__name__)


class ChainTracker:
    """OI and spot of the ``source``'s universe from the ticks not yet in closed bars; re-centres the chain."""

    def __init__(self, source: KiteSource, ingest: Ingestor, settings: Settings, options: FeedOptions,
                 counts: Counters) -> None:
        self.source, self.ingest, self.settings, self.options, self.counts = source, ingest, settings, options, counts
        self.last_oi: dict[int, int] = {}
        self.spots: dict[str, float] = {}

    def pcr(self) -> dict[str, float | None] | None:
        """Put/call ratio of OI per index (None without a chain)."""
        from tradesig.feed.universe import pcr

        uni = self.source.universe
        return pcr(self.last_oi, uni.options) if uni is not None and uni.options else None

    def update(self) -> None:
        """Latest OI per option token and latest index prices from the ticks not yet in closed bars."""
        uni = self.source.universe
        df = self.ingest.bars.pending_ticks()
        if uni is None or df.is_empty():
            return
        names = {v: k for k, v in uni.tokens.items()}
        if "oi" in df.columns:
            last = df.drop_nulls("oi").group_by("symbol").agg(pl.col("oi").last())
            for sym, oi in zip(last["symbol"].to_list(), last["oi"].to_list(), strict=True):
                token = names.get(sym)
                if token in uni.options:
                    self.last_oi[token] = int(oi)
        spots = df.filter(pl.col("symbol").is_in(self.options.symbols)).group_by("symbol").agg(
            pl.col("last_price").last())
        self.spots.update(dict(zip(spots["symbol"].to_list(), spots["last_price"].to_list(), strict=True)))

    def _step(self, symbol: str) -> float:
        return float(self.settings.instruments[symbol].strike_step) if symbol in self.settings.instruments else 50.0

    async def recentre(self) -> None:
        """Re-centre each index's chain when spot has moved a full strike step from its centre: subscribe the
        new strikes, unsubscribe those that fell out (the total stays within 3000)."""
        from tradesig.feed.universe import build_universe

        src, uni, client = self.source, self.source.universe, self.source.client
        if client is None or uni is None or not src.instrument_rows:
            return
        moved = {s: self.spots[s] for s, centre in uni.chain_centre.items()
                 if s in self.spots and abs(self.spots[s] - centre) >= self._step(s)}
        if not moved:
            return
        fresh = build_universe(src.instrument_rows, list(moved), src.market_day, spots=moved,
                               chain_strikes=self.options.chain_strikes, futures=False,
                               strike_steps={s: self._step(s) for s in moved if s in self.settings.instruments})
        old = {t for t, (sym, _, _) in uni.options.items() if sym in moved}
        new = set(fresh.options)
        try:
            if new - old:
                await client.subscribe(sorted(new - old), "full")
            if old - new:
                await client.unsubscribe(sorted(old - new))
        except UPSTREAM_ERRORS as exc:
            log.warning("chain re-centring failed: %s", exc)
            return
        for token in old - new:
            uni.options.pop(token, None)
            uni.tokens.pop(token, None)
            self.last_oi.pop(token, None)
        uni.options.update(fresh.options)
        uni.tokens.update({t: fresh.tokens[t] for t in new})
        uni.chain_centre.update(fresh.chain_centre)
        self.ingest.symbols.update({t: fresh.tokens[t] for t in new})
        self.counts.chain_recentres += 1
        log.info("option chain re-centred: %s", ", ".join(f"{s} {fresh.chain_centre[s]:g}" for s in moved))


__all__ = ["ChainTracker"]

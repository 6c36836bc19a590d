"""The hub's side of the trader's page: chart views, the trading panel, markers, chain ladders and flatten
(docs/viewer-protocol.md, "The trader's page").

:class:`PageData` sits beside :class:`tradesig.feed.hub.Hub` on the feed's event loop. Every read of the data
home and every computation (store reads, indicators, the board, state files) runs in one worker thread, so the
feed's loop never waits on them and the page's cost is bounded: one thread, views computed once per
(index, interval) and shared by every viewer, updates coalesced while the worker is busy, one history request in
flight per viewer. Flatten runs in its own thread (live square-off may take seconds).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradesig.feed.hub import Hub, _Client

log = logging.getLogger(__name__)

#: Seconds between refreshes of the trading panel and the chain ladders.
PANEL_SECONDS = 1.0


@dataclass
class DashboardSources:
    """What the trader's page needs from the feed: ``loaded`` config and data home, ``market_now`` the market's
    clock (the sim's replay time when following a sim), ``options`` token → (index, "CE"/"PE", strike) of the
    subscribed option chain (for the strike ladder), ``written`` waits until the bars the feed has published are
    in the store (its writer thread writes them a moment after; None: they are written before they are published)."""

    loaded: Any
    market_now: Callable[[], datetime]
    options: Callable[[], Mapping[int, tuple[str, str, float]]] = dict
    written: Callable[[], None] | None = None


class PageData:
    """Owned by a :class:`~tradesig.feed.hub.Hub`; ``start()`` on the hub's loop, ``stop()`` at shutdown."""

    def __init__(self, hub: Hub, sources: DashboardSources) -> None:
        from tradesig.feed.dashboard import ChartViews
        from tradesig.feed.dashboard_trade import TradingPanel

        self.hub = hub
        self.sources = sources
        self.views = ChartViews(sources.loaded.home, sources.loaded.settings, sources.market_now,
                                written=sources.written)
        self.ltp: dict[str, float] = {}
        self.trading = TradingPanel(sources.loaded, sources.market_now, self.ltp.get)
        self.pool: ThreadPoolExecutor | None = None
        self.watched: set[tuple[str, str]] = set()
        self.trade_msg: dict[str, Any] | None = None
        self.chains: dict[str, str] = {}
        self.markers: dict[str, str] = {}
        self.ticks_by_token: dict[int, dict[str, Any]] = {}
        self._dirty = False
        self._updating = False

    def start(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="hub-page")
        self.hub._spawn(self._panel_loop())

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work in the page's single worker thread (never on the feed's event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def snapshot(self) -> dict[str, Any]:
        """The page's part of the ``snapshot``: market time, the trading panel and the chain ladders."""
        return {"market_time": self.sources.market_now(), "trade": self.trade_msg,
                "chain": {sym: json.loads(text) for sym, text in self.chains.items()}}

    # -------------------------------------------------------------------------------------------- feed input
    def on_tick(self, msg: dict[str, Any]) -> None:
        if msg.get("token") is not None:
            self.ticks_by_token[msg["token"]] = msg
        if msg.get("ltp") is not None:
            self.ltp[msg["symbol"]] = msg["ltp"]

    def on_bar(self, bar: dict[str, Any]) -> None:
        """A closed bar: queue it for the views watching its (symbol, interval); one updater drains the queue."""
        if (bar["symbol"], bar.get("interval", "1m")) not in self.watched:
            return
        self.views.queue_bar(dict(bar))
        self._dirty = True
        if not self._updating:
            self._updating = True
            self.hub._spawn(self._update_views())

    async def _update_views(self) -> None:
        """Apply closed bars to the views; send each watcher its view's new overlay points and board."""
        from tradesig.feed.hub import _json

        try:
            while self._dirty and self.pool is not None:
                self._dirty = False
                for msg in await self._run(self.views.apply_pending):
                    key, text = (msg["symbol"], msg["interval"]), _json(msg)
                    for client in list(self.hub._clients):
                        if client.view == key:
                            self.hub._send(client, text)
        finally:
            self._updating = False

    # ------------------------------------------------------------------------------------------ client input
    def on_history(self, client: _Client, msg: dict[str, Any]) -> None:
        from tradesig.feed.dashboard import VIEW_INTERVALS

        symbol, interval, since = msg.get("symbol"), msg.get("interval"), msg.get("since")
        if not isinstance(symbol, str) or interval not in VIEW_INTERVALS or \
                not (since is None or (isinstance(since, int) and not isinstance(since, bool))):
            self.hub._reply(client, {"type": "error", "message": "history: needs 'symbol', 'interval' (one of "
                                     f"{', '.join(VIEW_INTERVALS)}) and optional integer 'since' (epoch s)"})
        elif client.busy:
            self.hub._reply(client, {"type": "error", "message": "history: one request at a time"})
        else:
            client.busy, client.view = True, (symbol, interval)
            self.watched.add((symbol, interval))
            self.hub._spawn(self._answer_history(client, symbol, interval, since))

    async def _answer_history(self, client: _Client, symbol: str, interval: str, since: int | None) -> None:
        from tradesig.errors import TradesigError
        from tradesig.feed.hub import _json

        def build() -> str:
            return _json(self.views.history(symbol, interval, since))

        try:
            text = await self._run(build)
            self.hub.stats.history_served += 1
        except (TradesigError, ValueError, OSError) as exc:
            text = _json({"type": "error", "message": f"history of {symbol} {interval}: {exc}"})
        finally:
            client.busy = False
        self.hub._send(client, text)

    def on_flatten(self, client: _Client, msg: dict[str, Any]) -> None:
        if not client.can_flatten:
            self.hub.stats.rejected_publish += 1
            self.hub._reply(client, {"type": "error", "message": "flatten refused: present the publish token "
                                                                 "(?publish_token=...)"})
            return
        if msg.get("confirm") is not True:
            self.hub._reply(client, {"type": "error", "message": "flatten: send 'confirm': true"})
            return
        mode = str(msg.get("mode") or "paper")
        peer = client.ws.remote_address[0] if client.ws.remote_address else "?"
        log.warning("hub: flatten (%s) requested by viewer %s", mode, peer)
        self.hub._spawn(self._answer_flatten(client, mode, f"flatten from the hub page ({peer})"))

    async def _answer_flatten(self, client: _Client, mode: str, reason: str) -> None:
        result = await asyncio.to_thread(self.trading.flatten, mode, reason)
        self.hub._reply(client, {"type": "flatten_result", **result})
        self.trading.forget()  # the next panel refresh (within a second) shows the kill switch

    # ----------------------------------------------------------------------------------------------- panels
    async def _panel_loop(self) -> None:
        from tradesig.errors import TradesigError

        while True:
            await asyncio.sleep(PANEL_SECONDS)
            if self.hub._clients and self.pool is not None:
                try:
                    await self.refresh()
                except (TradesigError, OSError, ValueError, KeyError, TypeError) as exc:  # a torn or foreign file
                    log.warning("hub: trading panel not refreshed: %s", exc)

    async def refresh(self) -> None:
        """Trading panel (when its files changed, or each second while baskets are open: leg prices move),
        markers of the watched indices (when the events log changed), chain ladders (when they changed)."""
        from tradesig.feed.dashboard_trade import chain_ladder
        from tradesig.feed.hub import _json

        changed = await self._run(self.trading.files_changed)
        has_open = bool(self.trade_msg) and any(isinstance(e, dict) and e.get("open")
                                                for e in self.trade_msg["engines"].values())
        if changed or has_open:
            self.trade_msg = await self._run(self.trading.message)
            self.hub._fanout(("trade",), _json(self.trade_msg), None)
        if changed:
            for symbol in sorted({s for s, _ in self.watched}):
                msg = await self._run(self.views.markers_message, symbol)
                text = _json(msg)
                if self.markers.get(symbol) != text:
                    self.markers[symbol] = text
                    self.hub._fanout(("markers", symbol), text, None)
        options = self.sources.options()
        pcr = (self.hub._health() or {}).get("pcr") or {}
        for symbol in sorted({sym for sym, _, _ in options.values()}):
            text = _json(chain_ladder(symbol, self.ltp.get(symbol), options, self.ticks_by_token, pcr.get(symbol)))
            if self.chains.get(symbol) != text:
                self.chains[symbol] = text
                self.hub._fanout(("chain", symbol), text, symbol)


__all__ = ["DashboardSources", "PageData", "PANEL_SECONDS"]

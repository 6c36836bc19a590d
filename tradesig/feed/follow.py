"""The clock of a process that follows the market live (``signals --follow``, ``trade start``).

Against Kite the market's time is the wall clock. When ``kite.root`` is a ``tradesig sim`` on loopback, the
session being replayed has its own time: :class:`SimFollowClock` follows the sim's replay clock, so dates,
expiries, bar closes and square-off times follow the replayed day. Strategy, order and risk code see only the
Clock either way (DESIGN.md: one strategy path, only the broker and the clock are swapped).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from tradesig.clock import Clock, SystemClock
from tradesig.errors import BrokerError

log = logging.getLogger(__name__)


def sim_state(root: str, timeout: float = 5.0) -> dict[str, Any]:
    """The running sim's ``GET <root>/_sim/state`` document (the Kite envelope removed): ``sim_time`` (ISO, IST),
    ``speed``, ``date``, ``session_over``, ``synthetic``, … Raises :class:`BrokerError` when no sim answers or it
    refuses. The one reader of the sim's state (feed, followers, ``tradesig sim state``, the demo)."""
    url = root.rstrip("/") + "/_sim/state"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback control endpoint of the sim
            body = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise BrokerError(f"no sim answering at {url}: {exc}", "start one with 'tradesig sim serve'") from None
    if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
        raise BrokerError(f"sim refused: {body.get('message') if isinstance(body, dict) else body!r}")
    return body["data"]


class SimFollowClock:
    """A clock following ``tradesig sim``'s replay time: ``GET <root>/_sim/state`` (``sim_time``, ``speed``),
    re-read every ``resync_seconds`` of wall time and extrapolated at the sim's speed in between, so the engine's
    dates, expiries and exits follow the replayed day. Never goes backwards: when a re-read finds the sim behind
    the extrapolation (it was paused), the clock holds until the sim catches up. ``monotonic()`` is the wall
    clock's (for waits and rate limits). Raises :class:`BrokerError` when no sim answers at ``root``."""

    def __init__(self, root: str, resync_seconds: float = 2.0) -> None:
        self.root = root
        self.url = root.rstrip("/") + "/_sim/state"
        self.resync_seconds = resync_seconds
        self._wall = SystemClock()
        self._last = None
        self._sync()

    def _sync(self) -> None:
        try:
            state = sim_state(self.root)
            t0 = datetime.fromisoformat(state["sim_time"])  # may be behind _last: now() then holds
        except (BrokerError, KeyError, ValueError) as exc:
            raise BrokerError(f"no sim state at {self.url}: {exc}",
                              "start 'tradesig sim serve' or use --clock system") from None
        self._t0 = t0
        self._m0 = self._wall.monotonic()
        self._next_sync = self._m0 + self.resync_seconds
        self.speed = float(state.get("speed") or 1.0)

    def now(self) -> datetime:
        if self._wall.monotonic() >= self._next_sync:
            try:
                self._sync()
            except BrokerError as exc:
                log.warning("sim clock: %s (extrapolating)", exc)
                self._next_sync = self._wall.monotonic() + self.resync_seconds
        now = self._t0 + timedelta(seconds=(self._wall.monotonic() - self._m0) * self.speed)
        if self._last is not None and now < self._last:
            now = self._last
        self._last = now
        return now.astimezone(UTC)

    def monotonic(self) -> float:
        return self._wall.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of replayed (market) time: ``seconds / speed`` of wall time."""
        time.sleep(max(0.0, seconds) / self.speed)


def pick_clock(root: str, choice: str = "auto") -> Clock:
    """The engine's clock for ``trade start``: "system"; "sim" (:class:`SimFollowClock` on ``root``, BrokerError
    when no sim answers); "auto": the sim's clock when ``root`` is a loopback address where a sim answers
    ``/_sim/state``, else the system clock (a real Kite root is never probed)."""
    from urllib.parse import urlsplit

    from tradesig.feed.hub import is_loopback_host

    if choice == "system":
        return SystemClock()
    if choice == "sim":
        return SimFollowClock(root)
    if is_loopback_host(urlsplit(root).hostname or ""):
        try:
            return SimFollowClock(root)
        except BrokerError:
            pass
    return SystemClock()

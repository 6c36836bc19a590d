"""Kite's REST rate limits, as the sim enforces them (a sliding one-second window per class and access token).

Source: Kite Connect v3 docs, "Exceptions and errors" / rate limits: quote 1 request/second, historical candles
3/second, order placement (place, modify, cancel) 10/second, everything else 10/second (DESIGN.md "Market facts").
A call past its class's limit answers 429 ``NetworkException`` "Too many requests".

A replay runs the market N times faster than the wall clock; Kite's limits are per second of the market's day.
So a call is over the limit only when it is over it both in wall seconds and in replayed (sim) seconds: at 1×
that is Kite's limit exactly; at 500× a quote per replayed second is allowed (a request that took one wall second
would cost 500 market seconds, which no real trader pays); while the sim's clock is held (``--wait-for-client``)
the wall-clock window still lets calls through at Kite's rate.
"""

from __future__ import annotations

from collections import deque

#: Requests per second by endpoint class.
RATE_LIMITS = {"quote": 1, "historical": 3, "orders": 10, "other": 10}


def rate_class(parts: list[str], method: str) -> str:
    """Kite's rate-limit class of a REST call (``parts``: the path's segments): quote, historical, orders
    (place/modify/cancel) or other."""
    if parts[:1] == ["quote"]:
        return "quote"
    if parts[:2] == ["instruments", "historical"]:
        return "historical"
    if parts[:1] == ["orders"] and method in ("POST", "PUT", "DELETE"):
        return "orders"
    return "other"


class RateLimiter:
    """Sliding one-second windows per (class, key), in wall and in sim seconds (module doc). ``enabled=False``
    never limits (``--no-rate-limits``)."""

    def __init__(self, enabled: bool = True, limits: dict[str, int] | None = None) -> None:
        self.enabled = enabled
        self.limits = dict(limits or RATE_LIMITS)
        self._calls: dict[tuple[str, str, str], deque[float]] = {}

    def _full(self, window: str, cls: str, key: str, at: float) -> bool:
        q = self._calls.setdefault((window, cls, key), deque())
        while q and (at - q[0] >= 1.0 or at < q[0]):
            q.popleft()
        return len(q) >= self.limits[cls]

    def limited(self, cls: str, key: str, mono: float, sim_seconds: float | None = None) -> bool:
        """True when a call of class ``cls`` by ``key`` at wall monotonic second ``mono`` (and sim second
        ``sim_seconds``, when given) is over the limit in both windows (and is then not counted); otherwise the
        call is counted and False returned."""
        if not self.enabled:
            return False
        over = self._full("wall", cls, key, mono)
        if over and sim_seconds is not None:
            over = self._full("sim", cls, key, sim_seconds)
        if over:
            return True
        self._calls[("wall", cls, key)].append(mono)
        if sim_seconds is not None:
            self._full("sim", cls, key, sim_seconds)
            self._calls[("sim", cls, key)].append(sim_seconds)
        return False


__all__ = ["RATE_LIMITS", "RateLimiter", "rate_class"]

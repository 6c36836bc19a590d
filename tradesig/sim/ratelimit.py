"""Kite's REST rate limits, as the sim enforces them (a sliding one-second window per class and access token).

Source: Kite Connect v3 docs, "Exceptions and errors" / rate limits: quote 1 request/second, historical candles
3/second, order placement (place, modify, cancel) 10/second, everything else 10/second (DESIGN.md "Market facts").
A call past its class's limit answers 429 ``NetworkException`` "Too many requests".
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
    """Sliding one-second windows per (class, key). ``enabled=False`` never limits (``--no-rate-limits``)."""

    def __init__(self, enabled: bool = True, limits: dict[str, int] | None = None) -> None:
        self.enabled = enabled
        self.limits = dict(limits or RATE_LIMITS)
        self._calls: dict[tuple[str, str], deque[float]] = {}

    def limited(self, cls: str, key: str, mono: float) -> bool:
        """True when a call of class ``cls`` by ``key`` at monotonic second ``mono`` is over the limit (and is
        then not counted); otherwise the call is counted and False returned."""
        if not self.enabled:
            return False
        q = self._calls.setdefault((cls, key), deque())
        while q and mono - q[0] >= 1.0:
            q.popleft()
        if len(q) >= self.limits[cls]:
            return True
        q.append(mono)
        return False


__all__ = ["RATE_LIMITS", "RateLimiter", "rate_class"]

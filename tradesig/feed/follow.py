"""The follower's side of the viewer hub (``signals --follow``, ``trade start``): which clock to run on.

Against live Kite the market's time is the wall clock (:class:`~tradesig.clock.SystemClock`). When the feed
replays the sim, the session's time is the sim's replay clock: the hub's ``/health`` reports ``source`` and
``market_time``, and followers then run on a :class:`~tradesig.clock.MarketClock` that each hub message moves
forward (``status.market_time``, a tick's exchange timestamp, a written bar's end). Strategy, order and risk code
see only the Clock either way.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from tradesig.clock import Clock, MarketClock, SystemClock
from tradesig.errors import BrokerError

_INTERVAL_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 375}


def health_url(ws_url: str) -> str:
    """``ws://HOST:PORT/ws?token=T`` → ``http://HOST:PORT/health?token=T`` (the token, if any, is kept)."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urllib.parse.urlunsplit((scheme, parts.netloc, "/health", parts.query, ""))


def follower_clock(ws_url: str, timeout: float = 5.0) -> Clock:
    """The clock a follower of the hub at ``ws_url`` runs on: a :class:`MarketClock` at the feed's market time
    when the feed replays the sim, else the system clock. Raises :class:`BrokerError` when the hub does not
    answer (start ``tradesig feed --serve`` first)."""
    url = health_url(ws_url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback hub (or a token-protected one)
            health = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise BrokerError(f"cannot reach the feed hub at {url.split('?')[0]}: {exc}",
                          "start 'tradesig feed --serve' or check hub.listen") from None
    if health.get("source") == "sim" and health.get("market_time"):
        return MarketClock(datetime.fromisoformat(str(health["market_time"])))
    return SystemClock()


def _aware(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def observe_message(clock: Clock, msg: dict[str, Any]) -> None:
    """Advance a :class:`MarketClock` with the market time a hub message proves has passed; no-op otherwise.

    ``status``/``snapshot``: ``market_time``; ``tick``: ``exchange_timestamp`` (else ``last_trade_time``);
    ``bar``: the bar's end (``ts`` + interval) — the feed publishes a bar once it is written (closed)."""
    if not isinstance(clock, MarketClock):
        return
    kind = msg.get("type")
    if kind in ("status", "snapshot"):
        clock.observe(_aware(msg.get("market_time")))
    elif kind == "tick":
        clock.observe(_aware(msg.get("exchange_timestamp")) or _aware(msg.get("last_trade_time")))
    elif kind == "bar":
        start = _aware(msg.get("ts"))
        minutes = _INTERVAL_MINUTES.get(str(msg.get("interval", "1m")))
        if start is not None and minutes is not None and msg.get("status", "complete") != "partial":
            clock.observe(start + timedelta(minutes=minutes))

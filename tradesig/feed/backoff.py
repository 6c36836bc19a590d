"""Reconnect policy and the stall watchdog: pure functions of their inputs, testable without a network.

The asyncio layer (:mod:`tradesig.feed.service`) owns sockets and timers; it asks :func:`decide` what to do after
an upstream failure and feeds :class:`StallWatchdog` the monotonic time of each data message.

Policy (house style: "a reconnect decision is a function of the error"):

- ``token``  — Kite answered 403 / TokenException: retrying with the same token cannot succeed and hammers the
  broker. Stop; wait for the token file to change (:data:`WAIT_FOR_TOKEN`).
- ``network`` / ``stall`` / ``closed`` / ``protocol`` — transient: exponential backoff with full jitter,
  ``min(cap, base · 2^attempt)`` scaled by a uniform draw in [0.5, 1.0] from the injected RNG
  (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015: jitter de-synchronises many clients).
- ``rate_limit`` — HTTP 429: as transient, but never below 1 s (Kite's limits are per second).
- ``ours`` — our own misuse of the protocol (``ProtocolError.ours``, e.g. more than 3000 instruments): retrying
  repeats the bug. Never retried: the feed stops (exit 2).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

#: Why the upstream connection ended (what :func:`classify` returns and :func:`decide` takes).
Cause = Literal["network", "stall", "closed", "protocol", "rate_limit", "token", "ours"]
CAUSES: tuple[Cause, ...] = get_args(Cause)
#: Why a gap in one instrument's live data began: an upstream :data:`Cause`, or ``restart`` (the feed process
#: restarted) or ``start`` (the feed started after the open).
GapCause = Literal["network", "stall", "closed", "protocol", "rate_limit", "token", "ours", "restart", "start"]

#: :func:`decide` returns this instead of a delay when only a new token can help.
WAIT_FOR_TOKEN = None


class RandomSource(Protocol):
    def random(self) -> float: ...


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: RandomSource | None = None) -> float:
    """Delay in seconds before reconnect attempt ``attempt`` (0 = the first retry after a failure).

    ``min(cap, base · 2**attempt) · u`` with ``u`` uniform in [0.5, 1.0] drawn from ``rng`` (``random.Random``
    or anything with ``random()``); without ``rng`` the delay is deterministic (``u = 1``).
    Raises ``ValueError`` for a negative attempt or non-positive base/cap.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    ceiling = min(cap, base * (2.0 ** min(attempt, 62)))
    u = 1.0 if rng is None else 0.5 + 0.5 * rng.random()
    return ceiling * u


def decide(cause: str, attempt: int, *, base: float = 0.5, cap: float = 30.0,
           rng: RandomSource | None = None) -> float | None:
    """What to do after an upstream failure of ``cause`` (one of :data:`CAUSES`) on retry ``attempt``.

    Returns the delay in seconds before the next attempt, or :data:`WAIT_FOR_TOKEN` (``None``) for ``"token"``.
    Raises ``ValueError`` for an unknown cause and for ``"ours"`` (never retried).
    """
    if cause not in CAUSES:
        raise ValueError(f"unknown failure cause {cause!r}; known: {', '.join(CAUSES)}")
    if cause == "ours":
        raise ValueError("our own protocol misuse is never retried")
    if cause == "token":
        return WAIT_FOR_TOKEN
    delay = backoff(attempt, base=base, cap=cap, rng=rng)
    if cause == "rate_limit":
        delay = max(delay, 1.0)
    return delay


@dataclass(frozen=True)
class Backoff:
    """The reconnect policy as a value: :func:`decide` with this ``base``/``cap`` (seconds) and jitter ``rng``."""

    base: float = 0.5
    cap: float = 30.0
    rng: RandomSource | None = None

    def delay(self, cause: Cause, attempt: int) -> float | None:
        """Seconds before retry ``attempt`` after ``cause``, or :data:`WAIT_FOR_TOKEN`; see :func:`decide`."""
        return decide(cause, attempt, base=self.base, cap=self.cap, rng=self.rng)


def classify(exc: BaseException) -> Cause:
    """Map an exception from the upstream connection to a :data:`CAUSES` value.

    - anything with ``ours = True`` (``LocalProtocolError``, ``ProtocolError(ours=True)``) → ``"ours"``;
    - websockets ``InvalidStatus`` with HTTP 403, kiteconnect ``TokenException``, :class:`tradesig.errors.TokenError`,
      a close whose reason mentions the token (Kite's "token expired") → ``"token"``; HTTP 429 /
      ``NetworkException`` mentioning too many requests → ``"rate_limit"``;
    - :class:`StallDetected` → ``"stall"``; a closed connection → ``"closed"``;
    - :class:`tradesig.errors.ProtocolError` and other HTTP statuses during the handshake → ``"protocol"``;
    - anything else (``OSError``, timeouts) → ``"network"``.
    """
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    from tradesig.errors import ProtocolError, TokenError

    if getattr(exc, "ours", False):
        return "ours"
    if isinstance(exc, TokenError):
        return "token"
    if isinstance(exc, StallDetected):
        return "stall"
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status == 403:
            return "token"
        if status == 429:
            return "rate_limit"
        return "protocol"
    name = type(exc).__name__
    if name == "TokenException":
        return "token"
    if name == "NetworkException" and ("429" in str(exc) or "too many requests" in str(exc).lower()):
        return "rate_limit"
    if isinstance(exc, ConnectionClosed):
        close = exc.rcvd
        return "token" if close is not None and "token" in (close.reason or "").lower() else "closed"
    if isinstance(exc, ProtocolError):
        return "protocol"
    return "network"


class StallDetected(Exception):
    """The upstream sent no market data for longer than the stall limit (heartbeats do not count)."""


@dataclass
class StallWatchdog:
    """Detects a silent upstream: no *data* (ticks) for ``limit_seconds`` while the market is open.

    Feed it monotonic seconds: :meth:`data` on each frame carrying ticks, :meth:`reset` on (re)connect.
    :meth:`stalled` says whether ``now`` is past the limit. Heartbeat frames must not call :meth:`data`.
    """

    limit_seconds: float
    last_data: float | None = None

    def reset(self, now: float) -> None:
        """Start counting from ``now`` (a fresh connection gets the full limit)."""
        self.last_data = now

    def data(self, now: float) -> None:
        self.last_data = now

    def stalled(self, now: float, market_open: bool = True) -> bool:
        """True when the market is open and no data arrived for more than ``limit_seconds``."""
        if not market_open or self.last_data is None:
            return False
        return now - self.last_data > self.limit_seconds

    def remaining(self, now: float) -> float:
        """Seconds until the limit is reached (never negative)."""
        if self.last_data is None:
            return self.limit_seconds
        return max(0.0, self.limit_seconds - (now - self.last_data))


def make_rng(seed: int | None = None) -> random.Random:
    """The RNG the service injects into :func:`decide` (seeded in tests)."""
    return random.Random(seed)

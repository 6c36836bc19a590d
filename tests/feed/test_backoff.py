"""Reconnect policy, failure classification and the stall watchdog (pure, no network)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.http11 import Response

from tradesig.errors import ProtocolError, TokenError
from tradesig.feed.backoff import WAIT_FOR_TOKEN, StallDetected, StallWatchdog, backoff, classify, decide


def test_backoff_doubles_to_the_cap_without_rng():
    assert [backoff(a, base=0.5, cap=30) for a in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


@given(attempt=st.integers(0, 500), cap=st.floats(0.1, 600), base=st.floats(0.01, 10), seed=st.integers())
def test_backoff_jitter_bounds(attempt, cap, base, seed):
    delay = backoff(attempt, base=base, cap=cap, rng=random.Random(seed))
    ceiling = min(cap, base * 2 ** min(attempt, 62))
    assert ceiling * 0.5 <= delay <= ceiling


def test_backoff_is_reproducible_from_the_injected_rng():
    a = [backoff(i, rng=random.Random(7)) for i in range(5)]
    b = [backoff(i, rng=random.Random(7)) for i in range(5)]
    assert a == b and a != [backoff(i) for i in range(5)]


def test_decide_by_cause():
    assert decide("token", 0) is WAIT_FOR_TOKEN
    assert decide("token", 9) is WAIT_FOR_TOKEN
    assert decide("network", 3) == 4.0
    assert decide("stall", 0) == 0.5
    assert decide("rate_limit", 0) == 1.0
    with pytest.raises(ValueError):
        decide("cosmic-ray", 0)
    with pytest.raises(ValueError):
        backoff(-1)


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", Headers()))


def test_classify():
    assert classify(_status(403)) == "token"
    assert classify(_status(429)) == "rate_limit"
    assert classify(_status(500)) == "protocol"
    assert classify(TokenError("expired")) == "token"
    assert classify(StallDetected()) == "stall"
    assert classify(ConnectionClosedError(None, None)) == "closed"
    assert classify(ProtocolError("bad")) == "protocol"
    assert classify(ConnectionRefusedError()) == "network"
    assert classify(TimeoutError()) == "network"

    class TokenException(Exception):
        pass

    class NetworkException(Exception):
        pass

    assert classify(TokenException("Incorrect api_key or access_token")) == "token"
    assert classify(NetworkException("Too many requests")) == "rate_limit"
    assert classify(NetworkException("connection reset")) == "network"


def test_stall_watchdog():
    dog = StallWatchdog(limit_seconds=15)
    assert not dog.stalled(100.0)  # never started
    dog.reset(100.0)
    assert not dog.stalled(115.0)
    assert dog.stalled(115.1)
    assert not dog.stalled(115.1, market_open=False)  # outside market hours silence is normal
    dog.data(115.1)
    assert not dog.stalled(130.0) and dog.remaining(130.0) == pytest.approx(0.1)

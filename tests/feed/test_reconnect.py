"""The one reconnect loop: attempt count reset after data flowed, token waits, our own misuse stops it."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

from tradesig.errors import ProtocolError, TokenError
from tradesig.feed.backoff import Backoff, classify
from tradesig.feed.reconnect import UpstreamMisuse, reconnecting


class Script:
    """Sessions that fail the way ``plan`` says: each entry (data_flowed, exception raised by the pump)."""

    def __init__(self, plan):
        self.plan = list(plan)
        self.opened = 0
        self.closed = 0
        self.delays: list[tuple[str, int]] = []

    async def open(self):
        self.opened += 1
        return self.opened

    async def close(self, session):
        self.closed += 1


class RecordingPolicy(Backoff):
    def __init__(self, log):
        super().__init__(base=0.001, cap=0.001)
        object.__setattr__(self, "_log", log)

    def delay(self, cause, attempt):
        self._log.append((cause, attempt))
        return super().delay(cause, attempt)


def drive(script: Script, *, tokens: list[str] | None = None, downs: list | None = None):
    stop = asyncio.Event()
    policy = RecordingPolicy(script.delays)

    async def wait_token(reason):
        tokens.append(reason)

    async def main():
        async for link in reconnecting(script.open, classify=classify, policy=policy, stop=stop,
                                       close=script.close, wait_token=wait_token,
                                       on_down=lambda c, e: downs.append(c) if downs is not None else None):
            async with link:
                if not script.plan:
                    stop.set()
                    continue
                flowed, exc = script.plan.pop(0)
                if flowed:
                    link.data()
                raise exc

    asyncio.run(asyncio.wait_for(main(), 10))


def test_attempt_count_resets_once_data_flowed_even_when_the_session_ends_in_an_error():
    drop = ConnectionClosedError(None, None)
    # three outages each after data flowed, then two failures in a row without data
    script = Script([(True, drop), (True, drop), (True, drop), (False, OSError("refused")), (False, drop)])
    drive(script)
    assert [a for _, a in script.delays] == [0, 0, 0, 1, 2]
    assert script.closed == script.opened == 6  # every session closed, the last one by the stop


def test_token_cause_waits_for_a_new_token_without_backoff():
    expired = ConnectionClosedError(Close(1000, "token expired"), None)
    tokens: list[str] = []
    downs: list[str] = []
    script = Script([(True, expired), (False, TokenError("Token is invalid or has expired."))])
    drive(script, tokens=tokens, downs=downs)
    assert downs == ["token", "token"] and len(tokens) == 2
    assert [c for c, _ in script.delays] == ["token", "token"]  # the policy says wait; no sleep, no backoff


def test_our_own_protocol_misuse_stops_the_loop_instead_of_retrying():
    script = Script([(False, ProtocolError("3001 instruments exceed Kite's 3000", ours=True))] * 5)
    with pytest.raises(UpstreamMisuse) as info:
        drive(script)
    assert script.opened == 1 and info.value.exit_code == 2 and "3001 instruments" in info.value.message


def test_a_bug_outside_the_retryable_errors_propagates():
    stop = asyncio.Event()

    async def main():
        async def open_session():
            return object()

        async for link in reconnecting(open_session, classify=classify, policy=Backoff(), stop=stop,
                                       retry_on=(OSError,)):
            async with link:
                raise KeyError("bug")

    with pytest.raises(KeyError):
        asyncio.run(main())

"""One reconnect loop for every market source (the shape of websockets' ``async for ws in connect(...)``).

:func:`reconnecting` yields connected sessions, each wrapped in a :class:`Link`. The body pumps the session inside
``async with link:`` — a failure of the session is recorded on the link (not raised), and when the body returns
the loop classifies it (:func:`tradesig.feed.backoff.classify`), asks the pure policy
(:class:`tradesig.feed.backoff.Backoff`) what next, and either sleeps (backoff with jitter), waits for a new
token (``token``: no retry with the dead one), or stops for good (``ours``: our own protocol misuse, raised as
:class:`UpstreamMisuse`, exit 2). The attempt count resets once data flowed on a session (``link.data()``), so a
disconnect after a good hour starts again from the shortest delay.

No network here: the source's ``open_session`` does the connecting; tests drive the loop with plain objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

from tradesig.errors import TradesigError
from tradesig.feed.backoff import Backoff, Cause

log = logging.getLogger(__name__)

S = TypeVar("S")


class UpstreamMisuse(TradesigError):
    """We misused the upstream protocol (``exc.ours``): a bug on our side that a retry would repeat (exit 2)."""


@dataclass
class Link(Generic[S]):
    """One connected ``session`` handed out by :func:`reconnecting`.

    The body calls :meth:`data` when market data arrived (resets the attempt count) and runs the session inside
    ``async with link:``, which records an exception of a ``retry_on`` type in :attr:`error` instead of raising
    it, and closes the session with ``close``.
    """

    session: S
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    close: Callable[[S], Awaitable[None]] | None = None
    flowed: bool = False
    error: BaseException | None = None

    def data(self) -> None:
        self.flowed = True

    async def __aenter__(self) -> Link[S]:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        if self.close is not None:
            await self.close(self.session)
        if exc is not None and isinstance(exc, self.retry_on) and not isinstance(exc, asyncio.CancelledError):
            self.error = exc
            return True
        return False


async def _sleep(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


async def reconnecting(open_session: Callable[[], Awaitable[S | None]], *, classify: Callable[[BaseException], Cause],
                       policy: Backoff, stop: asyncio.Event,
                       retry_on: tuple[type[BaseException], ...] = (Exception,),
                       close: Callable[[S], Awaitable[None]] | None = None,
                       wait_token: Callable[[str], Awaitable[None]] | None = None,
                       on_down: Callable[[Cause, BaseException | None], None] | None = None,
                       ) -> AsyncIterator[Link[S]]:
    """Yield connected sessions until ``stop`` is set.

    ``open_session()`` connects (returns the session, or None when it gave up because ``stop`` was set; raises a
    ``retry_on`` exception on failure). After each failed open or ended session: ``on_down(cause, error)``, then
    ``policy.delay(cause, attempt)`` seconds of sleep, or ``await wait_token(reason)`` for ``token`` (the attempt
    count restarts at 0). A session that ended without an error counts as ``closed``. Raises
    :class:`UpstreamMisuse` for ``ours`` (never retried); exceptions outside ``retry_on`` propagate.
    """
    attempt = 0
    while not stop.is_set():
        error: BaseException | None = None
        try:
            session = await open_session()
        except retry_on as exc:
            error = exc
        else:
            if session is None or stop.is_set():
                if session is not None and close is not None:
                    await close(session)
                return
            link = Link(session, retry_on=retry_on, close=close)
            yield link
            if stop.is_set():
                return
            error = link.error
            if link.flowed:
                attempt = 0
        cause: Cause = classify(error) if error is not None else "closed"
        if cause == "ours":
            message = getattr(error, "message", None) or str(error)
            raise UpstreamMisuse(f"feed stopped: our own misuse of the upstream protocol ({message})",
                                 "this is a tradesig bug, not a network fault; report it with the log") from error
        if on_down is not None:
            on_down(cause, error)
        delay = policy.delay(cause, attempt)
        if delay is None:
            if wait_token is not None:
                await wait_token(str(error) if error is not None else "rejected")
            attempt = 0
            continue
        log.info("reconnecting in %.2f s after %s (attempt %d)", delay, cause, attempt + 1)
        attempt += 1
        await _sleep(delay, stop)


__all__ = ["Link", "UpstreamMisuse", "reconnecting"]

"""One viewer of the hub (:mod:`tradesig.feed.hub`): its send queue, tick conflation slots and drop rule; the
hub's counters.

A viewer's queue holds encoded JSON texts (shared with every viewer that receives the same message: each message
is encoded once) and *conflation slots* — dicts symbol → encoded tick — that the hub's writer task turns into one
``ticks`` batch (or single ``tick`` texts for a viewer that did not ask for batches) when it reaches them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

#: The start of a ``ticks`` batch (protocol 3): ``{"type":"ticks","ticks":[TICK,...]}``, each TICK a ``tick`` message.
TICKS_PREFIX = '{"type":"ticks","ticks":['


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    loopback: bool
    limit: int
    symbols: frozenset[str] | None = None  # None: every symbol
    batch: bool = False  # asked for ``ticks`` batches (``?batch=1``)
    queue: deque[str | dict[str, str]] = field(default_factory=deque)  # a dict: a conflation slot of ticks
    pending: dict[tuple, str] = field(default_factory=dict)
    behind: int = 0  # updates coalesced since the client last caught up
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False
    sent: int = 0
    can_publish: bool = False
    can_flatten: bool = False  # presented the publish token (loopback alone is not enough: any page could)
    view: tuple[str, str] | None = None  # the chart view (symbol, interval) the page shows
    busy: bool = False  # a history request of this client is being answered
    sending: bool = False  # the writer task is sending this client's queue

    def offer(self, key: tuple | None, text: str) -> bool:
        """Queue one message; False when the client must be dropped.

        Below ``limit`` queued messages every message is queued. Beyond it, keyed messages (tick, bar, status of
        one symbol) replace the pending value of the same key, and ``behind`` counts the messages offered since
        the viewer last completed a send; past ``2 × limit`` the viewer is dropped.
        """
        if len(self.queue) < self.limit and not self.pending:
            self.queue.append(text)
        else:
            if key is None:
                self.queue.append(text)
            else:
                self.pending[key] = text
            self.behind += 1
            if len(self.queue) + self.behind > 2 * self.limit:
                return False
        self.wake.set()
        return True

    def write_now(self, wire: bytes, limit: int) -> bool:
        """Write a flush's shared wire bytes (whole WebSocket frames) straight to the socket when nothing of this
        viewer waits (no queued message, no send in progress, write buffer at most ``limit`` bytes); True if
        written. Frames are written whole on the loop's thread, so they never interleave with websockets' own."""
        if self.queue or self.pending or self.sending or self.dropped:
            return False
        transport = self.ws.transport
        if self.ws.protocol.state is not State.OPEN or transport is None or transport.is_closing() \
                or transport.get_write_buffer_size() > limit:
            return False
        transport.write(wire)
        self.sent += 1
        self.behind = 0
        return True

    def offer_ticks(self, texts: dict[str, str], batch: str) -> bool:
        """Queue one flush of ticks (``texts``: symbol → encoded tick, ``batch``: the same as one ``ticks`` text, both
        shared with every viewer of this subscription); False when the client must be dropped.

        An idle viewer gets the shared text(s). A viewer with messages waiting gets a slot (a copy of ``texts``) at
        the end of its queue; while that slot is still the last queued item, later flushes are merged into it (the
        latest tick per symbol wins) and count as ``behind``.
        """
        queue = self.queue
        if queue and isinstance(queue[-1], dict):
            queue[-1].update(texts)
            self.behind += 1
            return len(queue) + self.behind <= 2 * self.limit
        if not queue and not self.pending:
            if self.batch:
                queue.append(batch)
            else:
                queue.extend(texts.values())
        else:
            queue.append(dict(texts))
        self.wake.set()
        return True


@dataclass
class HubStats:
    """Counters of the hub (for /health and tests): clients now, connected and dropped in total, messages."""

    clients: int = 0
    connected_total: int = 0
    dropped_slow: int = 0
    published: int = 0
    coalesced: int = 0
    ticks_in: int = 0  # ticks handed to publish_tick(s)
    tick_flushes: int = 0
    signals_in: int = 0
    rejected_publish: int = 0
    history_served: int = 0

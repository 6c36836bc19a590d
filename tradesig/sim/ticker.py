"""The sim's ticker side: WebSocket connections, their subscriptions, and the frames they are sent.

Pacing (not Kite's: a replay's): :meth:`TickerHub.trailing` reports how far the slowest client trails, and the
exchange holds its replay clock while one does.

Kite's ticker behaviour reproduced (Kite Connect v3 WebSocket docs): at most :data:`MAX_CONNECTIONS_PER_KEY`
connections per API key (a fourth is refused, 429); at most :data:`~tradesig.feed.kite_wire.MAX_INSTRUMENTS`
instruments per connection; a newly subscribed instrument streams in quote mode until a ``mode`` message and gets
its current state at once (a snapshot frame); a heartbeat (1-byte frame) after a quiet second. Control messages are
parsed by the codec (:func:`tradesig.feed.kite_control.decode_control`), frames built by its encoder.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradesig.clock import Clock
from tradesig.feed import kite_protocol as kp
from tradesig.sim.instruments import Catalog
from tradesig.sim.market import MarketState
from tradesig.sim.server import WsConnection

MAX_CONNECTIONS_PER_KEY = 3
#: SO_SNDBUF of a ticker connection (the kernel doubles it): small, so that a client trailing the replay leaves
#: its backlog in the transport, where the exchange's pacing sees it, instead of megabytes of kernel buffers
SEND_BUFFER_BYTES = 64 * 1024


@dataclass
class TickerConn:
    """One ticker connection: ``subs`` instrument token → mode; ``last_sent`` wall monotonic seconds;
    ``behind_since``: wall monotonic seconds since its backlog passed the pacing threshold (None: keeping up)."""

    ws: WsConnection
    token: str
    subs: dict[int, str] = field(default_factory=dict)
    last_sent: float = 0.0
    behind_since: float | None = None


def in_mode(full_tick: dict[str, Any], mode: str) -> dict[str, Any]:
    """The same tick as the packet of another mode carries it."""
    if mode == kp.MODE_FULL:
        return full_tick
    base = {k: full_tick[k] for k in ("tradable", "instrument_token", "last_price")}
    base["mode"] = mode
    if mode == kp.MODE_LTP:
        return base
    base.update({k: full_tick[k] for k in ("ohlc", "change") if k in full_tick})
    return base


class TickerHub:
    """The open ticker connections and what is sent to them.

    ``stalled()``: True while a ``stall`` fault holds every message back; ``stats``: the exchange's counters
    (``ticks_sent``, ``frames_sent``, ``postbacks_sent``).
    """

    def __init__(self, catalog: Catalog, market: MarketState, wall: Clock, stalled: Callable[[], bool],
                 stats: dict[str, int]) -> None:
        self.catalog = catalog
        self.market = market
        self.wall = wall
        self.stalled = stalled
        self.stats = stats
        self.conns: list[TickerConn] = []

    # ------------------------------------------------------------------------------------------ connections

    def refusal(self) -> tuple[int, str] | None:
        """(HTTP status, reason) when a new connection would pass Kite's per-key limit; else None."""
        if sum(1 for c in self.conns if not c.ws.closed) >= MAX_CONNECTIONS_PER_KEY:
            return 429, f"at most {MAX_CONNECTIONS_PER_KEY} ticker connections per api_key"
        return None

    def opened(self, ws: WsConnection) -> None:
        writer = getattr(ws, "writer", None)
        sock = writer.get_extra_info("socket") if writer is not None else None
        if sock is not None:  # a small kernel send buffer: a trailing client's backlog shows in the transport
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        token = (ws.query.get("access_token") or [""])[0]
        self.conns.append(TickerConn(ws, token, last_sent=self.wall.monotonic()))

    def closed(self, ws: WsConnection) -> None:
        self.conns = [c for c in self.conns if c.ws is not ws]

    def find(self, ws: WsConnection) -> TickerConn | None:
        return next((c for c in self.conns if c.ws is ws), None)

    def unsent_bytes(self) -> int:
        """Bytes sent to ticker clients that they have not read yet (a slow client's backlog)."""
        return sum(c.ws.unsent_bytes() for c in self.conns)

    def trailing(self, hold_bytes: int, give_up_seconds: float) -> int:
        """The largest backlog (bytes) of a client the replay should wait for: a client whose backlog has stayed
        above ``hold_bytes`` for ``give_up_seconds`` of wall time reads no more (a stuck consumer) and is not
        waited for until it catches up."""
        mono = self.wall.monotonic()
        worst = 0
        for c in self.conns:
            backlog = c.ws.unsent_bytes()
            if backlog <= hold_bytes:
                c.behind_since = None
            elif c.behind_since is None:
                c.behind_since = mono
            elif mono - c.behind_since > give_up_seconds:
                continue
            worst = max(worst, backlog)
        return worst

    def abort_all(self) -> None:
        """Drop every connection at once (TCP abort: the ``drop`` fault, or shutdown)."""
        for c in list(self.conns):
            c.ws.abort()
        self.conns.clear()

    def close_all(self, error_text: str, reason: str) -> None:
        """Send every connection an error text, then close it (the ``expire_token`` fault)."""
        for c in list(self.conns):
            c.ws.send_text(kp.encode_error(error_text))
            c.ws.close(1000, reason)

    # --------------------------------------------------------------------------------------- control messages

    def control(self, conn: TickerConn, msg: kp.Control, now: datetime) -> list[int]:
        """Apply a decoded control message; the tokens whose mode was set (the replay may start on them).

        Sends the peer an error text when a subscribe would pass the instrument limit (nothing is subscribed)."""
        if isinstance(msg, kp.Subscribe):
            new = [t for t in dict.fromkeys(msg.tokens) if t not in conn.subs]
            if len(conn.subs) + len(new) > kp.MAX_INSTRUMENTS:
                conn.ws.send_text(kp.encode_error(f"subscription limit of {kp.MAX_INSTRUMENTS} instruments "
                                                  "per connection exceeded"))
                return []
            for t in new:
                conn.subs[t] = kp.SUBSCRIBE_DEFAULT_MODE
            self.snapshot(conn, new, now)
            return []
        if isinstance(msg, kp.Unsubscribe):
            for t in msg.tokens:
                conn.subs.pop(t, None)
            return []
        changed = [t for t in msg.tokens if t in conn.subs]
        for t in changed:
            conn.subs[t] = msg.mode
        self.snapshot(conn, changed, now)
        return changed

    # -------------------------------------------------------------------------------------------- sending

    def snapshot(self, conn: TickerConn, tokens: list[int], now: datetime) -> None:
        """Send the current state of newly subscribed tokens at once, as Kite does: each instrument's last quote,
        stamped with the time of the index tick it was priced from (``now`` only before the index has ticked).
        The clock's ``now`` can run ahead of the replay on a loaded machine; a snapshot stamped with it would
        reach a client before the replay's earlier ticks and close their minute early."""
        if self.stalled():
            return
        ticks = []
        for t in tokens:
            ins = self.catalog.by_token.get(t)
            if ins is None:
                continue
            st = self.market.index.get(t if ins.is_index else self.market.underlying_token.get(ins.underlying, -1))
            if ins.is_index and (st is None or not st.ts):
                continue
            when = datetime.fromtimestamp(st.ts, UTC) if st is not None and st.ts else now
            tick = self.market.tick(ins, conn.subs[t], when)
            if tick is not None:
                ticks.append(tick)
        if ticks:
            self.send_binary(conn, kp.encode_frame(ticks))

    def broadcast(self, batch: list[dict[str, Any]], touched: set[int], postbacks: list[dict[str, Any]],
                  now: datetime) -> None:
        """Send each connection the index ticks of ``batch`` it subscribed (in its mode), a fresh tick of every
        subscribed derivative whose underlying moved (``touched`` index tokens), and the order ``postbacks``."""
        if self.stalled():
            return
        texts = [kp.encode_order_postback(p) for p in postbacks]
        for conn in list(self.conns):
            ticks = []
            for t in batch:
                mode = conn.subs.get(t["instrument_token"])
                if mode is not None:
                    ticks.append(in_mode(t, mode))
            for token, mode in conn.subs.items():
                ins = self.catalog.by_token.get(token)
                if ins is None or ins.is_index:
                    continue
                if self.market.underlying_token.get(ins.underlying) in touched:
                    tick = self.market.tick(ins, mode, now)
                    if tick is not None:
                        ticks.append(tick)
            if ticks:
                self.send_binary(conn, kp.encode_frame(ticks))
                self.stats["ticks_sent"] += len(ticks)
            for text in texts:
                if conn.ws.send_text(text):
                    self.stats["postbacks_sent"] += 1
                    conn.last_sent = self.wall.monotonic()

    def send_binary(self, conn: TickerConn, frame: bytes) -> None:
        if conn.ws.send_binary(frame):
            conn.last_sent = self.wall.monotonic()
            self.stats["frames_sent"] += 1

    def heartbeat(self, period: float) -> None:
        """Send a heartbeat to every connection quiet for ``period`` wall seconds (none while stalled)."""
        if self.stalled():
            return
        mono = self.wall.monotonic()
        for conn in list(self.conns):
            if mono - conn.last_sent >= period:
                self.send_binary(conn, kp.HEARTBEAT)


__all__ = ["MAX_CONNECTIONS_PER_KEY", "TickerConn", "TickerHub", "in_mode"]

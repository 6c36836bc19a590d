"""``signals --follow``: the board and the S1–S8 engine fed live by the feed's viewer hub.

Two layers (sans-I/O core, asyncio shell — as the feed does it):

- :class:`LiveSignals` takes hub messages (dicts) and returns what they caused: a board for each newly closed
  bar of the board interval, and S1–S8 events from each newly closed hourly bar. Bars of the wanted interval
  are used as they arrive; otherwise they are built from the hub's closed 1m bars with the store's session-aligned
  :func:`tradesig.store.bars.resample` (a bucket closes when its last minute arrives or a later bucket starts).
  ``tick`` messages are not used (the board reads closed bars only).
- :func:`follow` connects to the hub (``ws://settings.hub.listen/ws``, ``?token=`` from ``hub.token_file``),
  subscribes to the symbols, prints each board, appends each event to the events log once and publishes it back
  to the hub (``{"type": "publish", "channel": "signal", "data": {...}}``, docs/viewer-protocol.md). A board is
  also published when its label changes (``source: "board"``), not on every bar.

History: at start the core is primed from the Store (bars closed by the clock's now), so the indicators are warm
and the week's context is known; events found while priming are recorded (once) but not published.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from tradesig.clock import IST, Clock, ist_date
from tradesig.errors import BrokerError, ConfigError
from tradesig.signals.board import Board, board_series
from tradesig.signals.strategies import ExpiryFn, SignalEvent, WeeklyZoneEngine

if TYPE_CHECKING:
    from tradesig.config import LoadedConfig, Settings

log = logging.getLogger(__name__)

#: Bars kept per symbol for the live board (enough for EMA200's warm-up with slack).
KEEP_BARS = 1000
_ANCHOR = 9 * 60 + 15
_CLOSE = 15 * 60 + 30


def _parse_ts(value: Any) -> datetime:
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"bar ts {value!r} has no time zone")
    return ts.astimezone(UTC)


def _bar_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    from tradesig.store.bars import conform

    df = pl.DataFrame({
        "symbol": [r["symbol"] for r in rows], "ts": [r["ts"] for r in rows],
        "open": [float(r["open"]) for r in rows], "high": [float(r["high"]) for r in rows],
        "low": [float(r["low"]) for r in rows], "close": [float(r["close"]) for r in rows],
        "volume": [r.get("volume") for r in rows], "oi": [r.get("oi") for r in rows],
        "status": [r.get("status") or "complete" for r in rows],
    }, schema_overrides={"ts": pl.Datetime("us", "UTC"), "volume": pl.Int64, "oi": pl.Int64})
    return conform(df)


@dataclass
class _Builder:
    """Closed bars of one interval for one symbol, direct or built from 1m bars."""

    interval: str
    step: int
    direct: bool = False
    pending: list[dict[str, Any]] = field(default_factory=list)
    pending_key: tuple[Any, int] | None = None
    last_ts: datetime | None = None
    last_minute: datetime | None = None

    def _bucket(self, ts: datetime) -> tuple[Any, int, int]:
        local = ts.astimezone(IST)
        minute = local.hour * 60 + local.minute
        start = _ANCHOR + (minute - _ANCHOR) // self.step * self.step
        return local.date(), start, min(start + self.step, _CLOSE)

    def _flush(self) -> list[dict[str, Any]]:
        from tradesig.store.bars import resample

        if not self.pending:
            return []
        built = resample(_bar_frame(self.pending), self.interval)
        self.pending, self.pending_key = [], None
        return built.to_dicts()

    def feed(self, bar: dict[str, Any]) -> list[dict[str, Any]]:
        """Closed bars of this interval caused by one closed bar message (any interval)."""
        out: list[dict[str, Any]] = []
        if bar["interval"] == self.interval:
            if not self.direct:
                self.direct, self.pending, self.pending_key = True, [], None
            out = [bar]
        elif bar["interval"] == "1m" and not self.direct:
            if self.last_minute is not None and bar["ts"] <= self.last_minute:
                # A minute older than the newest: the store catch-up's copy seen again, or a backfilled minute
                # the feed republishes out of order. Into the still-open bucket it goes (replacing the copy of
                # the same minute: the newer one is the broker's bar), as the engine's HourlyAggregator does; a
                # minute of a bucket already closed is dropped.
                day, start, _ = self._bucket(bar["ts"])
                if self.pending_key == (day, start):
                    self.pending = sorted([p for p in self.pending if p["ts"] != bar["ts"]] + [bar],
                                          key=lambda p: p["ts"])
                return []
            self.last_minute = bar["ts"]
            day, start, end = self._bucket(bar["ts"])
            if self.pending_key is not None and self.pending_key != (day, start):
                out.extend(self._flush())
            self.pending.append(bar)
            self.pending_key = (day, start)
            local = bar["ts"].astimezone(IST)
            if local.hour * 60 + local.minute + 1 >= end:
                out.extend(self._flush())
        fresh = []
        for b in out:
            if self.last_ts is None or b["ts"] > self.last_ts:
                self.last_ts = b["ts"]
                fresh.append(b)
        return fresh


class LiveSignals:
    """Sans-I/O live core for several symbols: ``on_message(msg) -> (boards, events)``.

    ``history``: per symbol, closed bars of ``interval`` (BAR_SCHEMA) to warm the board; ``hourly``: per symbol,
    closed hourly bars to prime the S1–S8 engine. ``chain``: option-chain snapshots for PCR (or None).
    """

    def __init__(self, settings: Settings, symbols: Sequence[str], interval: str, *,
                 history: dict[str, pl.DataFrame] | None = None, hourly: dict[str, pl.DataFrame] | None = None,
                 chain: pl.DataFrame | None = None, expiry_fn: ExpiryFn | None = None) -> None:
        from tradesig.store.bars import empty_bars, interval_minutes

        self.settings = settings
        self.interval = interval
        self.symbols = list(symbols)
        self.chain = chain
        self.bars: dict[str, pl.DataFrame] = {}
        self.engines: dict[str, WeeklyZoneEngine] = {}
        self.primed_events: list[SignalEvent] = []
        self._board_builders: dict[str, _Builder] = {}
        self._hour_builders: dict[str, _Builder] = {}
        self.last_label: dict[str, str] = {}
        for sym in self.symbols:
            frame = (history or {}).get(sym)
            self.bars[sym] = (frame.select(empty_bars().columns).tail(KEEP_BARS) if frame is not None
                              else empty_bars())
            engine = WeeklyZoneEngine(sym, settings, expiry_fn=expiry_fn)
            hb = (hourly or {}).get(sym)
            if hb is not None and not hb.is_empty():
                self.primed_events.extend(engine.scan(hb))
            self.engines[sym] = engine
            self._board_builders[sym] = _Builder(interval, interval_minutes(interval))
            self._hour_builders[sym] = _Builder("1h", 60)
            if not self.bars[sym].is_empty():
                self._board_builders[sym].last_ts = self.bars[sym]["ts"][-1]
            if engine._last_ts is not None:
                self._hour_builders[sym].last_ts = engine._last_ts.astimezone(UTC)

    def on_message(self, msg: dict[str, Any]) -> tuple[list[Board], list[SignalEvent]]:
        """Process one hub message. Only ``bar`` messages of followed symbols matter; others give nothing.
        A malformed bar raises ``ValueError``/``KeyError`` (the shell logs and skips it)."""
        if msg.get("type") != "bar" or msg.get("symbol") not in self.bars:
            return [], []
        bar = dict(msg)
        bar["ts"] = _parse_ts(bar["ts"])
        bar.setdefault("interval", "1m")
        sym = bar["symbol"]
        boards: list[Board] = []
        events: list[SignalEvent] = []
        closed = self._board_builders[sym].feed(bar)
        if closed:
            frame = pl.concat([self.bars[sym], _bar_frame([{**b, "symbol": sym} for b in closed])])
            self.bars[sym] = frame.tail(KEEP_BARS)
            series = board_series(self.bars[sym], interval=self.interval, chain=self.chain, settings=self.settings,
                                  symbol=sym)
            boards.extend(series.board_at(len(series) - len(closed) + k) for k in range(len(closed)))
        for hour in self._hour_builders[sym].feed(bar):
            event = self.engines[sym].on_hourly_bar(hour)
            if event is not None:
                events.append(event)
        return boards, events

    def label_changed(self, board: Board) -> bool:
        """True when ``board``'s label differs from the last one seen for its symbol (updates the memory)."""
        changed = self.last_label.get(board.symbol) != board.label
        self.last_label[board.symbol] = board.label
        return changed


def board_line(board: Board) -> str:
    """One line per live board (table format)."""
    short = {"BUY": "B", "SELL": "S", "NEUTRAL": "-", "UNAVAILABLE": "."}
    calls = "".join(short[r.call.value] for r in board.readings)
    return (f"{board.ts.astimezone(IST):%Y-%m-%d %H:%M} {board.symbol:<9} {board.interval:>3} close "
            f"{board.close:10.2f} score {board.score:+6.1f} {board.label:<11} {board.available:2d}/13 [{calls}]")


def board_csv(board: Board, header: bool) -> str:
    """CSV row(s) of a live board: ts (IST), symbol, interval, close, score, label, available, 13 calls."""
    cols = ["ts", "symbol", "interval", "close", "score", "label", "available", *[r.name for r in board.readings]]
    row = [f"{board.ts.astimezone(IST):%Y-%m-%d %H:%M}", board.symbol, board.interval, f"{board.close:.2f}",
           f"{board.score:.2f}", board.label, str(board.available), *[r.call.value for r in board.readings]]
    return (",".join(cols) + "\n" if header else "") + ",".join(row)


def event_line(event: SignalEvent) -> str:
    o = event.option
    return (f"SIGNAL {event.signal} {event.name} {event.symbol} {event.side} bar "
            f"{event.bar_ts.astimezone(IST):%Y-%m-%d %H:%M} entry {event.entry_price:.2f} stop {event.stop_loss:.2f} "
            f"sell {o.option_type} {o.strike:.0f} hedge {o.hedge_strike:.0f} expiry {o.expiry.isoformat()}")


def hub_url(settings: Settings) -> str:
    """``ws://HOST:PORT/ws`` of the hub from ``settings.hub.listen`` (+ ``?token=`` from ``hub.token_file``)."""
    from pathlib import Path

    listen = settings.hub.listen
    url = f"ws://{listen}/ws"
    if settings.hub.token_file:
        try:
            token = Path(settings.hub.token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"hub.token_file {settings.hub.token_file}: {exc.strerror}") from None
        url += f"?token={token}"
    return url


def prime(loaded: LoadedConfig, symbols: Sequence[str], interval: str, clock: Clock,
          chain: pl.DataFrame | None = None, expiry_fn: ExpiryFn | None = None) -> LiveSignals:
    """A :class:`LiveSignals` warmed with the Store's closed bars up to ``clock.now()``."""
    from tradesig.signals.service import CONTEXT_WEEKS, _closed, _store, calendar_expiry, lookback_days

    now = clock.now()
    today = ist_date(now)
    store = _store(loaded)
    history, hourly = {}, {}
    for sym in symbols:
        history[sym] = _closed(store.read_bars(sym, interval, today - timedelta(days=lookback_days(interval)), today),
                               interval, now)
        hourly[sym] = _closed(store.read_bars(sym, "1h", today - timedelta(weeks=CONTEXT_WEEKS + 1), today), "1h",
                              now)
    return LiveSignals(loaded.settings, symbols, interval, history=history, hourly=hourly, chain=chain,
                       expiry_fn=expiry_fn or calendar_expiry(loaded))


async def follow_async(loaded: LoadedConfig, symbols: Sequence[str], interval: str, *, fmt: str = "table",
                       chain: pl.DataFrame | None = None, echo: Callable[[str], None] = print,
                       clock: Clock | None = None, stop: asyncio.Event | None = None, url: str | None = None,
                       expiry_fn: ExpiryFn | None = None, backoff_cap: float = 30.0) -> None:
    """Follow the hub until ``stop`` is set (or forever). Raises :class:`BrokerError` when the first connection
    fails (exit 3); later disconnections are retried with capped exponential backoff."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

    from tradesig.feed.follow import pick_clock
    from tradesig.signals.service import _symbols, record_events

    stop = stop or asyncio.Event()
    names = _symbols(loaded, symbols)
    target = url or hub_url(loaded.settings)
    clock = clock or await asyncio.to_thread(pick_clock, loaded.settings.kite.root)
    core = prime(loaded, names, interval, clock, chain, expiry_fn)
    record_events(loaded.home, core.primed_events)
    shown = target.split("?")[0]
    connected_once = False
    delay = 0.5
    while not stop.is_set():
        try:
            async with connect(target, open_timeout=5, max_size=2**22) as ws:
                connected_once, delay = True, 0.5
                log.info("signals: following %s for %s (%s)", shown, ", ".join(names), interval)
                await ws.send(json.dumps({"type": "subscribe", "symbols": names}))
                for msg in catch_up_messages(loaded, names, clock):
                    await _handle(ws, core, loaded, fmt, echo, msg)
                reader = asyncio.ensure_future(_pump(ws, core, loaded, fmt, echo, stop))
                stopper = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (reader, stopper):
                    if task not in done:
                        task.cancel()
                if reader in done and reader.exception() is not None:
                    raise reader.exception()  # type: ignore[misc]
        except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            if not connected_once:
                raise BrokerError(f"cannot reach the feed hub at {shown}: {exc}",
                                  "start 'tradesig feed --serve' or check hub.listen") from None
            log.warning("signals: hub connection lost (%s); retrying in %.1fs", exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, backoff_cap)


def catch_up_messages(loaded: LoadedConfig, symbols: Sequence[str], clock: Clock) -> list[dict[str, Any]]:
    """Today's stored 1m bars (the feed's) as hub ``bar`` messages, so a follower that connects (or reconnects)
    mid-session builds the bars in progress from their first minute. Minutes the core has already seen are
    skipped by its builders, so the hub's own copies of these minutes change nothing."""
    from tradesig.signals.service import _store

    store = _store(loaded)
    today = ist_date(clock.now())
    out: list[dict[str, Any]] = []
    for sym in symbols:
        for row in store.read_bars(sym, "1m", today, today).iter_rows(named=True):
            out.append({**row, "type": "bar", "interval": "1m", "symbol": sym})
    return out


async def _handle(ws: Any, core: LiveSignals, loaded: LoadedConfig, fmt: str, echo: Callable[[str], None],
                  msg: dict[str, Any]) -> None:
    """One hub message through the core: print boards, record and publish S1–S8 events."""
    from tradesig.signals.service import record_events

    try:
        boards, events = core.on_message(msg)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("signals: skipping malformed hub message: %s", exc)
        return
    for board in boards:
        if fmt == "json":
            echo(json.dumps(board.to_dict(), sort_keys=True))
        elif fmt == "csv":
            echo(board_csv(board, header=not core.last_label))
        else:
            echo(board_line(board))
        if core.label_changed(board):
            await ws.send(json.dumps({"type": "publish", "channel": "signal", "data": {
                "source": "board", "symbol": board.symbol, "interval": board.interval,
                "ts": board.ts.isoformat(), "label": board.label, "score": round(board.score, 2),
                "available": board.available}}))
    if events:
        record_events(loaded.home, events)
    for event in events:
        if fmt != "csv":  # CSV carries boards only; events are in the events log and on the hub
            echo(json.dumps(event.to_dict(), sort_keys=True) if fmt == "json" else event_line(event))
        await ws.send(json.dumps({"type": "publish", "channel": "signal",
                                  "data": {"source": "weekly", **event.to_dict()}}))


async def _pump(ws: Any, core: LiveSignals, loaded: LoadedConfig, fmt: str, echo: Callable[[str], None],
                stop: asyncio.Event) -> None:
    async for raw in ws:
        try:
            msg = json.loads(raw)
        except ValueError as exc:
            log.warning("signals: skipping malformed hub message: %s", exc)
            continue
        await _handle(ws, core, loaded, fmt, echo, msg)
        if stop.is_set():
            return


def follow(loaded: LoadedConfig, symbols: Sequence[str], interval: str, *, fmt: str = "table",
           chain: pl.DataFrame | None = None, echo: Callable[[str], None] = print) -> None:
    """Blocking :func:`follow_async` until interrupted (Ctrl-C / SIGTERM), on the clock the hub calls for
    (:func:`tradesig.feed.follow.pick_clock`: the sim's replay time when kite.root is a sim, else the system clock)."""
    asyncio.run(follow_async(loaded, symbols, interval, fmt=fmt, chain=chain, echo=echo))


__all__ = ["LiveSignals", "follow", "follow_async", "prime", "hub_url", "board_line", "event_line"]

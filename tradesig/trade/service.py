"""What the ``trade`` commands call: backtest from the Store, status/positions/orders, manual exit, flatten
(kill switch) and resume. Each function takes the loaded config and returns plain data for the CLI to render.

Files in the data home (docs/trading.md):
- ``trade/kill-switch.json`` — the kill switch (tradesig.trade.risk.KillSwitch);
- ``trade/state-<mode>.json`` — the running engine's last snapshot (open positions, day P&L), rewritten
  atomically by ``trade start``;
- ``trade/requests/exit-<ID>`` — a manual exit request for a running paper engine;
- ``events/DATE.jsonl`` — every decision, order and fill (tradesig.store.events.EventLog).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tradesig.clock import Clock, SystemClock, ist_date
from tradesig.config import LoadedConfig
from tradesig.errors import ConfigError, DataError
from tradesig.market import canonical_symbol
from tradesig.trade import events as ev
from tradesig.trade.events import EventSink, TradeEvent
from tradesig.trade.risk import KillSwitch

__all__ = ["MODES", "backtest_from_store", "state_path", "load_state", "write_state", "live_broker",
           "flatten", "resume", "request_exit", "pending_exit_requests", "status", "positions", "orders",
           "event_sink", "parse_strategies", "WARMUP_DAYS", "BASKET_MARK_KEYS"]

log = logging.getLogger(__name__)

MODES = ("paper", "live")
#: days of hourly bars before the first traded day fed to the signal state (the previous week's context)
WARMUP_DAYS = 21


def parse_strategies(text: str | None) -> list[str] | None:
    """``"S1,S3"`` → ["S1", "S3"]; None → None (settings decide). Raises ConfigError for unknown names."""
    if not text:
        return None
    names = [t.strip().upper() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in {f"S{i}" for i in range(1, 9)}]
    if bad:
        raise ConfigError(f"unknown strategies {bad}", "use S1..S8, comma-separated")
    return names


def event_sink(home: Path, clock: Clock) -> EventSink:
    """``emit(event)`` appending a trading event to the events log (kind = its type name in snake case, payload
    its fields: tradesig.trade.events) with the clock's time."""
    from tradesig.store.events import EventLog

    log = EventLog(home)

    def emit(event: TradeEvent) -> None:
        log.append(event.kind, event.payload(), clock.now())

    return emit


# ------------------------------------------------------------------------------------------------ backtest


def backtest_from_store(loaded: LoadedConfig, start: date, end: date, symbols: list[str], *,
                        lots: int | None = None, strategies: list[str] | None = None,
                        chain_path: Path | None = None, iv_file: Path | None = None) -> Any:
    """Backtest ``symbols`` over IST dates ``start``..``end`` from the Store's hourly bars (derived from stored
    1-minute bars where needed), with ``WARMUP_DAYS`` of earlier bars for the weekly context. Returns a
    :class:`tradesig.trade.backtest.BacktestResult`. Raises DataError when no bars are stored for a symbol or
    the range is empty. Modelled premiums take their IV from ``iv_file`` (else ``pricing.iv_file``), else the
    indices' stored daily closes (tradesig.volatility)."""
    from tradesig.calendar import get_calendar
    from tradesig.store.bar_cache import BarCache
    from tradesig.timing import Phases, startup_summary
    from tradesig.trade.backtest import default_instruments, run_backtest
    from tradesig.trade.quotes import ChainSnapshots

    log.info("backtest: %s", startup_summary())
    phases = Phases()
    if end < start:
        raise DataError(f"--to {end} is before --from {start}")
    bars = BarCache(loaded.home)  # polars-free while the stored parts are the ones it was built from
    hourly = {}
    for sym in symbols:
        rows = bars.read(sym, "1h", start - timedelta(days=WARMUP_DAYS), end).rows()
        if not rows:
            raise DataError(f"no {sym} bars stored for {start}..{end} in {loaded.home}",
                            "import them first: 'tradesig history import FILE'")
        hourly[sym] = rows
    chain = ChainSnapshots(chain_path) if chain_path else None
    instruments = default_instruments(get_calendar(loaded).weekly_expiry)
    from tradesig.volatility import iv_models_from_store

    configured = loaded.settings.pricing.iv_file
    iv_models = iv_models_from_store(loaded.home, symbols, start, end, fallback=loaded.settings.backtest.iv,
                                     iv_file=iv_file or (Path(configured).expanduser() if configured else None),
                                     bars=bars)
    phases.lap("read")
    result = run_backtest(loaded.settings, hourly, start=start, end=end, instruments=instruments,
                          strategies=strategies, lots=lots, chain=chain, iv_models=iv_models)
    phases.lap("engine")
    log.info("backtest: %s", phases.summary())
    return result


BACKTEST_DIR = "backtest"


def save_backtest_events(home: Path, result: Any, start: date, end: date) -> Path:
    """Write a backtest's events as ``<home>/backtest/events/DATE.jsonl`` (IST dates), replacing the files of every
    date from ``start`` to ``end``: the latest backtest over a date is what ``report --mode backtest`` shows, and a
    re-run never duplicates. The paper/live events log (``<home>/events``) is never touched. Each file is written
    to a temporary name and renamed (a reader sees the old file or the new one, never a part); a file that already
    holds exactly the bytes it would get is left as it is (a re-run over unchanged data writes nothing), and the
    files of dates without events are removed. Returns the directory."""
    from tradesig.clock import ist_date
    from tradesig.timing import Phases

    phases = Phases()
    directory = Path(home) / BACKTEST_DIR / "events"
    directory.mkdir(parents=True, exist_ok=True)
    # the bytes of json.dumps(e, sort_keys=True, default=str); without the cycle check (records are trees of
    # plain values: a cycle cannot occur), which took a third of the encoding time
    encode = json.JSONEncoder(sort_keys=True, default=str, check_circular=False).encode
    by_day: dict[date, list[str]] = {}
    stamp, day = None, start
    for event in result.events:
        if event["ts"] != stamp:  # events come in time order, many at one instant: one date look-up per instant
            stamp = event["ts"]
            day = ist_date(datetime.fromisoformat(stamp))
        if start <= day <= end:
            by_day.setdefault(day, []).append(encode(event))
    with os.scandir(directory) as entries:
        stored = {e.name: e for e in entries if e.name.endswith(".jsonl")}
    for day, lines in by_day.items():
        name = f"{day.isoformat()}.jsonl"
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path = directory / name
        old = stored.get(name)
        if old is not None and _same_bytes(old, data):
            continue
        tmp = path.with_name(name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    for name in stored:
        try:
            day = date.fromisoformat(name[:-len(".jsonl")])
        except ValueError:
            continue
        if start <= day <= end and day not in by_day:
            (directory / name).unlink(missing_ok=True)
    phases.lap("write")
    log.info("backtest: %s (%d events)", phases.summary(), len(result.events))
    return directory


def _same_bytes(entry: os.DirEntry[str], data: bytes) -> bool:
    """True when the file ``entry`` holds exactly ``data`` (its size first: most differing files differ there)."""
    try:
        if entry.stat().st_size != len(data):
            return False
        with open(entry.path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------- state


def state_path(home: Path, mode: str) -> Path:
    return Path(home) / "trade" / f"state-{mode}.json"


def write_state(home: Path, mode: str, snapshot: dict[str, Any]) -> None:
    """Atomically replace the mode's state file with ``snapshot`` (plus the writer's pid)."""
    path = state_path(home, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**snapshot, "pid": os.getpid(), "mode": mode}, default=str), encoding="utf-8")
    os.replace(tmp, path)


def load_state(home: Path, mode: str) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(home, mode).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable engine state {state_path(home, mode)}: {exc}") from None


# ------------------------------------------------------------------------------------------------- brokers


def live_broker(loaded: LoadedConfig, clock: Clock | None = None) -> Any:
    """A :class:`~tradesig.trade.brokers.live.LiveBroker` over the stored Kite token (``tradesig login``).
    Raises TokenError when the token is missing or expired."""
    from tradesig.broker.kite import make_kite
    from tradesig.broker.tokens import TokenStore
    from tradesig.trade.brokers.live import LiveBroker

    record = TokenStore(loaded.home, clock).load("kite")
    kite = make_kite(loaded.settings, record.access_token, api_key=record.api_key)
    return LiveBroker(kite, root=loaded.settings.kite.root)


def flatten(loaded: LoadedConfig, mode: str, reason: str = "manual flatten (trade flatten)",
            clock: Clock | None = None) -> dict[str, Any]:
    """The kill switch: engage the persistent flag (blocks new entries in every process until ``trade
    resume``) and, in live mode, square off every option position the broker reports, at market, from this
    (possibly fresh) process — shorts bought back first. A running paper engine flattens itself when it sees the
    flag. While this process squares off, the flag names it (``closer``) so that running live engines leave the
    broker alone and only reconcile afterwards. Returns {"kill_switch", "mode", "orders": [...],
    "remaining": [...]}."""
    from tradesig.trade.engine import flatten_broker_positions
    from tradesig.trade.orders import make_order_manager

    clock = clock or SystemClock()
    emit = event_sink(loaded.home, clock)
    switch = KillSwitch(loaded.home)
    switch.engage(reason, clock.now(), closer=os.getpid() if mode == "live" else None)
    emit(ev.KillSwitch("engage", reason, mode=mode))
    result: dict[str, Any] = {"kill_switch": "engaged", "mode": mode, "orders": [], "remaining": []}
    if mode == "live":
        try:
            broker = live_broker(loaded, clock)
            instruments = broker.instruments()
            om = make_order_manager(loaded.settings, broker, clock, emit)
            result["orders"] = flatten_broker_positions(broker, om, instruments, emit)
            result["remaining"] = [{"tradingsymbol": p.tradingsymbol, "quantity": p.quantity}
                                   for p in broker.positions() if p.quantity]
        finally:
            switch.done()
    return result


def resume(loaded: LoadedConfig, clock: Clock | None = None) -> bool:
    """Release the kill switch; True when it was engaged."""
    clock = clock or SystemClock()
    released = KillSwitch(loaded.home).release()
    event_sink(loaded.home, clock)(ev.KillSwitch("release", was_engaged=released))
    return released


def pending_exit_requests(home: Path) -> list[str]:
    """Position ids with a pending manual-exit request (the files are removed as they are returned)."""
    directory = Path(home) / "trade" / "requests"
    out = []
    for path in sorted(directory.glob("exit-*")) if directory.exists() else []:
        out.append(path.name[len("exit-"):])
        path.unlink(missing_ok=True)
    return out


def request_exit(loaded: LoadedConfig, mode: str, position_id: str, clock: Clock | None = None) -> dict[str, Any]:
    """Manual exit of one basket. Live: squared off now from this process (main leg first) using the legs of
    the engine's state file; the running engine reconciles. Paper: an exit request for the running engine.
    Raises DataError when the id is not an open position of that mode."""
    from tradesig.trade.orders import make_order_manager
    from tradesig.trade.position import Position

    clock = clock or SystemClock()
    state = load_state(loaded.home, mode) or {}
    found = [p for p in state.get("open", []) if p["id"] == position_id]
    if not found:
        known = ", ".join(p["id"] for p in state.get("open", [])) or "none"
        raise DataError(f"no open {mode} position {position_id!r} (open: {known})",
                        "see 'tradesig trade positions'")
    emit = event_sink(loaded.home, clock)
    emit(ev.ManualExit(position_id, mode))
    if mode == "paper":
        directory = loaded.home / "trade" / "requests"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"exit-{position_id}").write_text(clock.now().isoformat(), encoding="utf-8")
        return {"position": position_id, "status": "requested", "mode": mode}
    pos = Position.from_dict(found[0])
    broker = live_broker(loaded, clock)
    om = make_order_manager(loaded.settings, broker, clock, emit)
    result = om.exit_basket(pos.main, pos.hedge, pos.main_qty, pos.hedge_qty, pos.id)
    return {"position": position_id, "status": "closed" if result.ok else "failed", "mode": mode,
            "message": result.message,
            "main": result.main.as_dict() if result.main else None, "hedge": result.hedge.as_dict()}


# ----------------------------------------------------------------------------------------------- reporting


def status(loaded: LoadedConfig, clock: Clock | None = None) -> dict[str, Any]:
    """Kill switch and, per mode, the engine's last snapshot: its engine time (``updated``; a sim's replayed time
    with ``--clock sim``), how long ago the file was written by the wall clock (``age_seconds``: a running engine
    rewrites it every few seconds), open positions, day P&L split into ``realised_pnl`` (closed today, net),
    ``unrealised_pnl`` (open baskets at their legs' last marks, gross) and ``open_charges`` (paid on the open
    baskets), and ``baskets``: each open basket's :data:`BASKET_MARK_KEYS` (rupees; prices per unit)."""
    clock = clock or SystemClock()
    out: dict[str, Any] = {"kill_switch": KillSwitch(loaded.home).engaged(), "modes": {}}
    for mode in MODES:
        state = load_state(loaded.home, mode)
        if state is None:
            continue
        written = state_path(loaded.home, mode).stat().st_mtime
        out["modes"][mode] = {
            "updated": state["ts"], "age_seconds": round(clock.now().timestamp() - written, 1),
            "pid": state.get("pid"), "open_positions": len(state.get("open", [])),
            "closed_today": len(state.get("closed_today", [])), "day_pnl": state.get("day_pnl"),
            "realised_pnl": state.get("realised_pnl"), "unrealised_pnl": state.get("unrealised_pnl"),
            "open_charges": state.get("open_charges"),
            "baskets": [{k: p.get(k) for k in BASKET_MARK_KEYS} for p in state.get("open", [])],
            "daily_loss_breached": state.get("daily_loss_breached"), "symbols": state.get("symbols"),
            "strategies": state.get("strategies"), "lots": state.get("lots"),
        }
    return out


#: What `trade status` shows of each open basket: its legs' last prices (rupees per unit), the unrealised gross P&L
#: at those marks and the charges paid so far (rupees), when and from what it was marked.
BASKET_MARK_KEYS = ("id", "main", "main_last", "hedge", "hedge_last", "unrealised_pnl", "charges", "marked_at",
                    "mark_source")


def positions(loaded: LoadedConfig, mode: str, *, source: str = "engine") -> list[dict[str, Any]]:
    """Open baskets of the engine (``source="engine"``: the state file; each with its legs' last prices
    ``main_last``/``hedge_last``, ``unrealised_pnl`` and the ``charges`` paid so far) or the broker's net option
    positions (``source="broker"``, live only)."""
    if source == "broker":
        if mode != "live":
            raise ConfigError("--source broker needs --mode live")
        return [p.__dict__ for p in live_broker(loaded).positions()]
    state = load_state(loaded.home, mode) or {}
    return list(state.get("open", []))


def orders(loaded: LoadedConfig, mode: str, day: date | None = None,
           clock: Clock | None = None) -> list[dict[str, Any]]:
    """Orders of ``day`` (default today, IST). Live: the broker's order book. Paper: rebuilt from the events
    log (``order_placed`` and ``order_update`` of that day)."""
    clock = clock or SystemClock()
    if mode == "live":
        return [{"order_id": o.order_id, "tag": o.tag, "tradingsymbol": o.tradingsymbol,
                 "transaction_type": o.transaction_type, "quantity": o.quantity,
                 "filled_quantity": o.filled_quantity, "average_price": o.average_price, "status": o.status,
                 "order_timestamp": o.order_timestamp, "status_message": o.status_message}
                for o in live_broker(loaded, clock).orders()]
    from tradesig.store.events import EventLog

    day = day or ist_date(clock.now())
    rows: dict[str, dict[str, Any]] = {}
    for rec in EventLog(loaded.home).read(day, day, kinds=["order_placed", "order_update"]):
        if rec["kind"] == "order_placed":
            for oid in rec.get("order_ids", []):
                rows[oid] = {"order_id": oid, "tag": rec.get("tag"), "tradingsymbol": rec.get("tradingsymbol"),
                             "transaction_type": rec.get("transaction_type"), "quantity": rec.get("quantity"),
                             "filled_quantity": 0, "average_price": 0.0, "status": "OPEN",
                             "order_timestamp": rec["ts"], "status_message": None}
        elif rec.get("order_id") in rows:
            rows[rec["order_id"]].update({k: rec.get(k) for k in ("filled_quantity", "average_price", "status",
                                                                 "status_message")})
    return list(rows.values())


def symbols_arg(text: str | None, loaded: LoadedConfig) -> list[str]:
    """``--symbol`` value(s) → canonical keys (default: NIFTY). Raises ConfigError for an unknown index."""
    if not text:
        return ["NIFTY"]
    try:
        return [canonical_symbol(t) for t in text.split(",") if t.strip()]
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None

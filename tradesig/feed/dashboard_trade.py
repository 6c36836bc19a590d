"""The trading panel and the option-chain ladder of the trader's page (docs/viewer-protocol.md, ``trade`` and
``chain``), read by the feed process from the data home — it never talks to the broker for them.

- Baskets: the engines' state files ``trade/state-<mode>.json`` (tradesig.trade.service.load_state; rewritten by
  a running ``trade start`` every few seconds of market time). Each open basket's legs get the last price the
  hub has seen for their tradingsymbol (option ticks of the subscribed chain), else the engine's latest mark
  (a ``basket_marked`` event's leg ``last_price``, when the engine writes them); unrealised P&L is
  :meth:`tradesig.trade.engine.Position.unrealised` at those prices (else the mark's ``unrealised_pnl``). Extra
  fields in the state and the events are passed on untouched.
- Orders and fills: ``order_placed``/``order_update`` events of the day (tradesig.trade.service.orders reads the
  events log the same way).
- Risk: open baskets vs ``risk.max_positions``, day P&L vs ``risk.max_daily_loss``, the per-index entry cooldown
  (``risk.signal_cooldown_minutes`` after the last ``basket_opened``), the kill switch (trade/kill-switch.json).
- Flatten: :func:`tradesig.trade.service.flatten`, the code ``tradesig trade flatten`` runs.

Money is rupees; prices are rupees per unit; times ISO UTC (the page shows IST).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradesig.clock import ist_date

if TYPE_CHECKING:
    from tradesig.config import LoadedConfig

MODES = ("paper", "live")
FILL_STATUSES = ("COMPLETE",)


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class TradingPanel:
    """Builds the ``trade`` message. ``loaded``: config + data home; ``market_now``: the market clock;
    ``last_price(tradingsymbol) -> float | None``: the hub's last tick of an instrument."""

    def __init__(self, loaded: LoadedConfig, market_now: Callable[[], datetime],
                 last_price: Callable[[str], float | None]) -> None:
        self.loaded = loaded
        self.home = Path(loaded.home)
        self.market_now = market_now
        self.last_price = last_price
        self._seen: tuple[Any, ...] | None = None
        self._marks: dict[Any, dict[str, Any]] = {}

    def files_changed(self) -> bool:
        """True when a state file, the kill switch or the day's events log changed since the last call."""
        from tradesig.store.events import EventLog
        from tradesig.trade.service import state_path

        day = ist_date(self.market_now())
        key = (day, *(_file_key(state_path(self.home, m)) for m in MODES),
               _file_key(self.home / "trade" / "kill-switch.json"), _file_key(EventLog(self.home).path(day)))
        changed = key != self._seen
        self._seen = key
        return changed

    def forget(self) -> None:
        """Make the next :meth:`files_changed` say True (after this process changed a file itself)."""
        self._seen = None

    def message(self) -> dict[str, Any]:
        """The ``trade`` message: ``engines`` per mode, ``orders`` of the day, ``risk`` and ``kill_switch``."""
        from tradesig.errors import DataError
        from tradesig.store.events import EventLog
        from tradesig.trade.risk import KillSwitch
        from tradesig.trade.service import load_state, orders

        day = ist_date(self.market_now())
        events = EventLog(self.home).read(day, day, kinds=("basket_opened", "basket_closed", "basket_marked",
                                                             "kill_switch", "risk", "flatten_order"))
        self._marks = {e.get("trade_id"): e for e in events if e["kind"] == "basket_marked"}
        engines = {}
        for mode in MODES:
            try:
                state = load_state(self.home, mode)
            except DataError as exc:  # a torn or foreign state file is shown, never fatal to the feed
                engines[mode] = {"error": exc.message}
                continue
            if state is not None:
                engines[mode] = self._engine(mode, state)
        rows = orders(self.loaded, "paper", day, clock=_FixedClock(self.market_now()))
        risk = self._risk(engines, events)
        return {"type": "trade", "day": day.isoformat(), "engines": engines, "orders": rows,
                "fills": [o for o in rows if o.get("status") in FILL_STATUSES],
                "risk": risk, "kill_switch": KillSwitch(self.home).engaged(),
                "actions": [e for e in events if e["kind"] in ("kill_switch", "risk", "flatten_order")][-20:]}

    def _engine(self, mode: str, state: Mapping[str, Any]) -> dict[str, Any]:
        baskets = [self._basket(p) for p in state.get("open", [])]
        closed = list(state.get("closed_today", []))
        realised = sum(float(p.get("net_pnl") or 0.0) for p in closed)
        unrealised = [b["unrealised"] for b in baskets]
        known = all(u is not None for u in unrealised)
        charges = sum(float(p.get("charges") or 0.0) for p in [*state.get("open", []), *closed])
        return {**{k: v for k, v in state.items() if k not in ("open", "closed_today")},
                "mode": mode, "open": baskets, "closed_today": closed, "realised": round(realised, 2),
                "unrealised": round(sum(unrealised), 2) if known and baskets else (0.0 if not baskets else None),
                "charges_total": round(charges, 2)}

    def _basket(self, pos: Mapping[str, Any]) -> dict[str, Any]:
        from tradesig.trade.engine import Position

        out = dict(pos)
        mark = self._marks.get(pos.get("id")) or {}
        marked = {leg.get("tradingsymbol"): leg.get("last_price") for leg in mark.get("legs") or []
                  if isinstance(leg, dict)}
        main_px = self.last_price(str(pos.get("main"))) or marked.get(pos.get("main"))
        hedge_px = self.last_price(str(pos.get("hedge"))) or marked.get(pos.get("hedge"))
        out["main_last"], out["hedge_last"] = main_px, hedge_px
        out["unrealised"] = mark.get("unrealised_pnl")
        out["mark_source"] = "hub ticks" if self.last_price(str(pos.get("main"))) else mark.get("mark_source")
        if main_px is not None and hedge_px is not None:
            try:
                gross = Position.from_dict(pos).unrealised(float(main_px), float(hedge_px))
                out["unrealised"] = round(gross, 2)
            except (KeyError, TypeError, ValueError):
                pass
        return out

    def _risk(self, engines: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
        risk = self.loaded.settings.risk
        now = self.market_now()
        cooldown = timedelta(minutes=risk.signal_cooldown_minutes)
        last_entry: dict[str, datetime] = {}
        for ev in events:
            if ev["kind"] == "basket_opened" and ev.get("entry_ts") and ev.get("symbol"):
                last_entry[ev["symbol"]] = datetime.fromisoformat(ev["entry_ts"])
        open_n = sum(len(e.get("open", [])) for e in engines.values() if isinstance(e, dict))
        day_pnl = sum(float(e.get("day_pnl") or 0.0) for e in engines.values() if isinstance(e, dict))
        return {"open_positions": open_n, "max_positions": risk.max_positions, "day_pnl": round(day_pnl, 2),
                "max_daily_loss": risk.max_daily_loss,
                "loss_breached": any(bool(e.get("daily_loss_breached")) for e in engines.values()
                                     if isinstance(e, dict)),
                "cooldown_until": {s: (t + cooldown).isoformat() for s, t in last_entry.items()
                                   if t + cooldown > now}}

    def flatten(self, mode: str, reason: str) -> dict[str, Any]:
        """Run :func:`tradesig.trade.service.flatten` (the ``tradesig trade flatten`` code) with the market clock:
        the kill switch is engaged; in live mode every broker position is squared off. Returns its result plus
        ``ok`` and a one-line ``message``; errors become ``ok: false`` with the error's message."""
        from tradesig.errors import TradesigError
        from tradesig.trade.service import flatten

        if mode not in MODES:
            return {"ok": False, "mode": mode, "message": f"mode must be one of {', '.join(MODES)}"}
        try:
            result = flatten(self.loaded, mode, reason, clock=_FixedClock(self.market_now(), live=self.market_now))
        except TradesigError as exc:
            return {"ok": False, "mode": mode, "message": exc.message}
        remaining = result.get("remaining") or []
        if remaining:
            message = f"{len(remaining)} position(s) still open after flatten: close them by hand"
        elif mode == "live":
            message = f"kill switch engaged; {len(result.get('orders') or [])} square-off order(s) sent"
        else:
            message = "kill switch engaged; the paper engine squares off its baskets at its next check"
        return {**result, "ok": not remaining, "message": message, "pid": os.getpid()}


class _FixedClock:
    """A Clock over the market's time (``live``: a callable read at each ``now()``)."""

    def __init__(self, at: datetime, live: Callable[[], datetime] | None = None) -> None:
        self._at, self._live = at, live

    def now(self) -> datetime:
        return self._live() if self._live is not None else self._at

    def monotonic(self) -> float:
        import time

        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)


def chain_ladder(symbol: str, spot: float | None, options: Mapping[int, tuple[str, str, float]],
                 ticks: Mapping[int, Mapping[str, Any]], pcr: float | None, strikes: int = 6) -> dict[str, Any]:
    """The ``chain`` message of one index: ``rows`` of ``{"strike", "ce": {"ltp", "oi"}, "pe": {...}}`` for the
    ``strikes`` strikes each side of the strike nearest ``spot``, highest strike first; ``pcr`` over the whole
    subscribed chain (Σ PE OI / Σ CE OI). ``options``: token → (index, "CE"/"PE", strike); ``ticks``: token →
    last tick message (``ltp``, ``oi``)."""
    by_strike: dict[float, dict[str, Any]] = {}
    for token, (sym, kind, strike) in options.items():
        if sym != symbol:
            continue
        tick = ticks.get(token) or {}
        by_strike.setdefault(strike, {"strike": strike, "ce": None, "pe": None})[kind.lower()] = {
            "ltp": tick.get("ltp"), "oi": tick.get("oi"), "tradingsymbol": tick.get("symbol")}
    ordered = sorted(by_strike)
    if spot is not None and ordered:
        atm = min(range(len(ordered)), key=lambda i: abs(ordered[i] - spot))
        ordered = ordered[max(0, atm - strikes): atm + strikes + 1]
        atm_strike: float | None = min(ordered, key=lambda s: abs(s - spot))
    else:
        atm_strike = None
    return {"type": "chain", "symbol": symbol, "spot": spot, "atm": atm_strike, "pcr": pcr,
            "rows": [by_strike[s] for s in reversed(ordered)]}


__all__ = ["TradingPanel", "chain_ladder", "MODES"]

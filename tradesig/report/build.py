"""Build a :class:`ReportData` from the events log (DESIGN.md: events/DATE.jsonl, append-only).

Event kinds read (written by ``trade`` and ``feed``): ``basket_opened``/``basket_closed`` (trades),
``basket_marked`` (an open basket's legs' last prices, unrealised P&L and charges so far), ``signal``
(S1–S8 events), ``feed_stats`` (one per feed run: ticks, gaps, reconnects, token waits, polled ticks; summed over
the runs of the period) and ``feed_gap`` (details). Trading events are filtered by their ``mode`` (paper, live,
backtest). Anything absent is named in ``missing``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from tradesig.report.model import FeedHealth, Leg, ReportData, SignalFiredRow, TradeRow

PERIODS = ("daily", "weekly", "monthly")


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """Inclusive IST date range of the period containing ``day``: the day, its ISO week (Mon–Sun), its month.

    Raises ``ValueError`` for an unknown period."""
    if period == "daily":
        return day, day
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if period == "monthly":
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return start, nxt - timedelta(days=1)
    raise ValueError(f"unknown period {period!r} (daily, weekly, monthly)")


def _ts(value: object) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _legs(raw: list[dict]) -> tuple[Leg, ...]:
    return tuple(Leg(str(leg["tradingsymbol"]), str(leg.get("role", "main")), str(leg.get("side", "")),
                     int(leg.get("quantity", 0)), float(leg.get("entry_price") or 0.0),
                     None if leg.get("exit_price") is None else float(leg["exit_price"]),
                     None if leg.get("last_price") is None else float(leg["last_price"])) for leg in raw)


def _trade(trade_id: str, src: dict, closed: bool, mark: dict | None) -> TradeRow:
    """One report row: a closed basket from its basket_closed event; an open one from its latest basket_marked
    (legs' last prices, unrealised P&L, charges so far) or, never marked, its basket_opened."""
    if not closed and mark is not None:
        src = mark
    unrealised = None if closed or src.get("unrealised_pnl") is None else float(src["unrealised_pnl"])
    return TradeRow(
        trade_id=trade_id, symbol=str(src.get("symbol")), signal=str(src.get("signal")),
        side=str(src.get("side")), entry_ts=_ts(src.get("entry_ts") or src.get("ts")),
        exit_ts=_ts(src.get("exit_ts")) if closed else None, legs=_legs(src.get("legs", [])),
        gross_pnl=float(src.get("gross_pnl") or 0.0) if closed else (unrealised or 0.0),
        charges=float(src.get("charges") or 0.0), exit_reason=src.get("exit_reason") if closed else None,
        modelled=bool(src.get("modelled")), price_source=src.get("price_source"), unrealised_pnl=unrealised,
        marked_at=None if closed or mark is None else _ts(mark.get("ts")))


def report_from_events(events: list[dict], period: str, start: date, end: date, mode: str) -> ReportData:
    """Pure: fold event dicts (as EventLog.read returns them) into a report for ``mode``."""
    data = ReportData(period, start, end, mode)
    opened: dict[str, dict] = {}
    closed: dict[str, dict] = {}
    marked: dict[str, dict] = {}
    gaps: list[dict] = []
    reconnects = polled = ticks = gap_count = 0
    token_events: list[str] = []
    saw_feed = False
    seen_signals: set[tuple] = set()
    for ev in events:
        kind = ev.get("kind")
        if ev.get("synthetic"):
            data.synthetic = True
        if kind in ("basket_opened", "basket_closed", "basket_marked", "signal") and ev.get("mode", mode) != mode:
            continue
        if kind == "basket_opened":
            opened[str(ev["trade_id"])] = ev
        elif kind == "basket_marked":  # the latest mark of an open basket (legs' last prices, unrealised P&L)
            marked[str(ev["trade_id"])] = ev
            opened.setdefault(str(ev["trade_id"]), ev)
        elif kind == "basket_closed":
            closed[str(ev["trade_id"])] = ev
        elif kind == "signal":
            key = (ev.get("symbol"), ev.get("signal"), ev.get("bar_ts"))
            if key in seen_signals:
                continue
            seen_signals.add(key)
            data.signals.append(SignalFiredRow(_ts(ev.get("bar_ts") or ev.get("ts")), str(ev.get("symbol")),
                                               str(ev.get("signal")), str(ev.get("side")),
                                               float(ev.get("entry_price") or 0.0), float(ev.get("stop_loss") or 0.0)))
        elif kind == "feed_stats":
            saw_feed = True
            ticks += int(ev.get("ticks") or 0)
            gap_count += int(ev.get("gaps") or 0)
            reconnects += int(ev.get("reconnects") or 0)
            polled += int(ev.get("polled_ticks") or 0)
            token_events.extend(["waited for a new token"] * int(ev.get("token_waits") or 0))
        elif kind == "feed_gap":
            saw_feed = True
            gaps.append({k: ev.get(k) for k in ("instrument", "from", "to", "cause")})
    for trade_id, ev in {**opened, **closed}.items():
        data.trades.append(_trade(trade_id, closed.get(trade_id, ev), trade_id in closed, marked.get(trade_id)))
    data.trades.sort(key=lambda t: (t.entry_ts, t.trade_id))
    data.signals.sort(key=lambda s: s.ts)
    if saw_feed:
        data.feed = FeedHealth(ticks, tuple(gaps), reconnects, tuple(token_events), polled, gap_count)
    elif mode != "backtest":
        data.missing.append("feed health: no feed events in the events log for this period")
    return data


def build_report(home: Path, period: str, day: date, mode: str) -> ReportData:
    """Read the events log of the period containing ``day`` (IST) and build the report for ``mode`` (backtests:
    the events ``trade backtest`` saved under ``<home>/backtest/events``).

    Days without an events file are named in ``missing`` (a day with a file but no trades is simply a day without
    trades)."""
    from tradesig.store.events import EventLog
    from tradesig.trade.service import BACKTEST_DIR

    start, end = period_bounds(period, day)
    root = home / BACKTEST_DIR if mode == "backtest" else home  # trade backtest: <home>/backtest/events
    events = EventLog(root).read(start, end)
    data = report_from_events(events, period, start, end, mode)
    if not events:
        hint = " (run 'tradesig trade backtest' for these dates)" if mode == "backtest" else ""
        data.missing.insert(0, f"no events log under {root / 'events'} for {start}"
                            + ("" if start == end else f" to {end}") + hint)
    return data

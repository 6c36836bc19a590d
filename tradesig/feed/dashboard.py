"""Chart views of the trader's page, computed in the feed process from its data home (docs/viewer-protocol.md,
"The trader's page").

A *view* is one index and one interval (``1m``, ``5m``, ``15m``, ``1h``) of the market day: the stored closed bars
of that day, the overlays drawn on them, the levels drawn across them, the 13-signal board of the last closed
bar, and the markers of S1–S8 signals and baskets. Everything is computed by tradesig's own code:

- bars: :meth:`tradesig.store.datasets.Store.read_bars` (session-aligned, derived from 1m where needed), with
  :func:`tradesig.signals.service.lookback_days` earlier days so the indicators are warm — the same window
  ``tradesig signals board`` reads, so the page's board equals the CLI's;
- overlays: EMA 20/50 (:func:`tradesig.signals.indicators.ema`), SuperTrend 10×3
  (:func:`~tradesig.signals.indicators.supertrend`), session VWAP (:func:`~tradesig.signals.indicators.session_vwap`,
  only for sessions whose every bar has volume — index bars carry none), with the board's parameters
  (:class:`tradesig.signals.board.BoardParams`);
- levels: the previous session's floor pivots (:func:`~tradesig.signals.indicators.floor_pivots`) and the week's
  S1–S8 zones (:func:`tradesig.signals.zones.weekly_context` of the last previous week with at least
  :data:`~tradesig.signals.zones.MIN_WEEK_BARS` hourly bars, as the S1–S8 engine chooses it);
- the board: :func:`tradesig.signals.board.board_series` on the closed bars;
- markers: ``signal``, ``basket_opened`` and ``basket_closed`` events of the day (tradesig.store.events).

:class:`ChartViews` is not thread-safe: the hub calls it from one worker thread only. Times in the messages are
epoch seconds (UTC) of the bar start; prices are index points.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tradesig.clock import ist_date

if TYPE_CHECKING:
    from tradesig.config import Settings

#: Intervals the page offers.
VIEW_INTERVALS = ("1m", "5m", "15m", "1h")
#: Overlay series of a view (keys of each point besides ``t``).
OVERLAYS = ("ema20", "ema50", "st", "st_dir", "vwap")
MARKER_KINDS = ("signal", "basket_opened", "basket_closed")


def _num(x: float) -> float | None:
    """JSON-safe float rounded to the paisa (None for NaN/inf)."""
    return None if x is None or not math.isfinite(x) else round(float(x), 2)


def epoch(ts: datetime) -> int:
    """Aware datetime → epoch seconds."""
    return int(ts.timestamp())


@dataclass
class _View:
    symbol: str
    interval: str
    day: date
    frame: pl.DataFrame  # closed bars, warm-up days + the market day (BAR_SCHEMA)
    day_start: datetime  # first instant of the market day (aware), bars from here are shown
    overlays: dict[str, np.ndarray] = field(default_factory=dict)
    board: dict[str, Any] | None = None
    version: int = 0


class ChartViews:
    """Views of the market day for the page, cached per (symbol, interval, day).

    ``home``: data home; ``settings``: tradesig Settings (instrument strike steps for the zones, board
    settings); ``market_now``: the market's clock (the sim's replay time when following a sim); ``written``: waits
    until the bars already published are in the store (the feed's writer thread), called before each read of the
    day's bars, so a view never lacks a bar that viewers were sent before it was computed."""

    def __init__(self, home: Path, settings: Settings, market_now: Callable[[], datetime],
                 written: Callable[[], None] | None = None) -> None:
        from tradesig.store.datasets import Store

        self.home = Path(home)
        self.settings = settings
        self.market_now = market_now
        self.store = Store(self.home)
        self.written = written
        self._views: dict[tuple[str, str, date], _View] = {}
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending only: bars are queued from the event loop

    # ------------------------------------------------------------------------------------------------ views
    def _load(self, symbol: str, interval: str, day: date) -> _View:
        from tradesig.signals.board import bar_end
        from tradesig.signals.service import lookback_days

        now = self.market_now()
        if self.written is not None:
            self.written()
        bars = self.store.read_bars(symbol, interval, day - timedelta(days=lookback_days(interval)), day)
        if not bars.is_empty():  # closed bars only: a derived bucket still forming is sent apart
            from tradesig.store.bars import interval_minutes

            surely = now - timedelta(minutes=interval_minutes(interval))
            done = bars.filter(pl.col("ts") <= surely)
            tail = bars.filter(pl.col("ts") > surely)  # at most one bar: closed only if the session cut it short
            keep = [bar_end(ts, interval) <= now for ts in tail.get_column("ts").to_list()]
            bars = pl.concat([done, tail.filter(pl.Series(keep, dtype=pl.Boolean))]) if keep else done
        start = datetime(day.year, day.month, day.day, tzinfo=_ist()).astimezone(_utc())
        view = _View(symbol, interval, day, bars.select(_bar_columns()), start)
        self._compute(view)
        return view

    def _compute(self, view: _View) -> None:
        from tradesig.signals import indicators as ind
        from tradesig.signals.board import BoardParams, board_series

        p = BoardParams()
        f = view.frame
        n = f.height
        if n == 0:
            view.overlays, view.board = {k: np.zeros(0) for k in OVERLAYS}, None
            view.version += 1
            return
        h, lo, c = (f.get_column(k).to_numpy().astype(np.float64) for k in ("high", "low", "close"))
        line, direction = ind.supertrend(h, lo, c, p.supertrend_atr, p.supertrend_mult)
        day = f.select(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().cast(pl.Int32)) \
            .to_series().to_numpy()
        vol = f.get_column("volume").cast(pl.Float64).fill_null(np.nan).to_numpy()
        vwap = ind.session_vwap(day, h, lo, c, np.nan_to_num(vol, nan=0.0))
        no_volume = pl.DataFrame({"d": day, "m": np.isnan(vol)}).select(pl.col("m").any().over("d")) \
            .to_series().to_numpy()
        vwap[no_volume] = np.nan
        view.overlays = {"ema20": ind.ema(c, p.ema_fast), "ema50": ind.ema(c, p.ema_mid), "st": line,
                         "st_dir": direction, "vwap": vwap}
        series = board_series(f, interval=view.interval, settings=self.settings, symbol=view.symbol)
        view.board = series.board_at(-1).to_dict()
        view.version += 1

    def view(self, symbol: str, interval: str, day: date | None = None) -> _View:
        """The cached view (loaded from the store on first use). ``ValueError`` for an interval not offered."""
        if interval not in VIEW_INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(VIEW_INTERVALS)}")
        day = day or ist_date(self.market_now())
        key = (symbol, interval, day)
        view = self._views.get(key)
        if view is None:
            for old in [k for k in self._views if k[2] != day]:
                del self._views[old]  # a new market day: yesterday's views go
            view = self._views[key] = self._load(symbol, interval, day)
        return view

    def history(self, symbol: str, interval: str, since: int | None = None) -> dict[str, Any]:
        """The ``history`` message of a view: the day's closed bars after ``since`` (epoch s; None: all) with
        their overlay points, the bar in progress (derived from stored minutes), levels, board and markers."""
        view = self.view(symbol, interval)
        day_rows = view.frame.with_row_index("_i").filter(pl.col("ts") >= view.day_start)
        if since is not None:
            day_rows = day_rows.filter(pl.col("ts").dt.epoch("s") > since)
        idx = day_rows.get_column("_i").to_list()
        bars = [[epoch(r["ts"]), r["open"], r["high"], r["low"], r["close"], r["volume"]]
                for r in day_rows.iter_rows(named=True)]
        return {"type": "history", "symbol": symbol, "interval": interval, "day": view.day.isoformat(),
                "since": since, "bars": bars, "studies": self._points(view, idx),
                "forming": self.forming(symbol, interval, view), "levels": self.levels(symbol, view.day),
                "board": view.board, "markers": self.markers(symbol, view.day)}

    def _points(self, view: _View, idx: Iterable[int]) -> list[list[Any]]:
        ts = view.frame.get_column("ts")
        o = view.overlays
        return [[epoch(ts[i]), *(_num(o[k][i]) for k in OVERLAYS)] for i in idx]

    def forming(self, symbol: str, interval: str, view: _View) -> list[Any] | None:
        """The bucket in progress ``[t, o, h, l, c]`` built from the day's stored closed minutes (None when the
        last stored minute closed a bucket or there is none)."""
        if interval == "1m":
            return None
        last = view.frame.get_column("ts")[-1] if view.frame.height else None
        if self.written is not None:
            self.written()
        minutes = self.store.read_bars(symbol, "1m", view.day, view.day)
        minutes = minutes.filter(pl.col("ts") <= self.market_now() - timedelta(minutes=1))
        if last is not None:
            minutes = minutes.filter(pl.col("ts") > last)
        if minutes.is_empty():
            return None
        from tradesig.store.bars import resample

        bucket = resample(minutes, interval).tail(1)
        if bucket.is_empty():
            return None
        r = bucket.row(0, named=True)
        return [epoch(r["ts"]), r["open"], r["high"], r["low"], r["close"]]

    # ------------------------------------------------------------------------------------------------ levels
    def levels(self, symbol: str, day: date) -> dict[str, Any]:
        """Price lines: the previous session's floor pivots (P, R1, R2, S1, S2) and this week's S1–S8 zones
        (resistance and support, top and bottom) — index points, None where the data is missing."""
        from tradesig.signals import indicators as ind

        out: dict[str, Any] = {"pivots": None, "zones": None}
        daily = self.store.read_bars(symbol, "1d", day - timedelta(days=14), day - timedelta(days=1))
        if not daily.is_empty():
            prev = daily.row(daily.height - 1, named=True)
            piv = ind.floor_pivots(prev["high"], prev["low"], prev["close"])
            out["pivots"] = {"session": ist_date(prev["ts"]).isoformat(),
                             **{k: _num(getattr(piv, k)) for k in ("p", "r1", "r2", "s1", "s2")}}
        ctx = self._week_context(symbol, day)
        if ctx is not None:
            out["zones"] = {k: _num(getattr(ctx, k)) for k in ("res_top", "res_bottom", "sup_top", "sup_bottom",
                                                               "pw_high", "pw_low")}
            out["zones"].update(week=ctx.week.isoformat(), bias=ctx.bias.value)
        return out

    def _week_context(self, symbol: str, day: date) -> Any:
        from tradesig.signals.zones import MIN_WEEK_BARS, week_start, weekly_context

        this_week = week_start(day)
        hourly = self.store.read_bars(symbol, "1h", this_week - timedelta(weeks=3), this_week - timedelta(days=1))
        if hourly.is_empty():
            return None
        rows = hourly.select("ts", "open", "high", "low", "close").to_dicts()
        weeks: dict[date, list[dict[str, Any]]] = {}
        for r in rows:
            weeks.setdefault(week_start(ist_date(r["ts"])), []).append(r)
        full = [w for w in sorted(weeks) if len(weeks[w]) >= MIN_WEEK_BARS]
        return weekly_context(weeks[full[-1]], this_week) if full else None

    # ----------------------------------------------------------------------------------------------- markers
    def markers(self, symbol: str, day: date) -> list[dict[str, Any]]:
        """S1–S8 signals fired and baskets opened/closed on ``day`` for ``symbol`` (events log), oldest first."""
        from tradesig.store.events import EventLog

        return marker_list(EventLog(self.home).read(day, day, kinds=MARKER_KINDS), symbol)

    def markers_message(self, symbol: str) -> dict[str, Any]:
        """The ``markers`` message of ``symbol`` for the market day (replaces the page's markers)."""
        day = ist_date(self.market_now())
        return {"type": "markers", "symbol": symbol, "day": day.isoformat(), "markers": self.markers(symbol, day)}

    # ------------------------------------------------------------------------------------------- live updates
    def queue_bar(self, bar: dict[str, Any]) -> None:
        """Queue a closed bar published by the feed (called on the event loop; cheap)."""
        with self._lock:
            self._pending.append(bar)

    def apply_pending(self) -> list[dict[str, Any]]:
        """Apply the queued bars to the cached views they belong to; one ``view`` message per view changed:
        the overlay points of its new bars and its board — or, when a bar older than the view's last arrived (a
        backfill after a gap), the view is reloaded from the store and sent whole as a ``history`` message.
        Bars of views nobody asked for are dropped."""
        with self._lock:
            pending, self._pending = self._pending, []
        touched: dict[tuple[str, str, date], list[int]] = {}
        reloaded: set[tuple[str, str, date]] = set()
        for bar in pending:
            ts = bar["ts"] if isinstance(bar["ts"], datetime) else datetime.fromisoformat(str(bar["ts"]))
            key = (bar.get("symbol"), bar.get("interval", "1m"), ist_date(ts))
            view = self._views.get(key)
            if view is None:
                continue
            last = view.frame.get_column("ts")[-1] if view.frame.height else None
            if last is not None and ts <= last:
                if ts < last:  # a backfill wrote older bars: reload the view, its watchers get it whole
                    reloaded.add(key)
                continue
            row = {k: bar.get(k) for k in view.frame.columns}
            row["ts"] = ts
            view.frame = pl.concat([view.frame, pl.DataFrame([row], schema=view.frame.schema)])
            touched.setdefault(key, []).append(view.frame.height - 1)
        out = []
        for key in reloaded:
            self._views[key] = self._load(*key)
            touched.pop(key, None)
            out.append(self.history(key[0], key[1]))
        for key, idx in touched.items():
            view = self._views[key]
            self._compute(view)
            shown = [i for i in idx if view.frame.get_column("ts")[i] >= view.day_start]
            out.append({"type": "view", "symbol": key[0], "interval": key[1], "day": key[2].isoformat(),
                        "studies": self._points(view, shown), "board": view.board})
        return out

    def watched(self, symbol: str, interval: str) -> bool:
        return any(k[0] == symbol and k[1] == interval for k in self._views)


def marker_list(events: Iterable[dict[str, Any]], symbol: str) -> list[dict[str, Any]]:
    """Chart markers from events-log records: ``{"t": epoch s, "kind": "signal"|"open"|"close", "text",
    "side", "key"}``; a signal sits on the last minute of the hourly bar that fired it (it is known at the
    bar's close), a basket on its entry/exit time. Duplicates (the same signal recorded by ``signals`` and by
    ``trade``) are dropped by key."""
    out: dict[str, dict[str, Any]] = {}
    for ev in events:
        if ev.get("symbol") != symbol:
            continue
        kind = ev.get("kind")
        if kind == "signal" and ev.get("signal"):
            when = ev.get("entry_ts") or ev.get("bar_ts")
            key = ev.get("key") or f"{symbol}|{ev['signal']}|{ev.get('bar_ts')}"
            out.setdefault(key, {"t": epoch(_parse(when)) - 1, "kind": "signal", "key": key,
                                 "side": ev.get("side"), "text": ev["signal"],
                                 "price": ev.get("entry_price"), "reason": ev.get("reason", "")})
        elif kind in ("basket_opened", "basket_closed"):
            opened = kind == "basket_opened"
            when = ev.get("entry_ts") if opened else ev.get("exit_ts")
            if not when:
                continue
            key = f"{ev.get('trade_id')}|{'open' if opened else 'close'}"
            pnl = ev.get("net_pnl")
            text = f"{ev.get('signal', '')} open" if opened else \
                f"close {ev.get('exit_reason') or ''}".strip() + (f" ₹{pnl:,.0f}" if isinstance(pnl, int | float)
                                                                   else "")
            out.setdefault(key, {"t": epoch(_parse(when)), "kind": "open" if opened else "close", "key": key,
                                 "side": ev.get("side"), "text": text})
    return sorted(out.values(), key=lambda m: m["t"])


def _parse(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _bar_columns() -> list[str]:
    return ["symbol", "ts", "open", "high", "low", "close", "volume", "oi", "status"]


def _ist():
    from tradesig.clock import IST

    return IST


def _utc():
    from datetime import UTC

    return UTC


__all__ = ["ChartViews", "VIEW_INTERVALS", "OVERLAYS", "marker_list", "epoch"]

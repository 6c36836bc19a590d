"""The signal board: the registered indicator readings and their weighted aggregate (pure: no I/O, no clock).

Specification: shared/SIGNALS.md, "The board". Each signal answers BUY, SELL, NEUTRAL or UNAVAILABLE (with the
reason: not enough bars, no volume, no option chain), a confidence in [0, 1] and a one-line reason with the
numbers that decided it. The aggregate score is 100·Σ(wᵢ·dᵢ·cᵢ)/Σwᵢ over the available signals (d = +1 BUY,
−1 SELL, 0 NEUTRAL); labels ≥ 40 STRONG_BUY, ≥ 12 BUY, ≤ −12 SELL, ≤ −40 STRONG_SELL, else NEUTRAL; with fewer
than 7 available signals the label is NEUTRAL and says why.

The signals themselves are registry entries (tradesig.signals.board_signals, machinery in board_core): their
names, order, weights and count all come from :data:`SIGNALS`. The board is computed for *every* bar of a series
at once (vectorised, :func:`board_series`), so a day's timeline and the latest board (:func:`evaluate_board`) are
the same code path. Reading i uses bars 0..i only.

Inputs: ``bars`` is a BAR_SCHEMA polars frame of ONE symbol and one interval, closed bars only (the caller cuts
the in-progress bar). Prices in index points; ``volume`` null for index bars (then vwap and volume are
UNAVAILABLE: "no volume").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tradesig.clock import IST
from tradesig.errors import DataError
from tradesig.signals import board_signals as _registered  # noqa: F401  (fills the registry)
from tradesig.signals.board_core import (
    _CODE_TO_CALL,
    _UNAV,
    MIN_AVAILABLE,
    REGISTRY,
    BoardParams,
    Call,
    Inputs,
    Reading,
    SignalSpec,
    _daily,
    _frame,
    _previous_session,
    _previous_week,
    _to_datetime,
    evaluate,
)

if TYPE_CHECKING:
    from tradesig.config import Settings

#: The board's signals in board order (the registry; SIGNALS.md).
SIGNALS: tuple[SignalSpec, ...] = tuple(REGISTRY)
#: Weight of each signal by name, in board order (SIGNALS.md).
WEIGHTS: dict[str, int] = {s.name: s.weight for s in SIGNALS}


@dataclass(frozen=True)
class SignalReading:
    """One board signal at one bar: ``call``, ``confidence`` in [0, 1] (0 for NEUTRAL/UNAVAILABLE), ``reason``
    (one line with the numbers), ``weight`` (SIGNALS.md)."""

    name: str
    call: Call
    confidence: float
    reason: str
    weight: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "call": self.call.value, "confidence": round(self.confidence, 4),
                "reason": self.reason, "weight": self.weight}


@dataclass(frozen=True)
class Board:
    """The board of one symbol on one closed bar.

    ``ts`` aware UTC start of the bar evaluated; ``close`` its close (index points); ``readings`` the signals
    in board order; ``score`` in [−100, 100]; ``label`` STRONG_BUY/BUY/NEUTRAL/SELL/STRONG_SELL;
    ``available`` how many signals were not UNAVAILABLE; ``note`` why the label is NEUTRAL when too few were.
    """

    symbol: str
    interval: str
    ts: datetime
    close: float
    readings: tuple[SignalReading, ...]
    score: float
    label: str
    available: int
    note: str = ""

    def reading(self, name: str) -> SignalReading:
        for r in self.readings:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (documented schema in docs/signals.md)."""
        return {"symbol": self.symbol, "interval": self.interval, "ts": self.ts.isoformat(), "close": self.close,
                "score": round(self.score, 2), "label": self.label, "available": self.available,
                "note": self.note, "signals": [r.to_dict() for r in self.readings]}


# ------------------------------------------------------------------------------------------------- the series


@dataclass
class BoardSeries:
    """The board on every bar of a series; :meth:`board_at` materialises one :class:`Board`.

    ``codes`` (S, N) int8 (S = registered signals; 1 BUY, −1 SELL, 0 NEUTRAL, 2 UNAVAILABLE), ``conf`` (S, N),
    ``score`` (N,), ``available`` (N,), ``label_codes`` (N,) int8 index into :data:`LABELS`; ``ts_us`` bar starts
    (µs since the epoch, UTC) — ``ts`` gives them as aware datetimes; ``close`` (N,).
    """

    symbol: str
    interval: str
    ts_us: np.ndarray
    close: np.ndarray
    names: list[str]
    codes: np.ndarray
    conf: np.ndarray
    score: np.ndarray
    available: np.ndarray
    label_codes: np.ndarray
    _signals: list[Reading] = field(repr=False, default_factory=list)
    _ts: list[datetime] | None = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.ts_us)

    @property
    def ts(self) -> list[datetime]:
        """Bar starts as aware UTC datetimes (built on first use)."""
        if self._ts is None:
            self._ts = [_to_datetime(us) for us in self.ts_us.tolist()]
        return self._ts

    @property
    def labels(self) -> list[str]:
        return [LABELS[k] for k in self.label_codes.tolist()]

    def note(self, i: int) -> str:
        if self.available[i] < MIN_AVAILABLE:
            return (f"only {int(self.available[i])} of {len(self.names)} signals available (need {MIN_AVAILABLE}): "
                    "label held NEUTRAL")
        return ""

    def board_at(self, i: int) -> Board:
        """The :class:`Board` of bar ``i`` (negative indexes count from the end). IndexError when out of range."""
        n = len(self.ts_us)
        if not -n <= i < n:
            raise IndexError(f"bar {i} out of range (series of {n} bars)")
        i %= n
        readings = tuple(
            SignalReading(name=s.spec.name, call=_CODE_TO_CALL[int(s.code[i])], confidence=float(s.conf[i]),
                          reason=s.reason(i), weight=s.spec.weight)
            for s in self._signals)
        return Board(symbol=self.symbol, interval=self.interval, ts=_to_datetime(self.ts_us[i]),
                     close=float(self.close[i]), readings=readings, score=float(self.score[i]),
                     label=LABELS[int(self.label_codes[i])], available=int(self.available[i]), note=self.note(i))


LABELS = ["STRONG_SELL", "SELL", "NEUTRAL", "BUY", "STRONG_BUY"]


def _label(score: np.ndarray, available: np.ndarray, p: BoardParams) -> np.ndarray:
    """Label codes (index into :data:`LABELS`) from scores; NEUTRAL where fewer than 7 signals are available."""
    code = np.full(len(score), 2, dtype=np.int8)
    code[score >= p.buy] = 3
    code[score >= p.strong_buy] = 4
    code[score <= p.sell] = 1
    code[score <= p.strong_sell] = 0
    code[available < MIN_AVAILABLE] = 2
    return code


def board_series(bars: pl.DataFrame, *, interval: str, daily: pl.DataFrame | None = None,
                 chain: pl.DataFrame | None = None, settings: Settings | None = None,
                 params: BoardParams | None = None, symbol: str | None = None) -> BoardSeries:
    """The board on every bar of ``bars`` (vectorised; reading i uses bars 0..i only).

    ``bars``: BAR_SCHEMA frame of one symbol and ``interval`` ("1m", "5m", "15m", "1h", "4h"), closed bars.
    ``daily``: optional daily bars (``date`` Date or ``ts``; ``high``, ``low``, ``close``) for the previous
    session's H/L/C and the previous week (default: aggregated from ``bars`` per IST date — then the first
    session of the series has no pivots). ``chain``: optional option-chain rows (``expiry`` Date,
    ``option_type`` "PE"/"CE", ``oi``; optional ``snapshot_ts`` aware — each bar takes the latest snapshot of its
    session taken at or before its start). ``settings`` is accepted for symmetry with the engine (no board
    setting lives in the config yet); ``params`` overrides the SIGNALS.md defaults.
    Raises :class:`DataError` for missing columns or several symbols; ``ValueError`` for an unknown interval.
    """
    from tradesig.store.bars import interval_minutes

    p = params or BoardParams()
    minutes = interval_minutes(interval)
    fr = _frame(bars)
    if symbol is None:
        symbol = str(bars.get_column("symbol")[0]) if "symbol" in bars.columns and len(bars) else ""
    days, highs, lows, closes = _daily(fr, daily)
    prev = _previous_session(fr, days, highs, lows, closes)
    week = _previous_week(fr, days, highs, lows)
    inputs = Inputs(fr=fr, p=p, bar_minutes=minutes, prev=prev, week=week, chain=chain)
    sigs = [evaluate(spec, inputs) for spec in SIGNALS]
    n = len(fr.c)
    codes = np.vstack([s.code for s in sigs]) if n else np.zeros((len(sigs), 0), dtype=np.int8)
    conf = np.vstack([s.conf for s in sigs]) if n else np.zeros((len(sigs), 0))
    w = np.array([s.spec.weight for s in sigs], dtype=np.float64)[:, None]
    avail = codes != _UNAV
    d = np.where(avail, codes, 0).astype(np.float64)
    wsum = (w * avail).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(wsum > 0, 100.0 * (w * d * conf).sum(axis=0) / wsum, 0.0)
    available = avail.sum(axis=0)
    return BoardSeries(symbol=symbol, interval=interval, ts_us=fr.ts_us, close=fr.c, names=[s.spec.name for s in sigs],
                       codes=codes, conf=conf, score=score, available=available,
                       label_codes=_label(score, available, p), _signals=sigs)


def evaluate_board(bars: pl.DataFrame, *, interval: str, daily: pl.DataFrame | None = None,
                   chain: pl.DataFrame | None = None, settings: Settings | None = None,
                   params: BoardParams | None = None) -> Board:
    """The board on the last bar of ``bars`` (the last closed bar); arguments as :func:`board_series`.

    Raises :class:`DataError` when ``bars`` is empty.
    """
    if bars.is_empty():
        raise DataError("no bars to evaluate the board on", "import or stream bars first (tradesig history/feed)")
    return board_series(bars, interval=interval, daily=daily, chain=chain, settings=settings,
                        params=params).board_at(-1)


def bar_end(ts: datetime, interval: str, session_close_minute: int = 15 * 60 + 30) -> datetime:
    """End of a bar starting at ``ts`` (aware): start + interval, capped at the session close (IST)."""
    from tradesig.store.bars import interval_minutes

    local = ts.astimezone(IST)
    end = local + timedelta(minutes=interval_minutes(interval))
    close = local.replace(hour=session_close_minute // 60, minute=session_close_minute % 60, second=0,
                          microsecond=0)
    if local < close < end:
        end = close
    return end.astimezone(UTC)


__all__ = ["LABELS", "Call", "SignalReading", "Board", "BoardParams", "BoardSeries", "SIGNALS", "WEIGHTS",
           "board_series",
           "evaluate_board", "bar_end"]

"""The replay: a tick schedule for the replayed day and a simulated clock that runs ``speed`` times real time.

:func:`build_schedule` turns each 1-minute bar of the day into ticks with :func:`tradesig.sim.paths.bar_path`
(OHLC reproduced exactly; timestamps whole seconds strictly inside the minute). :class:`ReplayClock` is a
:class:`tradesig.clock.ManualClock` that the sim's asyncio driver moves forward: sim time =
``start + (wall monotonic − wall at start) × speed``. It never moves backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from tradesig.clock import IST, Clock, ManualClock
from tradesig.sim.data import MarketData
from tradesig.sim.paths import DEFAULT_TICKS_PER_BAR, bar_path


@dataclass
class Schedule:
    """All index ticks of the replayed day, sorted by time.

    ``ts`` epoch seconds (UTC), ``token`` instrument token, ``price`` paise, ``bar`` index of the source bar in
    its :class:`BarSeries` (int64 arrays of equal length).
    """

    ts: np.ndarray
    token: np.ndarray
    price: np.ndarray
    bar: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


def build_schedule(data: MarketData, day: date, *, start: time | None = None, ticks_per_bar: int =
                   DEFAULT_TICKS_PER_BAR, seed: int = 0) -> Schedule:
    """Ticks of every series' bars on IST ``day`` whose bar starts at/after ``start`` (IST; None = all)."""
    ts_l, tok_l, px_l, bar_l = [], [], [], []
    start_epoch = int(datetime.combine(day, start, IST).timestamp()) if start else None
    for token, s in data.series.items():
        sl = s.day_slice(day)
        for i in range(sl.start, sl.stop):
            t0 = int(s.ts[i])
            if start_epoch is not None and t0 < start_epoch:
                continue
            for p in bar_path(int(s.open[i]), int(s.high[i]), int(s.low[i]), int(s.close[i]), n=ticks_per_bar,
                              seed=seed, key=t0 ^ token):
                ts_l.append(t0 + p.offset)
                tok_l.append(token)
                px_l.append(p.price)
                bar_l.append(i)
    ts = np.array(ts_l, np.int64)
    order = np.argsort(ts, kind="stable")
    return Schedule(ts[order], np.array(tok_l, np.int64)[order], np.array(px_l, np.int64)[order],
                    np.array(bar_l, np.int64)[order])


class ReplayClock(ManualClock):
    """Simulated time running ``speed`` × the ``wall`` clock's monotonic time, from ``start`` (aware).

    ``sync()`` moves it to the time due now and returns it; ``wall_delay(until)`` is the real seconds until sim
    time ``until``. ``hold``/``release`` freeze and resume it (``--wait-for-client``); ``pause``/``resume`` do the
    same for the exchange's pacing (a ticker client trailing the replay), independently of ``hold``.
    """

    def __init__(self, start: datetime, speed: float, wall: Clock) -> None:
        super().__init__(start)
        if not 0 < speed <= 10000:
            raise ValueError("speed must be in (0, 10000]")
        self.speed = float(speed)
        self.wall = wall
        self._origin_sim = self.now()
        self._origin_wall = wall.monotonic()
        self.held = False
        self.paused = False

    def sync(self) -> datetime:
        if self.held or self.paused:
            return self.now()
        due = self._origin_sim + timedelta(seconds=(self.wall.monotonic() - self._origin_wall) * self.speed)
        if due > self.now():
            self.set(due)
        return self.now()

    def restart(self) -> None:
        """Re-anchor the wall origin at the current sim time (e.g. when serving starts)."""
        self._origin_sim = self.now()
        self._origin_wall = self.wall.monotonic()

    def set_speed(self, speed: float) -> None:
        self.sync()
        self.restart()
        self.speed = float(speed)

    def hold(self) -> None:
        """Freeze sim time (until :meth:`release`)."""
        self._freeze("held")

    def release(self) -> None:
        """Let sim time run again from where it was frozen."""
        self._thaw("held")

    def pause(self) -> None:
        """Freeze sim time for the exchange's pacing (until :meth:`resume`)."""
        self._freeze("paused")

    def resume(self) -> None:
        """Let sim time run again after :meth:`pause`, from where it stood."""
        self._thaw("paused")

    def _freeze(self, reason: str) -> None:
        self.sync()
        setattr(self, reason, True)

    def _thaw(self, reason: str) -> None:
        if getattr(self, reason):
            setattr(self, reason, False)
            self.restart()

    def wall_delay(self, until: datetime) -> float:
        if self.paused:
            return 0.02
        if self.held:
            return 0.5
        return max(0.0, (until - self.now()).total_seconds() / self.speed)


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def from_epoch(sec: float) -> datetime:
    return datetime.fromtimestamp(sec, UTC)


class Replay:
    """Walks a :class:`Schedule`: each tick due by the sim clock moves the market (``market.apply_tick``) and,
    for an instrument of the catalog, becomes a full-mode tick dict for the ticker.

    ``market`` is a :class:`tradesig.sim.market.MarketState`, ``catalog`` a :class:`tradesig.sim.instruments.
    Catalog` (typed loosely to keep this module below them in the import order).
    """

    def __init__(self, schedule: Schedule, market, catalog) -> None:
        self.schedule = schedule
        self.market = market
        self.catalog = catalog
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.schedule)

    def next_time(self) -> datetime | None:
        """Sim time (aware UTC) of the next scheduled tick; None when the day is replayed."""
        return None if self.done else from_epoch(int(self.schedule.ts[self.pos]))

    def advance(self, now: datetime) -> tuple[list[dict], set[int]]:
        """Apply every tick due at ``now``; (full ticks of the moved catalog instruments, tokens that moved)."""
        sched, now_e = self.schedule, now.timestamp()
        batch: list[dict] = []
        touched: set[int] = set()
        while self.pos < len(sched) and sched.ts[self.pos] <= now_e:
            token, ts, price = int(sched.token[self.pos]), int(sched.ts[self.pos]), int(sched.price[self.pos])
            self.market.apply_tick(token, ts, price)
            ins = self.catalog.by_token.get(token)
            if ins is not None:
                tick = self.market.tick(ins, "full", from_epoch(ts))
                if tick is not None:
                    batch.append(tick)
            touched.add(token)
            self.pos += 1
        return batch, touched

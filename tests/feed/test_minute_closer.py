"""The feed closes each minute bar as soon as the market clock is past it (not at the next once-a-second
housekeeping, which is 8 market minutes of a 500x replay): :meth:`FeedService._minute_closer` driven on a replay
clock, one market second per poll."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from tradesig.feed.barbuilder import GRACE, floor_minute
from tradesig.feed.service import CLOSE_AFTER, FeedService

T0 = datetime(2024, 6, 4, 5, 43, 30, tzinfo=UTC)


class Replay:
    """The service's surface the closer uses: the market clock advances one second per poll; ticks arrive one
    per market second (their times trail the clock by ``lag`` seconds); a flush adds them to the bar builder."""

    def __init__(self, seconds: int, lag: float = 0.0) -> None:
        self.now = T0
        self.end = T0 + timedelta(seconds=seconds)
        self.lag = timedelta(seconds=lag)
        self.flushes: list[datetime] = []
        self.newest_added: datetime | None = None
        self.source = SimpleNamespace(market_time_known=lambda: True)
        bars = SimpleNamespace(boundary=lambda: None if self.newest_added is None
                               else floor_minute(self.newest_added - GRACE))
        self.ingest = SimpleNamespace(stats=SimpleNamespace(ticks=0), flush=self._flush, bars=bars)

    def stopping(self) -> bool:
        return self.now >= self.end

    def market_now(self) -> datetime:
        return self.now

    async def _sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=1)
        self.ingest.stats.ticks += 1

    def _flush(self) -> None:
        self.flushes.append(self.now)
        self.newest_added = self.now - self.lag


def test_each_minute_is_closed_once_right_after_it_ends():
    replay = Replay(seconds=200)
    asyncio.run(FeedService._minute_closer(replay))
    minutes = [T0.replace(second=0) + timedelta(minutes=m) for m in (1, 2, 3)]   # 05:44, 05:45, 05:46 ends
    assert replay.flushes == [m + CLOSE_AFTER for m in minutes]


def test_a_minute_whose_next_ticks_lag_is_retried_until_they_are_in():
    replay = Replay(seconds=100, lag=10)   # ticks trail the replay clock by 10 market seconds
    asyncio.run(FeedService._minute_closer(replay))
    end = T0.replace(second=0) + timedelta(minutes=1)
    first = end + CLOSE_AFTER
    # flushed each poll until the builder holds a tick 2 s (GRACE) past the minute, then not again that minute
    this_minute = [f for f in replay.flushes if f < end + timedelta(minutes=1)]
    assert this_minute == [first + timedelta(seconds=i) for i in range(8)]
    assert this_minute[-1] - replay.lag - GRACE >= end > this_minute[-2] - replay.lag - GRACE

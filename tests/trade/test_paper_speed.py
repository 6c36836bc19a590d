"""Paper = backtest at replay speed (issue 13 item 8), in process.

Following a sim that replays at 500× (the demo's speed), every wall second the engine spends costs 500 market
seconds: a REST round trip, an fsync'd event, and above all Kite's 1 request/s quote limit, which the sim enforces
in wall time. This harness models exactly those costs on a deterministic clock (:class:`ReplayClock`: market time
runs ``speed``× the broker's monotonic seconds) instead of timing a real sim, so it runs in seconds and cannot
flake on a loaded machine: the paper engine follows a replayed week of real NIFTY minutes, fills on the sim's
rate-limited /quote (priced by the model at the market time of each answer), and its trade list must equal the
backtest's over the same bars — same signal, contracts, lots, exit reason, entries within two market minutes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from tests.conftest import shared_file
from tradesig.calendar import get_calendar
from tradesig.clock import ManualClock
from tradesig.config import Settings
from tradesig.errors import BrokerError
from tradesig.store.bars import conform, resample
from tradesig.trade.backtest import default_instruments, run_backtest
from tradesig.trade.broker import Quote
from tradesig.trade.build import build_engine, collecting_sink
from tradesig.trade.hourly import MinuteBar
from tradesig.trade.quotes import BrokerQuotes, ModelledPremiums, SpotBook

SPEED = 500.0
#: Replayed weeks of real NIFTY minutes: the election week (S8 on 06-04, out at the expiry exit) and the next
#: (S3 on 06-10, out on a strike breach the same day).
WEEKS = [(date(2024, 6, 3), date(2024, 6, 7)), (date(2024, 6, 10), date(2024, 6, 14))]
REST_LATENCY = 0.02      # wall seconds per /quote round trip
EVENT_COST = 0.002       # wall seconds per fsync'd events-log line


class ReplayClock(ManualClock):
    """Market time runs ``speed``× the monotonic (broker, wall) seconds: ``sleep``/``advance`` of market seconds
    cost ``seconds / speed`` monotonic seconds; :meth:`spend` of wall seconds costs ``wall × speed`` market."""

    def __init__(self, start: datetime, speed: float) -> None:
        super().__init__(start)
        self.speed = speed
        self._wall = 0.0

    def monotonic(self) -> float:
        return self._wall

    def advance(self, delta: timedelta | float) -> datetime:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        now = super().advance(seconds)
        self._wall += seconds / self.speed
        return now

    def spend(self, wall_seconds: float) -> None:
        self.advance(wall_seconds * self.speed)


class SimQuoteEndpoint:
    """The sim's ``GET /quote`` seen from the engine: each request costs ``REST_LATENCY`` wall seconds; more than
    one per wall second is refused (HTTP 429, a BrokerError), as the sim and Kite do; prices are the model's at the
    market time of the answer."""

    def __init__(self, clock: ReplayClock, model: ModelledPremiums, instruments) -> None:
        self.clock, self.model, self.instruments = clock, model, instruments
        self.last: float | None = None
        self.requests = self.refused = 0

    def __call__(self, keys: list[str]) -> dict[str, Quote]:
        self.clock.spend(REST_LATENCY)
        self.requests += 1
        if self.last is not None and self.clock.monotonic() - self.last < 1.0:
            self.refused += 1
            raise BrokerError("429 Too many requests")
        self.last = self.clock.monotonic()
        out = {}
        for key in keys:
            q = self.model.quote(self.instruments.by_tradingsymbol(key.split(":", 1)[1]))
            if q is not None:
                out[key] = Quote(q.ltp, self.clock.now(), source=q.source)
        return out


@pytest.fixture(scope="module")
def bars():
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"))
    return conform(df.select("symbol", "ts", "open", "high", "low", "close"))


def _paper_at_speed(bars, instruments, settings, week):
    local = pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date()
    warm = resample(bars.filter((local >= week[0] - timedelta(days=28)) & (local < week[0])), "1h")
    minutes = bars.filter((local >= week[0]) & (local <= week[1])).sort("ts")
    clock = ReplayClock(minutes["ts"][0], SPEED)
    spots = SpotBook()
    endpoint = SimQuoteEndpoint(clock, ModelledPremiums(spots, settings.backtest), instruments)
    events: list[dict] = []
    collect = collecting_sink(clock, events)

    def emit(event):  # the events log: every line is fsync'd, which costs wall (so market) time
        clock.spend(EVENT_COST)
        collect(event)

    w = build_engine(settings, "paper", clock=clock, instruments=instruments, symbols=["NIFTY"], spots=spots,
                     quotes=BrokerQuotes(endpoint, clock), emit=emit, trade_from=minutes["ts"][0])
    w.engine.warm_up("NIFTY", list(warm.iter_rows(named=True)))
    for row in minutes.iter_rows(named=True):
        end = row["ts"] + timedelta(minutes=1)
        if end > clock.now():   # the feed delivers a bar when it closes; a busy engine takes it late
            clock.set(end)
        w.engine.on_minute_bar("NIFTY", MinuteBar.from_row(row))
    w.engine.flush()
    trades = [p.as_dict() for p in w.engine.closed] + [p.as_dict() for p in w.engine.positions.values()]
    return sorted(trades, key=lambda t: t["opened_at"]), endpoint


@pytest.mark.parametrize("week", WEEKS, ids=lambda w: w[0].isoformat())
def test_paper_at_500x_takes_the_backtests_trades(bars, week):
    settings = Settings()
    instruments = default_instruments(get_calendar().weekly_expiry)
    paper, endpoint = _paper_at_speed(bars, instruments, settings, week)
    local = pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date()
    hourly = resample(bars.filter((local >= week[0] - timedelta(days=28)) & (local <= week[1])), "1h")
    backtest = run_backtest(settings, {"NIFTY": hourly}, start=week[0], end=week[1], instruments=instruments).trades
    assert backtest, "the week has trades"
    key = ("signal_key", "main", "hedge", "lots", "quantity", "exit_reason", "status")
    assert [tuple(t[k] for k in key) for t in paper] == [tuple(t[k] for k in key) for t in backtest]
    gaps = [abs(datetime.fromisoformat(p["opened_at"]) - datetime.fromisoformat(b["opened_at"]))
            for p, b in zip(paper, backtest, strict=True)]
    assert max(gaps) <= timedelta(minutes=2), gaps
    assert all(p["modelled"] for p in paper) and endpoint.requests > 0

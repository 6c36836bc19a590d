"""Open positions marked to market (issue 13 item 6): the engine records its open baskets' legs' last prices,
unrealised P&L and charges paid so far; `trade status`/`positions` and the report show them, and the report
splits realised and unrealised P&L. Real NIFTY bars of 2024-06-04 (S8 fires at 11:15, the basket stays open)."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import polars as pl
import pytest

from tests.conftest import shared_file
from tradesig.calendar import get_calendar
from tradesig.config import Settings
from tradesig.report.build import report_from_events
from tradesig.report.render import render_json, render_text
from tradesig.store.bars import conform, resample
from tradesig.trade.backtest import default_instruments, historical_engine
from tradesig.trade.hourly import MinuteBar
from tradesig.trade.service import BASKET_MARK_KEYS, positions, status, write_state

DAY = date(2024, 6, 4)


@pytest.fixture(scope="module")
def replayed():
    """The paper path over 2024-06-03..04 (minute bars, time checks every minute), stopped at the close."""
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"))
    bars = conform(df.select("symbol", "ts", "open", "high", "low", "close"))
    local = pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date()
    warm = resample(bars.filter((local >= date(2024, 5, 6)) & (local < date(2024, 6, 3))), "1h")
    minutes = bars.filter((local >= date(2024, 6, 3)) & (local <= DAY)).sort("ts")
    first = minutes["ts"][0]
    w = historical_engine(Settings(), "paper", start_clock=first, symbols=["NIFTY"],
                          instruments=default_instruments(get_calendar().weekly_expiry), trade_from=first)
    w.engine.warm_up("NIFTY", list(warm.iter_rows(named=True)))
    for row in minutes.iter_rows(named=True):
        w.clock.set(max(w.clock.now(), row["ts"] + timedelta(minutes=1)))
        w.engine.on_minute_bar("NIFTY", MinuteBar.from_row(row))
    return w


def test_engine_marks_open_baskets(replayed):
    engine = replayed.engine
    assert len(engine.positions) == 1
    pos = next(iter(engine.positions.values()))
    assert pos.charges.total > 0 and pos.main_last is not None and pos.hedge_last is not None
    expected = (pos.main_entry - pos.main_last) * pos.main_qty + (pos.hedge_last - pos.hedge_entry) * pos.hedge_qty
    assert pos.unrealised_pnl == pytest.approx(expected)
    assert pos.marked_at == engine.clock.now() and pos.mark_source.startswith("modelled [iv ")
    snap = engine.snapshot()
    assert snap["open_charges"] == round(pos.charges.total, 2)
    assert snap["unrealised_pnl"] == round(expected, 2)
    assert snap["day_pnl"] == pytest.approx(snap["realised_pnl"] + snap["unrealised_pnl"] - snap["open_charges"],
                                            abs=0.02)
    marks = [e for e in replayed.events if e["kind"] == "basket_marked"]
    minutes = [e["ts"][:16] for e in marks]
    assert marks and len(minutes) == len(set(minutes))           # at most one mark per basket per minute
    assert marks[-1]["legs"][0]["last_price"] == pos.main_last and marks[-1]["charges"] == round(pos.charges.total, 2)


def test_status_and_positions_show_marks(replayed, tmp_path):
    write_state(tmp_path, "paper", replayed.engine.snapshot())
    loaded = SimpleNamespace(home=tmp_path)
    pos = next(iter(replayed.engine.positions.values()))
    basket = status(loaded, replayed.clock)["modes"]["paper"]["baskets"][0]
    assert set(basket) == set(BASKET_MARK_KEYS)
    assert basket["main_last"] == pos.main_last and basket["hedge_last"] == pos.hedge_last
    assert basket["unrealised_pnl"] == round(pos.unrealised_pnl, 2) and basket["charges"] == round(pos.charges.total, 2)
    row = positions(loaded, "paper")[0]
    assert row["main_last"] == pos.main_last and row["unrealised_pnl"] == basket["unrealised_pnl"]


def test_report_splits_realised_and_unrealised(replayed):
    events = [e for e in replayed.events if e["ts"][:10] == "2024-06-04" or e["kind"].startswith("basket")]
    data = report_from_events(events, "daily", DAY, DAY, "paper")
    pos = next(iter(replayed.engine.positions.values()))
    (trade,) = data.trades
    assert trade.is_open and trade.charges == round(pos.charges.total, 2) > 0     # not 0.00
    assert trade.unrealised_pnl == round(pos.unrealised_pnl, 2)
    assert [leg.last_price for leg in trade.legs] == [pos.main_last, pos.hedge_last]
    assert data.realised_pnl == 0.0 and data.open_charges == trade.charges
    assert data.total_pnl == round(data.unrealised_pnl - data.open_charges, 2)
    assert "unrealised P&L (Rs)" in render_text(data) and "charges on open (Rs)" in render_text(data)
    summary = __import__("json").loads(render_json(data))["summary"]
    assert summary["unrealised_pnl"] == trade.unrealised_pnl and summary["open_charges"] == trade.charges
    # a report from events without marks (older logs) says the open basket is unmarked rather than 0.00
    unmarked = report_from_events([e for e in events if e["kind"] != "basket_marked"], "daily", DAY, DAY, "paper")
    assert unmarked.unmarked == [trade.trade_id] and unmarked.trades[0].unrealised_pnl is None
    assert "unmarked: " + trade.trade_id in render_text(unmarked)

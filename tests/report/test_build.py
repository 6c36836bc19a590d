"""Folding events into a report: modes filtered, duplicates ignored, open trades, feed health, missing data."""

from __future__ import annotations

from datetime import date

import pytest

from tradesig.report.build import period_bounds, report_from_events

LEGS = [{"tradingsymbol": "NIFTY2460622500CE", "role": "hedge", "side": "BUY", "quantity": 25, "entry_price": 60.0,
         "exit_price": 41.0},
        {"tradingsymbol": "NIFTY2460622300CE", "role": "main", "side": "SELL", "quantity": 25, "entry_price": 120.0,
         "exit_price": 80.0}]


def ev(kind, **kw):
    return {"kind": kind, "ts": "2024-06-04T05:00:00+00:00", **kw}


def test_fold_events():
    events = [
        ev("signal", mode="paper", symbol="NIFTY", signal="S8", side="bearish", bar_ts="2024-06-04T04:45:00+00:00",
           entry_price=22500.0, stop_loss=22610.0),
        ev("signal", mode="paper", symbol="NIFTY", signal="S8", side="bearish", bar_ts="2024-06-04T04:45:00+00:00",
           entry_price=22500.0, stop_loss=22610.0),
        ev("signal", mode="backtest", symbol="NIFTY", signal="S3", side="bearish", bar_ts="2024-06-04T04:45:00+00:00",
           entry_price=1.0, stop_loss=2.0),
        ev("basket_opened", mode="paper", trade_id="T1", symbol="NIFTY", signal="S8", side="bearish",
           entry_ts="2024-06-04T04:46:00+00:00", legs=LEGS),
        ev("basket_closed", mode="paper", trade_id="T1", symbol="NIFTY", signal="S8", side="bearish",
           entry_ts="2024-06-04T04:46:00+00:00", exit_ts="2024-06-04T08:45:00+00:00", exit_reason="hourly_close",
           legs=LEGS, gross_pnl=525.0, charges=98.5, net_pnl=426.5),
        ev("basket_opened", mode="paper", trade_id="T2", symbol="NIFTY", signal="S8", side="bearish",
           entry_ts="2024-06-04T09:00:00+00:00", legs=LEGS),
        ev("feed_stats", ticks=5000, gaps=1, reconnects=1, polled_ticks=0, token_waits=0),
        ev("feed_stats", ticks=9000, gaps=2, reconnects=0, polled_ticks=7, token_waits=1),
        ev("feed_gap", instrument=256265, cause="disconnect", **{"from": "10:01", "to": "10:03"}),
    ]
    data = report_from_events(events, "daily", date(2024, 6, 4), date(2024, 6, 4), "paper")
    assert [s.signal for s in data.signals] == ["S8"]
    assert [(t.trade_id, t.is_open) for t in data.trades] == [("T1", False), ("T2", True)]
    assert data.net_pnl == 426.5 and data.charges == 98.5
    assert data.feed.ticks == 14000 and data.feed.reconnects == 1 and data.feed.polled == 7  # summed over runs
    assert data.feed.gaps_total == 3 and data.feed.gaps[0]["cause"] == "disconnect"
    assert data.feed.token_events == ("waited for a new token",)
    assert data.missing == []


def test_no_feed_events_is_named():
    data = report_from_events([], "daily", date(2024, 6, 5), date(2024, 6, 5), "paper")
    assert data.trades == [] and any("feed health" in m for m in data.missing)


def test_synthetic_flag_carries_over():
    data = report_from_events([ev("feed_stats", ticks=1, synthetic=True)], "daily", date(2024, 6, 5),
                              date(2024, 6, 5), "paper")
    assert data.synthetic


@pytest.mark.parametrize("period,day,expected", [
    ("daily", date(2024, 6, 4), (date(2024, 6, 4), date(2024, 6, 4))),
    ("weekly", date(2024, 6, 6), (date(2024, 6, 3), date(2024, 6, 9))),
    ("monthly", date(2024, 2, 10), (date(2024, 2, 1), date(2024, 2, 29))),
    ("monthly", date(2024, 12, 31), (date(2024, 12, 1), date(2024, 12, 31))),
])
def test_period_bounds(period, day, expected):
    assert period_bounds(period, day) == expected

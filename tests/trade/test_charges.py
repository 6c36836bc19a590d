from datetime import date

import pytest

from tradesig.config import ChargesSettings
from tradesig.trade.charges import RateTable, order_charges


def test_sell_after_october_2024():
    rates = RateTable(ChargesSettings()).on(date(2025, 1, 6))
    c = order_charges(rates, "SELL", 75, 100.0, "NFO")  # premium 7,500
    assert c.brokerage == 20.0
    assert c.stt == pytest.approx(7.5)                  # 0.1 %
    assert c.exchange_txn == pytest.approx(2.62725)     # 0.03503 %
    assert c.sebi == pytest.approx(0.0075)              # 10 / crore
    assert c.stamp == 0.0
    assert c.gst == pytest.approx(0.18 * (20 + 2.62725 + 0.0075))
    assert c.total == pytest.approx(34.2093, abs=1e-3)


def test_buy_pays_stamp_not_stt_and_bse_rate():
    rates = RateTable(ChargesSettings()).on(date(2025, 1, 6))
    c = order_charges(rates, "BUY", 20, 50.0, "BFO", orders=2)
    assert c.stt == 0 and c.stamp == pytest.approx(0.03)
    assert c.brokerage == 40.0 and c.exchange_txn == pytest.approx(1000 * 0.000325)


def test_dated_table():
    table = RateTable(ChargesSettings())
    assert table.on(date(2024, 6, 3)).stt_sell_pct == 0.0625
    assert table.on(date(2024, 10, 1)).stt_sell_pct == 0.1
    custom = RateTable(ChargesSettings(effective_from="2026-01-01", brokerage_per_order=15.0))
    assert custom.on(date(2025, 12, 31)).brokerage_per_order == 20.0
    assert custom.on(date(2026, 1, 1)).brokerage_per_order == 15.0
    assert order_charges(custom.on(date(2026, 1, 1)), "SELL", 0, 10.0, "NFO").total == 0

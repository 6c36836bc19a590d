"""Dated market facts (tradesig.market): every changeover on both sides, each case citing its source."""

import logging
from datetime import date, timedelta

import pytest

from tradesig import market
from tradesig.config import ChargesSettings
from tradesig.market import (
    freeze_quantity,
    is_monthly_expiry,
    lot_size,
    lot_size_on,
    monthly_expiry_weekday,
    weekly_expiry_weekday,
)
from tradesig.trade.charges import RateTable, order_charges, statutory_rates
from tradesig.trade.instruments import InstrumentBook

D = date.fromisoformat


@pytest.mark.parametrize(("symbol", "expiry", "lot", "source"), [
    # NSE circular 2021-03-31: July 2021 monthly and August 2021 weeklies on get 50
    ("NIFTY", "2021-07-22", 75, "weekly listed before the revision"),
    ("NIFTY", "2021-07-29", 50, "first monthly with 50"),
    ("NIFTY", "2021-08-05", 50, "first weekly with 50"),
    # NSE circular 2024-03-28: first weekly 2024-05-02, first monthly 2024-05-30 with 25
    ("NIFTY", "2024-04-25", 50, "April 2024 monthly"),
    ("NIFTY", "2024-05-02", 25, "first weekly with 25"),
    ("NIFTY", "2024-06-06", 25, "the demo's 2024-06-04 trade expiry"),
    # NSE circular 2024-10-18 (SEBI 2024-10-01): contracts listed from 2024-11-20 get 75
    ("NIFTY", "2024-12-19", 25, "last weekly at 25"),
    ("NIFTY", "2024-12-26", 25, "Dec 2024 monthly listed before the revision"),
    ("NIFTY", "2025-01-02", 75, "first weekly at 75"),
    ("NIFTY", "2025-01-30", 25, "Jan 2025 monthly stays 25"),
    ("NIFTY", "2025-02-27", 75, "first monthly at 75"),
    # NSE circular 2025-09-30: contracts expiring up to 2025-12-30 keep 75; 65 from the first 2026 expiry
    ("NIFTY", "2025-12-30", 75, "last 75 expiry"),
    ("NIFTY", "2026-01-06", 65, "first weekly at 65"),
    ("NIFTY", "2026-01-27", 65, "first monthly at 65"),
    ("NIFTY", "2026-08-18", 65, "the Aug 2026 Kite dump"),
    # NSE circular 2023-03-31: BANKNIFTY 25 -> 15 from the July 2023 monthly, weeklies from August 2023
    ("BANKNIFTY", "2023-07-20", 25, "July weekly listed before"),
    ("BANKNIFTY", "2023-07-27", 15, "first monthly with 15"),
    ("BANKNIFTY", "2023-08-03", 15, "first weekly with 15"),
    # SEBI 2024-10-01 / NSE 2024-10-18: 15 -> 30 for contracts listed from 2024-11-20 (monthlies only by then)
    ("BANKNIFTY", "2024-11-13", 15, "last weekly"),
    ("BANKNIFTY", "2025-01-30", 15, "Jan 2025 monthly listed before 2024-11-20"),
    ("BANKNIFTY", "2025-02-27", 30, "first monthly at 30"),
    # NSE circular 2025-03-28: 30 -> 35 from the July 2025 monthly
    ("BANKNIFTY", "2025-06-26", 30, "June 2025 monthly keeps 30"),
    ("BANKNIFTY", "2025-07-31", 35, "first monthly at 35"),
    # NSE circular 2025-09-30: 35 -> 30 from January 2026
    ("BANKNIFTY", "2025-12-30", 35, "Dec 2025 monthly keeps 35"),
    ("BANKNIFTY", "2026-01-27", 30, "first monthly at 30 again"),
    # BSE notice 2023-03-28: SENSEX lot 15 -> 10 from 2023-05-15; 20 for contracts listed from 2024-11-20
    ("SENSEX", "2023-05-12", 15, "last Thursday contracts"),
    ("SENSEX", "2023-05-19", 10, "first Friday weekly"),
    ("SENSEX", "2024-12-20", 10, "weekly listed before 2024-11-20"),
    ("SENSEX", "2025-01-03", 20, "first weekly assumed at 20 (unverified date)"),
    ("SENSEX", "2026-08-20", 20, "the Aug 2026 Kite dump"),
])
def test_lot_size_by_contract(symbol, expiry, lot, source):
    assert lot_size(symbol, D(expiry)) == lot, source


def test_lot_size_on_listing_date():
    # the lot new contracts get on a date: the circulars' effective dates
    assert lot_size_on("NIFTY", D("2024-11-19")) == 25 and lot_size_on("NIFTY", D("2024-11-20")) == 75
    assert lot_size_on("NIFTY", D("2025-10-28")) == 75 and lot_size_on("NIFTY", D("2025-10-29")) == 65
    assert lot_size_on("BANKNIFTY", D("2025-04-24")) == 30 and lot_size_on("BANKNIFTY", D("2025-04-25")) == 35
    assert lot_size_on("nifty 50", D("2024-06-04")) == 25


def test_every_revision_changes_the_lot_on_both_sides():
    for rev in market.LOT_REVISIONS:
        if rev.listed_from == market.EPOCH:
            continue
        for first in {rev.first_weekly, rev.first_monthly}:
            assert lot_size(rev.symbol, first) == rev.lot, rev
        assert lot_size_on(rev.symbol, rev.listed_from) == rev.lot
        assert lot_size_on(rev.symbol, rev.listed_from - timedelta(days=1)) != rev.lot


def test_monthly_classification():
    assert is_monthly_expiry("NIFTY", D("2024-03-28")) and not is_monthly_expiry("NIFTY", D("2024-03-21"))
    assert is_monthly_expiry("NIFTY", D("2024-12-26"))
    assert is_monthly_expiry("NIFTY", D("2026-03-30"))  # last Tuesday 31st (holiday) moved to Monday
    assert is_monthly_expiry("BANKNIFTY", D("2026-08-25"))  # no weeklies: every expiry is a monthly


@pytest.mark.parametrize(("symbol", "before", "on", "old", "new", "source"), [
    ("NIFTY", "2023-04-02", "2023-04-03", 2800, 1800, "NSE freeze limits w.e.f. 2023-04-03"),
    ("BANKNIFTY", "2023-04-02", "2023-04-03", 1200, 900, "NSE freeze limits w.e.f. 2023-04-03"),
    ("BANKNIFTY", "2025-06-30", "2025-07-01", 900, 600, "NSE circular 2025-06-30"),
    ("BANKNIFTY", "2025-08-31", "2025-09-01", 600, 900, "NSE circular 2025-08-29"),
    ("BANKNIFTY", "2025-11-02", "2025-11-03", 900, 600, "NSE circular 2025-10-31"),
])
def test_freeze_quantity_changes(symbol, before, on, old, new, source):
    assert freeze_quantity(symbol, D(before)) == old, source
    assert freeze_quantity(symbol, D(on)) == new, source


def test_freeze_unchanged_for_nifty_through_2026():
    # NSE circulars of 2025-08-29, 2025-10-31 and 2026-01-30 keep NIFTY at 1800
    assert {freeze_quantity("NIFTY", D(d)) for d in ("2024-06-04", "2025-09-01", "2026-02-01")} == {1800}


@pytest.mark.parametrize(("table", "symbol", "before", "on", "old", "new", "source"), [
    ("weekly", "NIFTY", "2025-08-31", "2025-09-01", 3, 1, "NSE: Tuesday expiries from 2025-09-01"),
    ("monthly", "NIFTY", "2025-08-31", "2025-09-01", 3, 1, "NSE: last Tuesday from 2025-09-01"),
    ("weekly", "BANKNIFTY", "2023-09-03", "2023-09-04", 3, 2, "NSE: Wednesday weeklies from 2023-09-04"),
    ("weekly", "BANKNIFTY", "2024-11-13", "2024-11-14", 2, None, "SEBI 2024-10-01: BANKNIFTY weeklies end"),
    ("monthly", "BANKNIFTY", "2024-02-29", "2024-03-01", 3, 2, "NSE: last Wednesday from March 2024"),
    ("monthly", "BANKNIFTY", "2024-12-31", "2025-01-01", 2, 3, "NSE circular 2024-11-29"),
    ("monthly", "BANKNIFTY", "2025-08-31", "2025-09-01", 3, 1, "NSE: last Tuesday from 2025-09-01"),
    ("weekly", "SENSEX", "2023-05-14", "2023-05-15", 3, 4, "BSE notice 2023-03-28: Friday"),
    ("weekly", "SENSEX", "2025-01-03", "2025-01-04", 4, 1, "BSE circular 2024-11-28: Tuesday"),
    ("monthly", "SENSEX", "2024-12-31", "2025-01-01", 4, 1, "BSE circular 2024-11-28: last Tuesday"),
    ("weekly", "SENSEX", "2025-08-31", "2025-09-01", 1, 3, "BSE: Thursday from 2025-09-01"),
])
def test_expiry_weekday_changes(table, symbol, before, on, old, new, source):
    fn = weekly_expiry_weekday if table == "weekly" else monthly_expiry_weekday
    assert fn(symbol, D(before)) == old, source
    assert fn(symbol, D(on)) == new, source


@pytest.mark.parametrize(("day", "stt", "nse", "source"), [
    ("2023-03-31", 0.05, 0.053, "before the Finance Act 2023"),
    ("2023-04-01", 0.0625, 0.0495, "Finance Act 2023"),
    ("2024-09-30", 0.0625, 0.0495, "last day before the Oct 2024 changes"),
    ("2024-10-01", 0.1, 0.03503, "Finance (No. 2) Act 2024; NSE circular 2024-09-27"),
    ("2026-03-31", 0.1, 0.03503, "last day at 0.1 %"),
    ("2026-04-01", 0.15, 0.03503, "Finance Act 2026"),
])
def test_statutory_rates_by_date(day, stt, nse, source):
    rates = statutory_rates(D(day))
    assert (rates.stt_sell_pct, rates.exchange_txn_nse_pct) == (stt, nse), source
    assert rates.stamp_buy_pct == 0.003 and rates.sebi_per_crore == 10.0 and rates.gst_pct == 18.0


def test_untouched_config_follows_the_table_and_overrides_are_dated():
    table = RateTable(ChargesSettings())  # defaults: STT 0.1 must not freeze past 2026-04-01
    sell = order_charges(table.on(D("2026-04-01")), "SELL", 65, 100.0, "NFO")  # premium 6,500
    assert sell.stt == pytest.approx(9.75)  # 0.15 %
    assert order_charges(table.on(D("2026-03-31")), "SELL", 65, 100.0, "NFO").stt == pytest.approx(6.5)
    custom = RateTable(ChargesSettings(effective_from="2026-06-01", exchange_txn_nse_pct=0.04))
    assert custom.on(D("2026-05-31")).exchange_txn_nse_pct == 0.03503
    assert custom.on(D("2026-06-01")).exchange_txn_nse_pct == 0.04
    assert custom.on(D("2026-06-01")).stt_sell_pct == 0.15  # not overridden: still the table's


def _rows(name, expiry, lot):
    return [{"tradingsymbol": f"{name}X{k}", "name": name, "expiry": expiry, "strike": str(22000 + 50 * k),
             "lot_size": str(lot), "instrument_type": "CE", "exchange": "NFO"} for k in range(3)]


def test_dump_disagreeing_with_the_table_warns_and_wins(caplog):
    with caplog.at_level(logging.WARNING, logger="tradesig.trade.instruments"):
        book = InstrumentBook(_rows("NIFTY", "2024-06-06", 65))
    assert book.lot_size("NIFTY", D("2024-06-04")) == 65  # the broker's dump is authoritative
    assert book.lot_mismatches == {"NIFTY": [(D("2024-06-06"), 65, 25)]}
    assert [r.getMessage() for r in caplog.records if "lot size 65" in r.getMessage() and "25" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tradesig.trade.instruments"):
        assert InstrumentBook(_rows("NIFTY", "2024-06-06", 25)).lot_mismatches == {}
    assert not caplog.records

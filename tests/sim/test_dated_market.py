"""The sim lists the replayed date's market: 2024-06-04's contracts, expiries, lots and Kite-format names."""

from __future__ import annotations

from datetime import date, time

import pytest

from tests.conftest import shared_file
from tradesig.market import lot_size
from tradesig.sim import SimConfig, SimExchange
from tradesig.sim.instruments import dump_applies, read_dump

DAY = date(2024, 6, 4)
NIFTY_1M = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"
DUMP = "kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz"


@pytest.fixture(scope="module")
def sim():
    return SimExchange(SimConfig(data_files=[shared_file(NIFTY_1M)], day=DAY, start=time(10, 0),
                                 instruments_dump=shared_file(DUMP)))


def test_the_2026_dump_is_not_used_for_a_2024_replay(sim):
    rows = read_dump(shared_file(DUMP))
    assert not dump_applies(rows, DAY) and dump_applies(rows, date(2026, 9, 1))
    assert sim.instruments_source.startswith("synthetic tokens; the contracts listed on 2024-06-04")


def test_nearest_nifty_weekly_is_thursday_6_june_with_lot_25(sim):
    nifty = [i for i in sim.catalog.instruments if i.underlying == "NIFTY" and not i.is_index]
    options = [i for i in nifty if i.instrument_type in ("CE", "PE")]
    expiries = sorted({i.expiry for i in options})
    assert expiries[0] == date(2024, 6, 6)
    assert expiries[:4] == [date(2024, 6, 6), date(2024, 6, 13), date(2024, 6, 20), date(2024, 6, 27)]
    assert all(e >= DAY for e in expiries)
    near = [i for i in options if i.expiry == date(2024, 6, 6)]
    assert {i.lot_size for i in near} == {25} == {lot_size("NIFTY", date(2024, 6, 6))}
    # every contract carries the lot of its own expiry, from the contract rule
    assert all(i.lot_size == lot_size("NIFTY", i.expiry) for i in nifty)


def test_tradingsymbols_follow_kites_format_for_the_date(sim):
    keys = sim.catalog.by_key
    weekly = keys["NFO:NIFTY2460622000CE"]  # YY, month digit, DD
    assert (weekly.expiry, weekly.strike, weekly.instrument_type, weekly.lot_size) == (date(2024, 6, 6), 22000.0,
                                                                                       "CE", 25)
    monthly = keys["NFO:NIFTY24JUN22000PE"]  # the last expiry of the month: YY + MON
    assert monthly.expiry == date(2024, 6, 27) and monthly.lot_size == 25
    fut = keys["NFO:NIFTY24JUNFUT"]
    assert fut.expiry == date(2024, 6, 27) and fut.instrument_type == "FUT"
    assert "NFO:NIFTY2460422000CE" not in keys  # no NIFTY weekly expired on Tuesday 4 June 2024


def test_strikes_surround_the_opening_spot(sim):
    spot = sim.market.spot("NIFTY")
    strikes = sorted({i.strike for i in sim.catalog.instruments
                      if i.underlying == "NIFTY" and i.expiry == date(2024, 6, 6) and i.instrument_type == "CE"})
    assert strikes[0] < spot < strikes[-1]
    assert {b - a for a, b in zip(strikes, strikes[1:], strict=False)} == {50.0}


def test_orders_use_the_dated_lot_and_freeze(sim):
    ins = sim.catalog.by_key["NFO:NIFTY2460622000CE"]
    assert sim.orders.max_slice(ins) == 1775  # largest multiple of 25 below the 1800 freeze quantity

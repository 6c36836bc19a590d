"""The real Kite dump rebased onto the replayed date: expiries, strikes and Kite-format tradingsymbols."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from tests.conftest import shared_file
from tradesig.sim.instruments import COLUMNS, ExpiryRules, build_catalog, read_dump, tradingsymbol

DUMP = "kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz"


@pytest.fixture(scope="module")
def rows():
    return read_dump(shared_file(DUMP))


def test_tradingsymbol_formats():
    assert tradingsymbol("NIFTY", date(2024, 6, 27), "FUT") == "NIFTY24JUNFUT"
    assert tradingsymbol("NIFTY", date(2024, 6, 25), "CE", 22000.0, monthly=True) == "NIFTY24JUN22000CE"
    assert tradingsymbol("NIFTY", date(2024, 6, 4), "PE", 22000.0, monthly=False) == "NIFTY2460422000PE"
    assert tradingsymbol("SENSEX", date(2024, 10, 3), "CE", 80000.0, monthly=False) == "SENSEX24O0380000CE"
    assert tradingsymbol("BANKNIFTY", date(2024, 12, 3), "PE", 51500.0, monthly=False) == "BANKNIFTY24D0351500PE"


def test_rebased_catalog(rows):
    day = date(2024, 6, 4)
    cat = build_catalog(rows, day, {"NIFTY": 23157.25, "BANKNIFTY": 49000.0})
    nifty = [i for i in cat.instruments if i.underlying == "NIFTY" and not i.is_index]
    expiries = sorted({i.expiry for i in nifty})
    # NIFTY weeklies expired on Thursdays until September 2025 (tradesig.market.EXPIRY_WEEKDAYS)
    assert expiries[0] == date(2024, 6, 6)
    weeklies = sorted({i.expiry for i in nifty if i.instrument_type != "FUT"})[:5]
    assert weeklies == [date(2024, 6, 6), date(2024, 6, 13), date(2024, 6, 20), date(2024, 6, 27), date(2024, 7, 4)]
    assert all(e.weekday() == 3 for e in weeklies)
    futs = sorted(i.tradingsymbol for i in nifty if i.instrument_type == "FUT")
    assert futs == ["NIFTY24AUGFUT", "NIFTY24JULFUT", "NIFTY24JUNFUT"]
    by_key = cat.by_key
    assert "NFO:NIFTY2460623150CE" in by_key or "NFO:NIFTY2460623200CE" in by_key
    assert by_key["NFO:NIFTY24JUN23000PE"].expiry == date(2024, 6, 27)  # the month's last expiry: monthly name
    assert all(i.lot_size == 65 for i in nifty)
    near = [i.strike for i in nifty if i.expiry == expiries[0]]
    assert min(near) < 23157.25 < max(near)
    assert not [i for i in cat.instruments if i.underlying == "SENSEX" and not i.is_index]  # no data: no derivatives
    # tokens are the dump's own and unique
    assert len(cat.by_token) == len(cat.instruments)


def test_csv_is_kite_format_with_index_rows(rows):
    cat = build_catalog(rows, date(2024, 6, 4), {"NIFTY": 23157.25})
    text = cat.csv_bytes().decode()
    reader = list(csv.DictReader(io.StringIO(text)))
    assert list(reader[0]) == COLUMNS
    idx = {r["tradingsymbol"]: r for r in reader if r["segment"] == "INDICES"}
    assert idx["NIFTY 50"]["instrument_token"] == "256265" and idx["SENSEX"]["exchange"] == "BSE"
    assert cat.csv_bytes("BSE").decode().count("\n") == 2  # header + SENSEX


def test_holiday_moves_the_expiry_to_the_previous_trading_day():
    rules = ExpiryRules()
    if not rules.holiday_aware:
        pytest.skip("tradesig.calendar is not available")
    # Tuesday 2025-10-21 (Diwali Laxmi Pujan) is a holiday: that week's NIFTY expiry is Monday 2025-10-20
    assert rules.weekly("NIFTY", date(2025, 10, 20)) == date(2025, 10, 20)
    assert rules.monthly("NIFTY", 2024, 6) == date(2024, 6, 27)  # last Thursday: the 2024 schedule


def test_synthetic_master_when_no_dump_exists():
    from tradesig.sim.instruments import synthetic_catalog

    cat = synthetic_catalog(date(2024, 6, 4), {"NIFTY": 23157.25, "SENSEX": 76000.0})
    nifty = [i for i in cat.instruments if i.underlying == "NIFTY" and not i.is_index]
    assert {i.tradingsymbol for i in nifty if i.instrument_type == "FUT"} == {"NIFTY24JUNFUT", "NIFTY24JULFUT",
                                                                              "NIFTY24AUGFUT"}
    assert "NFO:NIFTY2460623150CE" in cat.by_key and "NFO:NIFTY24JUN23150PE" in cat.by_key
    assert all(i.instrument_token & 0xFF == 2 for i in nifty)  # NFO segment byte
    sensex = [i for i in cat.instruments if i.underlying == "SENSEX" and not i.is_index]
    assert min(i.expiry for i in sensex) == date(2024, 6, 7)  # SENSEX weeklies expired on Fridays in 2024
    assert all(i.instrument_token & 0xFF == 5 for i in sensex)
    assert len(cat.by_token) == len(cat.instruments)

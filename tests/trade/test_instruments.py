import csv
import gzip
from datetime import date

import pytest

from tests.conftest import shared_file
from tradesig.calendar import get_calendar
from tradesig.errors import DataError
from tradesig.trade.instruments import (
    ModelledInstruments,
    load_dump,
    monthly_symbol,
    quantity_for,
    weekly_symbol,
)


@pytest.fixture(scope="module")
def dump_path():
    return shared_file("kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz")


def test_real_dump(dump_path):
    book = load_dump(dump_path)
    assert book.lot_size("NIFTY", date(2026, 8, 18)) == 65
    assert book.lot_size("BANKNIFTY", date(2026, 8, 18)) == 30
    assert book.expiries("NIFTY", date(2026, 8, 19))[:3] == [date(2026, 8, 25), date(2026, 9, 1), date(2026, 9, 8)]
    assert book.nearest_expiry("BANKNIFTY", date(2026, 8, 19)) == date(2026, 8, 25)  # monthlies only
    assert book.nearest_expiry("SENSEX", date(2026, 8, 18)) == date(2026, 8, 20)
    assert book.strike_step("NIFTY", date(2026, 8, 25)) == 50
    c = book.option("NIFTY", date(2026, 8, 18), 24000, "PE")
    assert c.tradingsymbol == "NIFTY2681824000PE" and c.exchange == "NFO" and c.lot_size == 65
    assert book.by_tradingsymbol("SENSEX2682081000CE").lot_size == 20
    with pytest.raises(DataError, match="nearest listed strikes"):
        book.option("NIFTY", date(2026, 8, 18), 24010, "PE")
    assert quantity_for(3, 65) == 195


def test_kite_naming_rule_matches_every_dump_option(dump_path):
    with gzip.open(dump_path, "rt") as fh:
        rows = [r for r in csv.DictReader(fh) if r["name"] in ("NIFTY", "BANKNIFTY", "SENSEX")
                and r["instrument_type"] in ("CE", "PE")]
    by_expiry = {}
    for r in rows:
        by_expiry.setdefault(r["name"], set()).add(date.fromisoformat(r["expiry"]))
    checked = 0
    for r in rows:
        exp = date.fromisoformat(r["expiry"])
        later = [e for e in by_expiry[r["name"]] if e > exp]
        monthly = not later or min(later).month != exp.month
        build = monthly_symbol if monthly else weekly_symbol
        assert build(r["name"], exp, float(r["strike"]), r["instrument_type"]) == r["tradingsymbol"]
        checked += 1
    assert checked > 5000


def test_historical_expiries_2024():
    cal = get_calendar()
    fn = cal.weekly_expiry  # the market calendar's dated schedule (tradesig.market.EXPIRY_WEEKDAYS)
    assert fn("NIFTY", date(2024, 1, 8)) == date(2024, 1, 11)      # Thursday in 2024
    assert fn("NIFTY", date(2024, 4, 8)) == date(2024, 4, 10)      # Id-ul-Fitr Thursday -> Wednesday
    assert fn("BANKNIFTY", date(2024, 1, 8)) == date(2024, 1, 10)  # Wednesday since Sep 2023
    assert fn("NIFTY", date(2025, 9, 2)) == date(2025, 9, 2)       # Tuesday from Sep 2025
    mi = ModelledInstruments(fn)
    assert mi.option("NIFTY", date(2024, 1, 11), 21850, "CE").tradingsymbol == "NIFTY2411121850CE"
    monthly = mi.option("NIFTY", date(2024, 3, 28), 21900, "PE")
    assert monthly.tradingsymbol == "NIFTY24MAR21900PE" and monthly.modelled
    assert mi.lot_size("NIFTY", date(2024, 3, 1)) == 50 and mi.lot_size("NIFTY", date(2024, 5, 2)) == 25

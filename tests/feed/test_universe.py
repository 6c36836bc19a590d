"""Subscription universe from the real Kite NFO/BFO instruments dump: futures roll, option chain, PCR."""

from __future__ import annotations

import csv
import gzip
from datetime import date

from tests.conftest import shared_file
from tradesig.feed.universe import build_universe, current_future, option_chain, pcr


def _dump():
    with gzip.open(shared_file("kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz"), "rt") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["expiry"] = date.fromisoformat(r["expiry"]) if r["expiry"] else None
        r["strike"] = float(r["strike"] or 0)
    return rows


def test_current_month_future_rolls_on_expiry_day():
    rows = _dump()
    futs = sorted(r["expiry"] for r in rows if r["name"] == "NIFTY" and r["instrument_type"] == "FUT")
    before = current_future(rows, "NIFTY", date(2026, 8, 18))
    assert before["expiry"] == futs[0] and before["tradingsymbol"].endswith("FUT")
    on_expiry = current_future(rows, "NIFTY", futs[0])  # expiry day: already the next month
    assert on_expiry["expiry"] == futs[1]
    sensex = current_future(rows, "SENSEX", date(2026, 8, 18))
    assert sensex["exchange"] == "BFO"


def test_chain_within_strikes_of_spot_and_universe():
    rows = _dump()
    chain = option_chain(rows, "NIFTY", date(2026, 8, 18), 24_180.0, 3, 50)
    strikes = sorted({r["strike"] for r in chain})
    assert strikes == [24_050.0, 24_100.0, 24_150.0, 24_200.0, 24_250.0, 24_300.0, 24_350.0]
    assert {r["instrument_type"] for r in chain} == {"CE", "PE"} and len({r["expiry"] for r in chain}) == 1
    uni = build_universe(rows, ["NIFTY", "BANKNIFTY"], date(2026, 8, 18), spots={"NIFTY": 24_180.0},
                         chain_strikes=3)
    assert uni.tokens[256265] == "NIFTY" and uni.tokens[260105] == "BANKNIFTY"
    assert set(uni.index_future) == {"NIFTY", "BANKNIFTY"}
    assert len(uni.options) == len(chain) and "NSE:NIFTY 50" in uni.quote_keys
    assert len(uni.all_tokens()) == 4 + len(chain)


def test_pcr_is_put_oi_over_call_oi():
    options = {1: ("NIFTY", "PE", 24000.0), 2: ("NIFTY", "CE", 24000.0), 3: ("NIFTY", "PE", 24100.0),
               4: ("BANKNIFTY", "CE", 52000.0)}
    assert pcr({1: 300, 2: 400, 3: 100, 4: 0}, options) == {"NIFTY": 1.0, "BANKNIFTY": None}

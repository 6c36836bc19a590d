"""The official kiteconnect clients against ``tradesig sim``: login, REST, orders, and ticks equal to the bars.

The sim replays the last 30 minutes of 4 June 2024 (election-result day) from the real NIFTY 50 and NIFTY BANK
1-minute files at 600x (about 3 s of wall time). The official ``KiteTicker`` runs in a subprocess
(kite_ticker_probe.py: Twisted's reactor runs once per process).
"""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
import requests
from kiteconnect import KiteConnect, KiteTicker, exceptions

from tests.conftest import shared_file
from tradesig.clock import IST
from tradesig.feed.kite_protocol import decode_frame, decode_text
from tradesig.sim import SimConfig, SimExchange

pytestmark = pytest.mark.e2e

DAY = date(2024, 6, 4)
START = time(15, 0)
PROBE = Path(__file__).with_name("kite_ticker_probe.py")


def _login(handle) -> tuple[KiteConnect, dict]:
    r = requests.get(f"{handle.rest_url}/connect/login", params={"api_key": handle.api_key, "v": 3},
                     allow_redirects=False, timeout=5)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["status"] == ["success"] and q["action"] == ["login"]
    kite = KiteConnect(handle.api_key, root=handle.rest_url)
    session = kite.generate_session(q["request_token"][0], handle.api_secret)
    return kite, session


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    frames = [pl.read_parquet(shared_file(f"intraday/{name}_1min_2024-01-01_2024-08-23.parquet"))
              for name in ("nifty50", "niftybank")]
    return pl.concat(frames).filter(pl.col("ts").dt.date() == DAY)


@pytest.fixture(scope="module")
def sim():
    files = [shared_file(f"intraday/{name}_1min_2024-01-01_2024-08-23.parquet") for name in ("nifty50", "niftybank")]
    exchange = SimExchange(SimConfig(data_files=files, day=DAY, start=START, speed=600, wait_for_client=True,
                                     rate_limits=False))
    with exchange.run_in_thread() as handle:
        yield handle


@pytest.fixture(scope="module")
def kite(sim):
    client, _ = _login(sim)
    return client


@pytest.fixture(scope="module")
def probe(sim, kite, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "ticker.pickle"
    fut = next(i for i in kite.instruments("NFO") if i["name"] == "NIFTY" and i["instrument_type"] == "FUT")
    tokens = f"256265,260105,{fut['instrument_token']}"
    proc = subprocess.run([sys.executable, str(PROBE), sim.rest_url, sim.ws_url, sim.api_key, kite.access_token,
                           str(out), "--tokens", tokens, "--mode", "full", "--place-order",
                           f"NFO:{fut['tradingsymbol']}", "--max-seconds", "60"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    with open(out, "rb") as fh:
        rec = pickle.load(fh)
    rec["future"] = fut
    return rec


# ------------------------------------------------------------------------------------------------ login & REST


def test_login_redirect_and_session_exchange(sim):
    kite, session = _login(sim)
    assert session["access_token"] and session["api_key"] == sim.api_key
    assert kite.profile()["user_id"] == session["user_id"]


def test_session_token_rejects_bad_checksum_and_reused_request_token(sim):
    r = requests.get(f"{sim.rest_url}/connect/login", params={"api_key": sim.api_key, "v": 3},
                     allow_redirects=False, timeout=5)
    rt = parse_qs(urlsplit(r.headers["location"]).query)["request_token"][0]
    kite = KiteConnect(sim.api_key, root=sim.rest_url)
    with pytest.raises(exceptions.TokenException):
        kite.generate_session(rt, "not-the-secret")
    with pytest.raises(exceptions.TokenException):  # a request token is single-use
        kite.generate_session(rt, sim.api_secret)


def test_unknown_token_is_403_token_exception(sim):
    kite = KiteConnect(sim.api_key, access_token="made-up", root=sim.rest_url)
    with pytest.raises(exceptions.TokenException) as err:
        kite.profile()
    assert err.value.code == 403


def test_instruments_have_index_rows_and_the_days_derivatives(kite):
    rows = kite.instruments()
    by_token = {r["instrument_token"]: r for r in rows}
    assert by_token[256265]["tradingsymbol"] == "NIFTY 50" and by_token[256265]["segment"] == "INDICES"
    assert by_token[260105]["tradingsymbol"] == "NIFTY BANK"
    nifty_opts = [r for r in rows if r["name"] == "NIFTY" and r["instrument_type"] in ("CE", "PE")]
    first_expiry = min(r["expiry"] for r in nifty_opts)
    assert first_expiry == date(2024, 6, 6)  # NIFTY weeklies expired on Thursdays in 2024
    assert all(r["lot_size"] == 25 for r in nifty_opts)  # NSE's NIFTY lot for contracts listed in 2024
    assert "NIFTY24JUNFUT" in {r["tradingsymbol"] for r in rows}
    strikes = {r["strike"] for r in nifty_opts if r["expiry"] == first_expiry}
    assert 23000.0 in strikes and 22000.0 in strikes  # ATM strikes of the replayed day exist


def test_quote_ltp_ohlc(kite, bars):
    nifty = bars.filter(pl.col("symbol") == "NIFTY 50").sort("ts")
    q = kite.quote("NSE:NIFTY 50")["NSE:NIFTY 50"]
    assert q["instrument_token"] == 256265
    assert q["ohlc"]["open"] == nifty["open"][0]
    assert q["ohlc"]["high"] >= nifty.filter(pl.col("ts").dt.time() < START)["high"].max()
    ltp = kite.ltp("NSE:NIFTY 50", "NFO:NIFTY24JUNFUT")
    assert set(ltp) == {"NSE:NIFTY 50", "NFO:NIFTY24JUNFUT"}
    assert ltp["NFO:NIFTY24JUNFUT"]["last_price"] > ltp["NSE:NIFTY 50"]["last_price"]  # cost of carry
    ohlc = kite.ohlc("NSE:NIFTY BANK")["NSE:NIFTY BANK"]
    assert ohlc["instrument_token"] == 260105 and ohlc["last_price"] > 0


def test_historical_candles_equal_recorded_bars(kite, bars):
    nifty = bars.filter((pl.col("symbol") == "NIFTY 50") & (pl.col("ts").dt.time() < time(10, 0))).sort("ts")
    candles = kite.historical_data(256265, "2024-06-04 09:15:00", "2024-06-04 09:59:00", "minute")
    assert len(candles) == len(nifty) == 45
    for c, row in zip(candles, nifty.iter_rows(named=True), strict=True):
        assert c["date"] == row["ts"]
        assert (c["open"], c["high"], c["low"], c["close"]) == (row["open"], row["high"], row["low"], row["close"])
        assert c["volume"] == 0  # index data has no volume: never invented
    fifteen = kite.historical_data(256265, "2024-06-04 09:15:00", "2024-06-04 09:59:00", "15minute")
    assert [c["date"].time() for c in fifteen] == [time(9, 15), time(9, 30), time(9, 45)]
    assert fifteen[0]["high"] == nifty.head(15)["high"].max() and fifteen[0]["close"] == nifty["close"][14]


def test_rejections_are_input_exceptions(kite):
    with pytest.raises(exceptions.InputException, match="market protection"):
        kite.place_order("regular", "NFO", "NIFTY24JUNFUT", "BUY", 25, "MIS", "MARKET")
    with pytest.raises(exceptions.InputException, match="multiple of the lot size"):
        kite.place_order("regular", "NFO", "NIFTY24JUNFUT", "BUY", 10, "MIS", "MARKET", market_protection=-1)
    with pytest.raises(exceptions.InputException, match="freeze"):
        kite.place_order("regular", "NFO", "NIFTY24JUNFUT", "BUY", 1825, "MIS", "LIMIT", price=21000.0)


def test_autoslice_splits_at_the_largest_legal_slice(kite):
    data = kite.place_autoslice_order("regular", "NFO", "NIFTY24JUNFUT", "BUY", 1825, "MIS", "LIMIT", price=100.0)
    children = [c["order_id"] for c in data["children"]]
    assert len(children) == 2
    qty = {o["order_id"]: o["quantity"] for o in kite.orders()}
    assert [qty[c] for c in children] == [1775, 50]  # 71 lots of 25 < freeze 1800
    for c in children:
        kite.cancel_order("regular", c)


# ------------------------------------------------------------------------------------------------------ ticker


def test_ticker_frames_decode_identically_with_official_parser_and_ours(probe):
    official = KiteTicker("k", "t")
    assert probe["connected"] and not probe["errors"]
    data_frames = [f for f in probe["frames"] if len(f) >= 2]
    assert len(data_frames) > 50
    modes = set()
    for frame in data_frames:
        theirs = official._parse_binary(frame)
        decoded = decode_frame(frame)
        assert not decoded.errors
        ours = decoded.ticks.to_dicts()
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            modes.add((a["instrument_token"] & 0xFF, a["mode"]))
            for key in ("exchange_timestamp", "last_trade_time"):
                if key in b:
                    b[key] = b[key].astimezone(UTC)  # official: naive local time; ours: aware UTC
            assert a == b
    assert {(9, "full"), (2, "full")} <= modes  # index full (indices segment 9) and NFO (segment 2) full


def test_ticks_rebuild_the_recorded_bars_exactly(probe, bars):
    per_minute: dict[tuple[int, datetime], list[float]] = defaultdict(list)
    for t in probe["ticks"]:
        if t["instrument_token"] in (256265, 260105) and t["mode"] == "full":
            ts = t["exchange_timestamp"].astimezone(IST)
            per_minute[(t["instrument_token"], ts.replace(second=0))].append(t["last_price"])
    window = bars.filter(pl.col("ts").dt.time() >= START).sort("ts")
    assert len(window) == 60  # 15:00..15:29 for two indices
    for row in window.iter_rows(named=True):
        token = 256265 if row["symbol"] == "NIFTY 50" else 260105
        prices = per_minute[(token, row["ts"])]
        assert prices, f"no ticks for {row['symbol']} {row['ts']}"
        assert (prices[0], max(prices), min(prices), prices[-1]) == \
            (row["open"], row["high"], row["low"], row["close"]), f"{row['symbol']} {row['ts']}"
    # every tick's timestamp lies strictly inside its minute
    assert all(k[1].second == 0 for k in per_minute)
    assert all(t["exchange_timestamp"].second != 0 for t in probe["ticks"]
               if t["instrument_token"] == 256265 and t["mode"] == "full"
               and t["exchange_timestamp"].astimezone(IST).time() >= START)


def test_index_packets_are_index_full_without_volume(probe):
    index_frames = [f for f in probe["frames"] if len(f) > 2]
    lengths = []
    for frame in index_frames:
        n = int.from_bytes(frame[:2], "big")
        j = 2
        for _ in range(n):
            size = int.from_bytes(frame[j:j + 2], "big")
            token = int.from_bytes(frame[j + 2:j + 6], "big")
            lengths.append((token & 0xFF == 9, size))
            j += 2 + size
    sizes = [(is_index, size) for is_index, size in lengths]
    assert (True, 32) in sizes and (False, 184) in sizes
    # index packets are index quote (28, the snapshot sent on subscribe) or index full (32): never with volume
    assert {size for is_index, size in sizes if is_index} <= {28, 32}


def test_order_placed_via_rest_arrives_as_postback(probe, sim):
    assert probe["order_id"] and probe["order_id"] != "pending"
    mine = [o for o in probe["orders"] if o["order_id"] == probe["order_id"]]
    assert [o["status"] for o in mine][-1] == "COMPLETE"
    assert "OPEN" in [o["status"] for o in mine]
    done = mine[-1]
    assert done["filled_quantity"] == probe["future"]["lot_size"] and done["average_price"] > 0
    raw = [t for t in probe["texts"] if probe["order_id"] in t]
    assert raw and decode_text(raw[-1]).type == "order"
    expected = hashlib.sha256((done["order_id"] + done["order_timestamp"] + sim.api_secret).encode()).hexdigest()
    assert done["checksum"] == expected


def test_heartbeats_only_as_single_bytes(probe):
    assert all(len(f) >= 4 or f == b"\x00" for f in probe["frames"])


def test_position_after_the_fill(kite, probe):
    fut = probe["future"]
    net = {p["tradingsymbol"]: p for p in kite.positions()["net"]}
    assert net[fut["tradingsymbol"]]["quantity"] == fut["lot_size"]
    trades = kite.order_trades(probe["order_id"])
    assert sum(t["quantity"] for t in trades) == fut["lot_size"]
    assert kite.margins("equity")["utilised"]["span"] > 0


@pytest.mark.slow
def test_whole_election_day_reaches_the_official_ticker_bar_for_bar(tmp_path):
    """The issue's "done when", at 1000x instead of 60x: all 375 NIFTY bars of 4 June 2024 (~23 s)."""
    path = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    exchange = SimExchange(SimConfig(data_files=[path], day=DAY, speed=1000, wait_for_client=True))
    with exchange.run_in_thread() as handle:
        kite, _ = _login(handle)
        out = tmp_path / "day.pickle"
        proc = subprocess.run([sys.executable, str(PROBE), handle.rest_url, handle.ws_url, handle.api_key,
                               kite.access_token, str(out), "--tokens", "256265", "--mode", "full",
                               "--max-seconds", "120"], capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    with open(out, "rb") as fh:
        rec = pickle.load(fh)
    per_minute: dict[datetime, list[float]] = defaultdict(list)
    for t in rec["ticks"]:
        if t["mode"] == "full":
            per_minute[t["exchange_timestamp"].astimezone(IST).replace(second=0)].append(t["last_price"])
    day = pl.read_parquet(path).filter(pl.col("ts").dt.date() == DAY).sort("ts")
    assert len(day) == 375
    for row in day.iter_rows(named=True):
        prices = per_minute[row["ts"]]
        assert prices and (prices[0], max(prices), min(prices), prices[-1]) == \
            (row["open"], row["high"], row["low"], row["close"]), row["ts"]

"""Options priced from real chain snapshots where a file holds the replayed day; modelled elsewhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import polars as pl
import pytest

from tests.conftest import shared_file
from tradesig.clock import IST, ManualClock
from tradesig.sim import SimConfig, SimExchange
from tradesig.sim.chain import ChainSnapshots

DAY = date(2026, 8, 18)
CHAIN = "options/nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet"


@pytest.fixture(scope="module")
def chain_df() -> pl.DataFrame:
    return pl.read_parquet(shared_file(CHAIN)).filter(pl.col("snapshot_ts").dt.date() == DAY)


@pytest.fixture(scope="module")
def spot_bars(chain_df, tmp_path_factory):
    """1-minute NIFTY bars derived from the chain file's own spot column (one flat bar per snapshot minute)."""
    spot = chain_df.group_by("snapshot_ts").agg(pl.col("spot").first()).sort("snapshot_ts")
    px = (pl.col("spot") * 100).round() / 100
    bars = spot.select(pl.col("snapshot_ts").alias("ts"), pl.lit("NIFTY 50").alias("symbol"),
                       px.alias("open"), px.alias("high"), px.alias("low"), px.alias("close"))
    path = tmp_path_factory.mktemp("chain") / "nifty_2026-08-18_from_chain_spot.parquet"
    bars.write_parquet(path)
    return path


def test_snapshots_load_for_their_day_only():
    assert ChainSnapshots.load([shared_file(CHAIN)], date(2024, 6, 4)) is None
    snaps = ChainSnapshots.load([shared_file(CHAIN)], DAY)
    assert snaps is not None and len(snaps) > 400
    key = ("NIFTY", DAY, 24100.0, "CE")
    first = snaps.quote(key, int(datetime(2026, 8, 18, 10, 43, tzinfo=IST).timestamp()))
    assert first is not None and first[0] == 125.95 and first[1] == 65231  # the file's first snapshot, verbatim
    assert snaps.quote(key, int(datetime(2026, 8, 18, 10, 0, tzinfo=IST).timestamp())) is None
    assert snaps.day_ohlc(key, int(datetime(2026, 8, 18, 15, 30, tzinfo=IST).timestamp()))["close"] > 0  # 08-17


def test_sim_quotes_real_premiums_where_the_chain_has_them(spot_bars, chain_df):
    wall = ManualClock(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    sim = SimExchange(SimConfig(data_files=[spot_bars], day=DAY, start=time(12, 0),
                                chain_files=[shared_file(CHAIN)]), wall=wall)
    now = datetime.combine(DAY, time(12, 0), IST)
    cat = sim.catalog
    ce = cat.by_key["NFO:NIFTY2681824100CE"]  # the dump's own date: expiries and strikes are not moved
    assert ce.expiry == DAY and ce.strike == 24100.0
    want = chain_df.filter((pl.col("strike") == 24100) & (pl.col("option_type") == "CE")
                           & (pl.col("expiry_date") == DAY) & (pl.col("snapshot_ts") <= now)).sort("snapshot_ts")
    last = want.row(-1, named=True)
    q = sim.market.quote(ce, now)
    assert q["last_price"] == last["ltp"] and q["oi"] == int(last["oi"]) and q["volume"] == int(last["volume"])
    assert not sim.market.is_modelled(ce, now)
    tick = sim.market.tick(ce, "full", now)
    assert tick["oi"] == int(last["oi"]) and tick["last_price"] == last["ltp"]
    far = cat.by_key["NFO:NIFTY26OCT27000CE"]  # no snapshot of October expiries in the file
    assert sim.market.is_modelled(far, now) and sim.market.quote(far, now)["oi"] == 0
    assert "real chain snapshots" in sim.state()["models"]["options"]

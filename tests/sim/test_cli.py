"""``tradesig sim``: help with the defaults, one-line errors with exit codes, fault/state against a running sim."""

from __future__ import annotations

import json
from datetime import date, time

import polars as pl

from tests.conftest import shared_file
from tradesig.sim import SimConfig, SimExchange
from tradesig.sim.data import load_bars


def test_serve_help_names_the_default_credentials(run_cli):
    code, out, _ = run_cli("sim", "serve", "--help")
    assert code == 0
    for word in ("tradesig-sim", "tradesig-sim-secret", "--data", "--speed", "--fault", "--open-access",
                 "--redirect-url", "SYNTHETIC"):
        assert word in out, word


def test_serve_refuses_a_date_the_data_lacks(run_cli):
    code, _, err = run_cli("sim", "serve", "--data", str(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23"
                                                                     ".parquet")), "--date", "2024-06-08",
                           "--port", "0")
    assert code == 2
    assert err.strip().count("\n") == 0 and "no bars on 2024-06-08" in err


def test_serve_refuses_a_bad_start(run_cli):
    code, _, err = run_cli("sim", "serve", "--start", "25:99", "--port", "0")
    assert code == 2 and "tradesig:" in err


def test_fault_and_state_commands_talk_to_a_running_sim(run_cli):
    sim = SimExchange(SimConfig(day=date(2024, 6, 4), start=time(12, 0), wait_for_client=True))
    with sim.run_in_thread() as handle:
        code, out, _ = run_cli("sim", "fault", "stall,seconds=30", "--url", handle.rest_url)
        assert code == 0 and json.loads(out)["stall"]["seconds_left"] > 0
        code, out, _ = run_cli("sim", "state", "--url", handle.rest_url)
        state = json.loads(out)
        assert code == 0 and state["synthetic"] is True and state["date"] == "2024-06-04"
        # a bad spec is a usage error (2, one line), refused before anything is sent (issue 15 item 8)
        code, _, err = run_cli("sim", "fault", "meltdown", "--url", handle.rest_url)
        assert code == 2 and "unknown fault kind" in err and len(err.strip().splitlines()) == 1
        code, _, err = run_cli("sim", "fault", "stall,seconds=-5", "--url", handle.rest_url)
        assert code == 2 and "negative" in err and len(err.strip().splitlines()) == 1
        assert "stall" in handle.state()["faults"]  # the earlier stall stands; nothing new was applied
    code, _, err = run_cli("sim", "fault", "drop", "--url", "http://127.0.0.1:9")
    assert code == 3 and "no sim answering" in err
    code, _, err = run_cli("sim", "fault", "bogus", "--url", "http://127.0.0.1:9")
    assert code == 2 and "unknown fault kind" in err  # usage, checked before any network call


def test_csv_data_loads_like_parquet(tmp_path):
    src = shared_file("intraday/niftybank_1min_2024-01-01_2024-08-23.parquet")
    df = pl.read_parquet(src).filter(pl.col("ts").dt.date() == date(2024, 6, 4))
    csv = tmp_path / "bnf.csv"
    df.with_columns(pl.col("ts").dt.replace_time_zone(None)).write_csv(csv)  # naive IST, as raw CSVs have it
    a, b = load_bars([csv]), load_bars([src])
    sa, sb = a.series[260105], b.series[260105]
    sl = sb.day_slice(date(2024, 6, 4))
    assert sa.ts.tolist() == sb.ts[sl].tolist() and sa.close.tolist() == sb.close[sl].tolist()
    assert sa.volume is None  # index data has no volume

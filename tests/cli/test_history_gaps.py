"""`tradesig history gaps`: 1m bars still partial (owed a backfill) or missing, per symbol and IST day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl

from tradesig.store.datasets import Store


def _bars(home, statuses: dict[int, str]):
    t0 = datetime(2024, 6, 4, 3, 45, tzinfo=UTC)  # 09:15 IST
    rows = [{"symbol": "NIFTY", "ts": t0 + timedelta(minutes=i), "open": 1.0, "high": 2.0, "low": 0.5,
             "close": 1.5, "status": statuses.get(i, "complete")} for i in range(375) if statuses.get(i) != "gone"]
    Store(home).write_bars(pl.DataFrame(rows), "1m", "test")


def test_lists_partial_and_missing_minutes_per_symbol_and_day(run_cli, home):
    _bars(home, {113: "partial", 114: "partial", 115: "backfilled", 200: "gone", 201: "gone", 374: "gone"})
    code, out, err = run_cli("--home", str(home), "history", "gaps", "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["symbol"] == "NIFTY" and row["date"] == "2024-06-04"
    assert row["partial"] == 2 and row["partial_minutes"] == "11:08-11:09"
    assert row["missing"] == 3 and row["missing_minutes"] == "12:35-12:36, 15:29"


def test_nothing_owed(run_cli, home):
    _bars(home, {10: "backfilled"})
    code, out, _ = run_cli("--home", str(home), "history", "gaps")
    assert code == 0 and out.strip() == "no partial or missing 1m bars"
    code, _, err = run_cli("--home", str(home), "history", "gaps", "--from", "2024-13-01")
    assert code == 2 and err.count("\n") == 1

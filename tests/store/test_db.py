"""DuckDB views over the data home; readers in other processes while an import writes (no lock, consistent)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime

import duckdb
import polars as pl
from tests_store_helpers import minute_bars

from tests.conftest import shared_file
from tradesig.clock import IST
from tradesig.store.datasets import Store
from tradesig.store.db import connect, query, write_catalog
from tradesig.store.events import EventLog


def test_views_over_every_dataset(tmp_path):
    con = connect(tmp_path)  # empty home: the views exist and are empty
    assert con.execute("select count(*) from bars").fetchone() == (0,)
    assert con.execute("select count(*) from events").fetchone() == (0,)
    store = Store(tmp_path)
    store.write_bars(pl.concat([minute_bars((2024, 1, 20), "09:15", "15:29"),
                                minute_bars((2024, 1, 20), "15:30", "15:39")]), "1m", "t")
    store.write_ticks(pl.DataFrame({"instrument_token": pl.Series([256265], dtype=pl.UInt32),
                                    "last_price": [21000.0], "recv_ts": [datetime(2024, 1, 20, 4, 0, tzinfo=UTC)]}))
    events = EventLog(tmp_path)
    events.append("signal", {"signal": "S1"}, datetime(2024, 1, 20, 4, 0, tzinfo=UTC))
    events.append("fill", {"qty": 75, "note": "a, \"quoted\"\ttab"}, datetime(2024, 1, 20, 4, 1, tzinfo=UTC))
    con = connect(tmp_path)
    assert con.execute("select interval, date, count(*), min(status) from bars group by all").fetchall() == [
        ("1m", date(2024, 1, 20), 375, "complete")]
    assert con.execute("select count(*) from bars_extended").fetchone() == (10,)
    assert con.execute("select instrument_token, last_price from ticks").fetchall() == [(256265, 21000.0)]
    ev = query(con, "select kind, ts, date, payload->>'$.note' as note from events order by ts")
    assert ev["kind"].to_list() == ["signal", "fill"] and ev["note"][1] == 'a, "quoted"\ttab'
    assert ev["ts"][0] == datetime(2024, 1, 20, 4, 0, tzinfo=UTC) and ev["date"][0] == date(2024, 1, 20)
    bars = query(con, "select * from bars where date = ? order by ts", ["2024-01-20"])
    assert bars.select(store.read_bars("NIFTY", "1m").columns).equals(store.read_bars("NIFTY", "1m"))
    # the first write of each dataset rewrote the catalog: it holds the same views, opens read-only, even twice
    path = tmp_path / "tradesig.duckdb"
    cat = duckdb.connect(str(path), read_only=True)
    assert cat.execute("select count(*) from bars_extended").fetchone() == (10,)
    assert cat.execute("select count(*) from ticks").fetchone() == (1,)
    assert cat.execute("select count(*) from events").fetchone() == (2,)
    cat.close()
    a = duckdb.connect(str(path), read_only=True)
    b = duckdb.connect(str(path), read_only=True)
    count = "select count(*) from bars"
    assert a.execute(count).fetchone() == b.execute(count).fetchone() == (375,)
    write_catalog(tmp_path)  # replaced atomically under open readers
    assert a.execute(count).fetchone() == (375,)
    # an open connection sees parts written after it was opened (the views re-glob on every query)
    store.write_bars(minute_bars((2024, 1, 22), "09:15", "09:19"), "1m", "t")
    assert con.execute(count).fetchone() == a.execute(count).fetchone() == (380,)


READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from tradesig.store.db import connect
    home, sync = Path(sys.argv[1]), Path(sys.argv[2])
    snapshots, errors = [], []
    (sync / "reader-ready").touch()
    def snap():
        con = connect(home)
        rows = con.execute("select date::varchar, count(*) from bars where symbol = 'NIFTY' group by 1").fetchall()
        con.close()
        return dict(rows)
    seen_half = False
    while True:
        done = (sync / "done").exists()
        try:
            snapshots.append(snap())
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        if not seen_half and (sync / "half").exists():
            snapshots.append(snap())
            seen_half = True
            (sync / "seen-half").touch()
        if done:
            break
    Path(sys.argv[3]).write_text(json.dumps({"snapshots": snapshots, "errors": errors}))
""")

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tradesig.history import import_files
    home, sync = Path(sys.argv[1]), Path(sys.argv[2])
    while not (sync / "reader-ready").exists():
        time.sleep(0.01)
    for r in import_files(home, [sync / "first.parquet"]):
        assert not r.error, r.error
    (sync / "half").touch()
    while not (sync / "seen-half").exists():  # the reader has read the half-imported state
        time.sleep(0.01)
    for r in import_files(home, [sync / "second.parquet"]):
        assert not r.error, r.error
    (sync / "done").touch()
""")


def test_reader_process_while_import_writes(tmp_path):
    source = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    day = pl.col("ts").dt.date()
    expected = dict(source.filter(~((pl.col("ts").dt.hour() >= 15) & (pl.col("ts").dt.minute() >= 30)
                                    | (pl.col("ts").dt.hour() >= 16)))
                    .group_by(day.cast(pl.Utf8)).len().iter_rows())
    sync = tmp_path / "sync"
    sync.mkdir()
    source.filter(pl.col("ts") < datetime(2024, 5, 1, tzinfo=IST)).write_parquet(sync / "first.parquet")
    source.filter(pl.col("ts") >= datetime(2024, 5, 1, tzinfo=IST)).write_parquet(sync / "second.parquet")
    home = tmp_path / "home"
    out = tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(home), str(sync), str(out)])
    writer = subprocess.run([sys.executable, "-c", WRITER, str(home), str(sync)], capture_output=True, text=True,
                            timeout=300)
    assert writer.returncode == 0, writer.stderr
    assert reader.wait(timeout=300) == 0
    result = json.loads(out.read_text())
    assert result["errors"] == []
    snapshots = result["snapshots"]
    assert len(snapshots) >= 2
    previous: dict[str, int] = {}
    for snap in snapshots:
        # every day is either absent or complete (parts appear whole), and nothing ever disappears
        assert all(expected[d] == n for d, n in snap.items()), snap
        assert set(previous) <= set(snap)
        previous = snap
    assert any(0 < len(s) < len(expected) for s in snapshots)  # a read happened mid-import
    assert snapshots[-1] == expected
    assert "database is locked" not in writer.stderr

"""Store and history import timings against plain polars/DuckDB on the same data, in the same process.

Run from the repository root:

    /work/venv/bin/python benchmarks/store.py            # the table in docs/benchmarks.md "## store"
    /work/venv/bin/python benchmarks/store.py --quick    # fewer repeats

Data: ../shared/data/intraday/nifty50_1min_2024-01-01_2024-08-23.parquet (58,127 1-minute bars, 156 days).

* import — ``tradesig.history.import_file`` into a fresh data home (read, validate, session split, gap report,
  dedup check, one fsync'd part per IST date) vs the reference: ``pl.read_parquet`` + one plain
  ``write_parquet`` per date (no validation, no fsync).
* read 1h/month — ``Store.read_bars("NIFTY", "1h", June 2024)`` (partition pruning + session-aligned resample
  from 1m) vs the reference: one ``pl.scan_parquet`` of the source file, filter June, hourly group-by.
* duckdb/month — ``db.connect(home)`` + a June aggregate over the ``bars`` view vs DuckDB ``read_parquet`` on
  the source file with the same aggregate.

Each figure is the best of several repeats, so that other load on the machine shows less.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    repeats = 2 if args.quick else 5

    import duckdb
    import polars as pl

    from tradesig.history import import_file
    from tradesig.store.datasets import Store
    from tradesig.store.db import connect

    source = args.data / "intraday" / "nifty50_1min_2024-01-01_2024-08-23.parquet"
    work = Path(tempfile.mkdtemp(prefix="tradesig-bench-"))
    try:
        counter = iter(range(10_000))

        def ours_import() -> None:
            report = import_file(Store(work / f"home{next(counter)}"), source)
            assert report.added == 58127

        def ref_import() -> None:
            df = pl.read_parquet(source).with_columns(pl.col("ts").dt.date().alias("d"))
            base = work / f"ref{next(counter)}"
            for (d,), part in df.partition_by("d", as_dict=True).items():
                target = base / f"date={d}"
                target.mkdir(parents=True)
                part.drop("d").write_parquet(target / "part.parquet")

        t_import, r_import = best(ours_import, repeats), best(ref_import, repeats)

        home = work / "home0"
        store = Store(home)

        def ours_read() -> None:
            assert store.read_bars("NIFTY", "1h", date(2024, 6, 1), date(2024, 6, 30)).height == 133

        minute = pl.col("ts").dt.hour().cast(pl.Int32) * 60 + pl.col("ts").dt.minute().cast(pl.Int32)

        def ref_read() -> None:
            out = (pl.scan_parquet(source).filter(pl.col("ts").dt.month() == 6).filter(minute < 930)
                   .group_by(pl.col("ts").dt.date().alias("d"), ((minute - 555) // 60).alias("slot"))
                   .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last())
                   .collect())
            assert out.height == 133

        t_read, r_read = best(ours_read, repeats * 4), best(ref_read, repeats * 4)

        sql = "SELECT CAST(ts AS DATE) AS d, min(low), max(high) FROM {src} WHERE {cond} GROUP BY 1"

        def ours_duck() -> None:
            con = connect(home)
            rows = con.execute(sql.format(src="bars", cond="symbol = 'NIFTY' AND interval = '1m' AND date "
                                          "BETWEEN '2024-06-01' AND '2024-06-30'")).fetchall()
            assert len(rows) == 19
            con.close()

        def ref_duck() -> None:
            con = duckdb.connect()
            rows = con.execute(sql.format(src=f"read_parquet('{source}')",
                                          cond="ts >= '2024-06-01' AND ts < '2024-07-01'")).fetchall()
            assert len(rows) == 19
            con.close()

        t_duck, r_duck = best(ours_duck, repeats * 2), best(ref_duck, repeats * 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {platform.machine()}, "
          f"polars {pl.__version__}, duckdb {duckdb.__version__}")
    print("| operation | tradesig | reference | ratio |")
    print("|---|---|---|---|")
    for name, ours, ref in (("import 58k 1m bars", t_import, r_import),
                            ("read_bars 1h, one month", t_read, r_read),
                            ("DuckDB June aggregate (connect + query)", t_duck, r_duck)):
        print(f"| {name} | {ours * 1000:.0f} ms | {ref * 1000:.0f} ms | {ours / ref:.2f}× |")


if __name__ == "__main__":
    main()

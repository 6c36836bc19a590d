"""DuckDB over the data home, without locks: views over the Parquet datasets and the event log.

Design ("database is locked" must not exist):

* :func:`connect` returns an **in-memory** DuckDB connection with views over ``read_parquet`` globs (hive
  partitioning ``interval=…/date=…``). No process ever holds a DuckDB database file open for writing, so
  there is nothing to lock: any number of readers run while writers add Parquet parts. Writers only ever add
  files by atomic rename (``*.parquet.tmp`` → ``*.parquet``) and never delete or rewrite them, so a reader's glob
  sees each part either whole or not at all.
* ``home/tradesig.duckdb`` is a convenience catalog for humans and other tools (``duckdb -readonly
  tradesig.duckdb``): the same view definitions with absolute paths. :func:`write_catalog` builds it in a temp
  file in the same directory and ``os.replace``s it, so an open reader keeps its old copy and is never blocked.
  Open it read-only.

Views (all timestamps TIMESTAMPTZ; set the connection's ``TimeZone`` to show IST):

* ``bars``: symbol, ts, open, high, low, close, volume, oi, status, source, interval, date — stored regular-session
  bars (1m, and whatever intervals were stored directly, e.g. the 15m BANKNIFTY history). Derived intervals are
  computed by :meth:`tradesig.store.datasets.Store.read_bars`, not stored.
* ``bars_extended``: the same columns for bars outside the regular session.
* ``ticks``: the stored tick columns plus ``date``.
* ``events``: kind, ts, date, payload (the whole JSON line, as JSON).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import polars as pl

from tradesig.store.bars import BAR_SCHEMA

_EMPTY_BARS = ("SELECT NULL::VARCHAR AS symbol, NULL::TIMESTAMPTZ AS ts, NULL::DOUBLE AS open, NULL::DOUBLE AS high,"
               " NULL::DOUBLE AS low, NULL::DOUBLE AS close, NULL::BIGINT AS volume, NULL::BIGINT AS oi,"
               " NULL::VARCHAR AS status, NULL::VARCHAR AS source, NULL::VARCHAR AS interval, NULL::DATE AS date"
               " WHERE false")
_BAR_COLUMNS = ", ".join([*BAR_SCHEMA, "source", "interval", "date"])


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _has_parts(pattern_root: Path, depth: int) -> bool:
    if not pattern_root.is_dir():
        return False
    return next(pattern_root.glob("/".join(["*"] * depth) + "/*.parquet"), None) is not None


def view_sql(home: Path | str) -> dict[str, str]:
    """``CREATE OR REPLACE VIEW`` statements (absolute paths) for bars, bars_extended, ticks and events.

    A dataset with no file yet gets an empty view of the right shape (DuckDB refuses a glob matching nothing);
    :func:`connect` re-evaluates this on every call, so new datasets appear for new connections."""
    home = Path(home).resolve()
    out = {}
    for name, root in (("bars", home / "bars"), ("bars_extended", home / "bars" / "extended")):
        if _has_parts(root, 2):
            glob = _q(root / "interval=*" / "date=*" / "*.parquet")
            body = (f"SELECT {_BAR_COLUMNS} FROM read_parquet({glob}, hive_partitioning = true, union_by_name = true,"
                    " hive_types = {'interval': VARCHAR, 'date': DATE})")
        else:
            body = _EMPTY_BARS
        out[name] = f"CREATE OR REPLACE VIEW {name} AS {body}"
    ticks = home / "ticks"
    if _has_parts(ticks, 1):
        glob = _q(ticks / "date=*" / "*.parquet")
        out["ticks"] = (f"CREATE OR REPLACE VIEW ticks AS SELECT * FROM read_parquet({glob}, hive_partitioning = true,"
                        " union_by_name = true, hive_types = {'date': DATE})")
    else:
        out["ticks"] = ("CREATE OR REPLACE VIEW ticks AS SELECT NULL::UINTEGER AS instrument_token,"
                        " NULL::DOUBLE AS last_price, NULL::TIMESTAMPTZ AS recv_ts, NULL::DATE AS date WHERE false")
    events = home / "events"
    if events.is_dir() and next(events.glob("*.jsonl"), None) is not None:
        glob = _q(events / "*.jsonl")
        # each line as text: payload fields vary by kind; torn/invalid lines are dropped (json_valid)
        out["events"] = (
            "CREATE OR REPLACE VIEW events AS SELECT json_extract_string(line, '$.kind') AS kind,"
            " CAST(json_extract_string(line, '$.ts') AS TIMESTAMPTZ) AS ts,"
            " CAST(regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})\\.jsonl$', 1) AS DATE) AS date,"
            " CAST(line AS JSON) AS payload"
            f" FROM (SELECT column0 AS line, filename FROM read_csv({glob}, columns = {{'column0': 'VARCHAR'}},"
            " header = false, delim = '\\x01', quote = '', escape = '', filename = true,"
            " auto_detect = false, strict_mode = false, null_padding = true))"
            " WHERE line IS NOT NULL AND json_valid(line)"
        )
    else:
        out["events"] = ("CREATE OR REPLACE VIEW events AS SELECT NULL::VARCHAR AS kind, NULL::TIMESTAMPTZ AS ts,"
                         " NULL::DATE AS date, NULL::JSON AS payload WHERE false")
    return out


def connect(home: Path | str, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views ``bars``, ``bars_extended``, ``ticks`` and ``events``.

    Never opens ``tradesig.duckdb``, so it never blocks, and is never blocked by, a writer or another reader.
    ``read_only``: kept for the contract; the connection is private and in-memory either way (tables created on
    it vanish when it closes). Session time zone is UTC; ``SET TimeZone = 'Asia/Kolkata'`` to display IST."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for statement in view_sql(home).values():
        con.execute(statement)
    return con


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run ``sql`` and return a polars DataFrame (TIMESTAMPTZ columns come back as ``Datetime("us", "UTC")``,
    DATE as Date, NULLs as nulls).

    Use this (or SQL casts such as ``epoch_us(ts)``) rather than ``fetchall()`` on timestamp columns: DuckDB needs
    pytz to build aware Python datetimes and pyarrow for ``.pl()``, neither of which tradesig depends on."""
    import numpy as np

    cursor = con.execute(sql, params or [])
    kinds = {d[0]: str(d[1]).upper() for d in cursor.description or []}
    data = cursor.fetchnumpy()
    columns = []
    for name, values in data.items():
        mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else None
        raw = values.data if isinstance(values, np.ma.MaskedArray) else values
        series = pl.Series(name, raw)
        if mask is not None and mask.any():
            series = pl.select(pl.when(pl.Series(mask)).then(None).otherwise(series).alias(name)).to_series()
        kind = kinds.get(name, "")
        if "WITH TIME ZONE" in kind or kind == "TIMESTAMPTZ":
            series = series.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        elif kind == "DATE":
            series = series.cast(pl.Date)
        columns.append(series)
    return pl.DataFrame(columns)


def write_catalog(home: Path | str) -> Path:
    """Rewrite ``home/tradesig.duckdb`` with the current view definitions (temp file + ``os.replace``)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "tradesig.duckdb"
    tmp = home / f".tradesig.duckdb.{uuid.uuid4().hex[:8]}.tmp"
    try:
        con = duckdb.connect(str(tmp))
        try:
            for statement in view_sql(home).values():
                con.execute(statement)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            if leftover.exists():
                leftover.unlink()
    return target


__all__ = ["connect", "query", "write_catalog", "view_sql"]

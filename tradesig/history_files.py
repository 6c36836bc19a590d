"""Reading recorded OHLC files (CSV, CSV.gz, Parquet) into one typed frame for :mod:`tradesig.history` to
validate; the accepted layouts are described in that module's docstring. Nothing is rejected here: a field that
does not parse is recorded in ``_problem`` with the row's line number in ``_line``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

from tradesig.errors import DataError

_PRICE = ("open", "high", "low", "close")
_ALIASES = {
    "instrument": "symbol", "symbol": "symbol", "ticker": "symbol", "tradingsymbol": "symbol", "name": "symbol",
    "date": "date", "day": "date", "time": "time",
    "ts": "ts", "datetime": "ts", "timestamp": "ts", "date_time": "ts",
    "open": "open", "o": "open", "high": "high", "h": "high", "low": "low", "l": "low", "close": "close",
    "c": "close", "volume": "volume", "vol": "volume", "v": "volume",
    "oi": "oi", "open_interest": "oi", "openinterest": "oi",
}


def _norm(name: str) -> str:
    import re

    name = re.sub(r"\(.*?\)", "", name).strip().strip('"').strip().lower()
    return re.sub(r"[\s-]+", "_", name)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})", "convert the file to UTF-8 CSV") from None


def read_csv_rows(path: Path) -> pl.DataFrame:
    """Parse a CSV into string columns (canonical names) plus ``_line`` and ``_problem`` (field-count errors).

    Raises DataError when the file is empty or its columns cannot be identified."""
    text = _read_text(path)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file")
    first = [f.strip().strip('"') for f in lines[0].split(",")]
    headerless = len(first) >= 7 and first[1].isdigit()
    if headerless:
        names = ["symbol", "date", "time", "open", "high", "low", "close", "volume", "oi"][: len(first)]
        body, offset = lines, 1
    else:
        names = []
        for f in first:
            key = _ALIASES.get(_norm(f))
            names.append(key if key and key not in names else f"_ignored_{len(names)}")
        body, offset = lines[1:], 2
    have = set(names)
    if not {"open", "high", "low", "close"} <= have or not ("ts" in have or "date" in have):
        raise DataError(f"{path}: cannot identify the columns {first}",
                        "expected a header with date,time (or ts),open,high,low,close[,volume,oi]")
    n = len(names)
    df = pl.DataFrame({"_raw": pl.Series(body, dtype=pl.Utf8)}).with_row_index("_line", offset=offset)
    df = df.with_columns(_line=pl.col("_line").cast(pl.Int64)).filter(pl.col("_raw").str.strip_chars() != "")
    fields = pl.col("_raw").str.split(",")
    df = df.with_columns(
        pl.when(fields.list.len() != n)
        .then(pl.format("expected {} fields, got {}", pl.lit(n), fields.list.len()))
        .alias("_problem"),
        *[fields.list.get(i, null_on_oob=True).str.strip_chars().str.strip_chars('"').alias(name)
          for i, name in enumerate(names) if not name.startswith("_ignored_")],
    )
    return df.drop("_raw")


def _parse_ts_strings(df: pl.DataFrame) -> pl.Expr:
    """Expression giving a naive datetime (IST wall time) from date/time or ts string columns."""
    if "ts" in df.columns or "time" not in df.columns:
        s = pl.col("ts" if "ts" in df.columns else "date")
        aware = pl.coalesce(
            s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us"),
            s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_unit="us"),
            s.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_unit="us"),
            s.str.to_datetime("%Y-%m-%d %H:%M:%S%z", strict=False, time_unit="us"),
            s.str.to_datetime("%Y-%m-%dT%H:%M%z", strict=False, time_unit="us"),
        ).dt.convert_time_zone("Asia/Kolkata").dt.replace_time_zone(None)
        naive = pl.coalesce(*[s.str.to_datetime(f, strict=False, time_unit="us") for f in (
            "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y%m%d %H:%M:%S",
            "%Y%m%d %H:%M", "%Y-%m-%d %H:%M:%S%.f")])
        day_only = pl.coalesce(*[s.str.to_date(f, strict=False) for f in ("%Y-%m-%d", "%Y%m%d", "%d-%m-%Y")])
        return pl.coalesce(aware, naive, day_only.cast(pl.Datetime("us")))
    d = pl.coalesce(pl.col("date").str.to_date("%Y%m%d", strict=False),
                    pl.col("date").str.to_date("%Y-%m-%d", strict=False),
                    pl.col("date").str.to_date("%d-%m-%Y", strict=False))
    t = pl.coalesce(pl.col("time").str.to_time("%H:%M:%S", strict=False),
                    pl.col("time").str.to_time("%H:%M", strict=False))
    return d.dt.combine(t, time_unit="us")


def _typed_from_strings(df: pl.DataFrame, path: Path) -> pl.DataFrame:
    """String columns → typed columns, recording the first parse problem of each row in ``_problem``."""
    out = df.with_columns(_parse_ts_strings(df).alias("_ts"))
    checks: list[tuple[str, pl.Expr]] = []
    cols = []
    for name in _PRICE:
        cols.append(pl.col(name).cast(pl.Float64, strict=False).alias(f"_{name}"))
    for name in ("volume", "oi"):
        if name in df.columns:
            cols.append(pl.col(name).cast(pl.Float64, strict=False).alias(f"_{name}"))
    out = out.with_columns(cols)
    when_col = "ts" if "ts" in df.columns else "date"
    checks.append((f"bad date/time {when_col}", pl.col("_ts").is_null()))
    for name in _PRICE:
        checks.append((f"bad {name}", pl.col(f"_{name}").is_null()))
    for name in ("volume", "oi"):
        if name in df.columns:
            bad = (pl.col(name).is_not_null() & (pl.col(name) != "")
                   & (pl.col(f"_{name}").is_null() | (pl.col(f"_{name}") != pl.col(f"_{name}").round(0))))
            checks.append((f"bad {name}", bad))
    problem = pl.col("_problem")
    for message, cond in checks:
        problem = pl.when(problem.is_not_null()).then(problem).when(cond).then(pl.lit(message)).otherwise(None)
    out = out.with_columns(problem.alias("_problem"))
    select = [
        pl.col("_line"),
        (pl.col("symbol") if "symbol" in df.columns else pl.lit(None, dtype=pl.Utf8)).alias("symbol"),
        pl.col("_ts").dt.replace_time_zone("Asia/Kolkata", ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC").alias("ts"),
        *[pl.col(f"_{n}").alias(n) for n in _PRICE],
        *[(pl.col(f"_{n}").cast(pl.Int64, strict=False) if n in df.columns else pl.lit(None, dtype=pl.Int64))
          .alias(n) for n in ("volume", "oi")],
        pl.col("_problem"),
    ]
    raw_cols = [c for c in (*_PRICE, "ts", "date", "time", "volume", "oi") if c in df.columns]
    return out.select(select + [pl.col(c).alias(f"_raw_{c}") for c in raw_cols])


def read_parquet_rows(path: Path) -> pl.DataFrame:
    """Read an OHLC Parquet file into the typed import frame (``_line`` = 1-based row number)."""
    try:
        df = pl.read_parquet(path)
    except Exception as exc:  # polars raises several unrelated exception types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    rename = {}
    for c in df.columns:
        key = _ALIASES.get(_norm(c))
        if key and key not in rename.values():
            rename[c] = key
    df = df.rename(rename).select(list(rename.values()))
    if not {"open", "high", "low", "close"} <= set(df.columns) or "ts" not in df.columns:
        raise DataError(f"{path}: needs columns ts, open, high, low, close (has {list(rename.values())})")
    dtype = df.schema["ts"]
    if isinstance(dtype, pl.Datetime):
        ts = pl.col("ts").dt.cast_time_unit("us")
        ts = (ts.dt.replace_time_zone("Asia/Kolkata") if dtype.time_zone is None else ts).dt.convert_time_zone("UTC")
    elif dtype == pl.Date:
        ts = pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("Asia/Kolkata").dt.convert_time_zone("UTC")
    else:
        raise DataError(f"{path}: column ts has type {dtype}, expected a datetime")
    problem: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for name in reversed(("ts", *_PRICE)):
        problem = pl.when(pl.col(name).is_null()).then(pl.lit(f"missing {name}")).otherwise(problem)
    prices = []
    for name in _PRICE:
        if not df.schema[name].is_numeric():
            raise DataError(f"{path}: column {name} has type {df.schema[name]}, expected numbers")
        prices.append(pl.col(name).cast(pl.Float64))
    return df.with_row_index("_line", offset=1).select(
        pl.col("_line").cast(pl.Int64),
        (pl.col("symbol").cast(pl.Utf8) if "symbol" in df.columns else pl.lit(None, dtype=pl.Utf8)).alias("symbol"),
        ts.alias("ts"), *prices,
        *[(pl.col(n).cast(pl.Int64, strict=False) if n in df.columns else pl.lit(None, dtype=pl.Int64)).alias(n)
          for n in ("volume", "oi")],
        problem.alias("_problem"),
    )


def read_ohlc_file(path: Path | str) -> pl.DataFrame:
    """Typed rows of a CSV/Parquet OHLC file: _line, symbol, ts (UTC), open..close, volume, oi, _problem.

    Raises DataError when the file cannot be read or its columns cannot be identified."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1" or path.suffix == ".parquet":
        return read_parquet_rows(path)
    return _typed_from_strings(read_csv_rows(path), path)


__all__ = ["read_ohlc_file", "read_csv_rows", "read_parquet_rows"]

"""Import recorded OHLC files as bars (validated, reported) and show stored bars.

Accepted inputs (``.csv``, ``.csv.gz``, ``.txt``, ``.parquet``):

* CSV with a header naming the columns (case-insensitive; text in parentheses ignored, so
  ``Date(YYYYMMDD)`` is ``date``): a symbol column (``instrument``/``symbol``/``ticker``/``name``, optional when
  ``symbol=`` is given), either ``date`` + ``time`` or one ``ts``/``datetime``/``timestamp`` column, ``open``,
  ``high``, ``low``, ``close``, optionally ``volume`` and ``oi``/``open_interest``. Without a header the columns
  are positional: ``SYM,YYYYMMDD,HH:MM,O,H,L,C[,V[,OI]]`` (the common vendor layout).
  Dates ``YYYYMMDD`` or ``YYYY-MM-DD``; times ``HH:MM[:SS]``; naive times are IST.
* Parquet with ``ts`` (tz-aware, or naive = IST), ``symbol`` (optional with ``symbol=``), open/high/low/close
  and optional volume/oi (e.g. the 1-min and 15-min files of ../shared/data/intraday).

Validation (every rejected row is counted by reason and listed with file and line, the first
:data:`MAX_EXAMPLES`; nothing is silently "fixed"):

* ``parse``: a field that does not parse (bad number, bad date/time, wrong number of CSV fields);
* ``price``: a price that is not a finite number (``nan``, ``inf``), ≤ 0, or above :data:`MAX_PRICE` (``1e308``);
* ``ohlc``: high < low, or open/close outside [low, high];
* ``circuit``: high or low further than the circuit band (``circuit_band_pct``, default 20 %) from the previous
  bar's close of the same symbol. 20 % is the widest index-based market-wide circuit breaker: a 10/15/20 % move of
  NIFTY 50 or SENSEX from the previous day's close halts all equity and equity-derivative trading, at 20 % for the
  rest of the day (SEBI circulars SMDRPD/Policy/Cir-37/2001 of 2001-06-28 and CIR/MRD/DP/25/2013 of 2013-09-03), so
  a real bar of those indices cannot move further from the previous close. NIFTY BANK has no breaker of its own;
  its widest move in ../shared/data is 15.4 %, NIFTY's 19.4 % (2009-05-18). Pass a wider band (or 0 to turn it
  off) for instruments without that limit, e.g. option premiums;
* ``misaligned``: a bar start not on the interval's 09:15-anchored grid (or with seconds);
* ``conflicting duplicate``: the same (symbol, ts) more than once with different values — all copies rejected.
  Exact repeats are dropped after the first and counted as ``duplicates``.

Policy: a file with any rejected row is rejected whole — nothing of it is stored — and its bad lines are listed
(:class:`RejectedFile`, exit 2), unless the caller passes ``skip_bad_rows`` (``--skip-bad-rows``): then the valid
rows are stored and each rejected one leaves a reported gap (a vendor file with a few inconsistent bars, like the
real NIFTY BANK 15-minute file, is imported that way).

Reported but stored: bars outside the regular session (e.g. the 2024-01-20 post-close flat bars 15:30–18:16)
go to the separate ``bars/extended/`` dataset (docs/data-layout.md) and never enter regular or derived bars;
gaps (regular-session slots with no bar) are counted per day. Rows already stored are not added again.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tradesig.errors import DataError
from tradesig.history_files import _PRICE, read_ohlc_file
from tradesig.store.bars import ANCHOR_MINUTE, INTERVALS, conform, interval_minutes, session_breaks, with_session

log = logging.getLogger(__name__)

MAX_EXAMPLES = 20
#: rupees; no index or instrument tradesig imports is near it, so a larger price is a corrupt value (1e308, …)
MAX_PRICE = 10_000_000.0
#: default circuit band, % of the previous bar's close (SEBI's widest index circuit breaker, see the docstring)
CIRCUIT_BAND_PCT = 20.0
MAX_DAYS_LISTED = 10
@dataclass
class Problem:
    """One rejected row (or a file-level problem when ``line`` is None). ``line``: CSV line number (the header is
    line 1) or Parquet row number (1-based)."""

    file: str
    line: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.kind}: {self.message}"


@dataclass
class DayCount:
    """Rows (or missing slots) of one IST date, with the first/last IST times involved (HH:MM)."""

    date: date
    count: int
    first: str
    last: str
    ranges: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What importing one file did. Counts are rows; ``added`` = new rows stored (regular + outside session)."""

    file: str
    interval: str = ""
    symbols: list[str] = field(default_factory=list)
    rows: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    accepted: int = 0
    outside_session: int = 0
    outside_session_days: list[DayCount] = field(default_factory=list)
    missing_bars: int = 0
    gap_days: int = 0
    gaps: list[DayCount] = field(default_factory=list)
    days: int = 0
    first: datetime | None = None
    last: datetime | None = None
    added: int = 0
    already_stored: int = 0
    seconds: float = 0.0
    examples: list[Problem] = field(default_factory=list)
    error: str | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected_total"] = self.rejected_total
        data["examples"] = [str(p) for p in self.examples]
        return data

    def summary(self) -> str:
        """Human-readable multi-line summary (times IST)."""
        if self.error:
            return f"{self.file}: UNUSABLE: {self.error}"
        from tradesig.clock import IST

        span = ""
        if self.first and self.last:
            span = (f" {self.first.astimezone(IST):%Y-%m-%d %H:%M} → {self.last.astimezone(IST):%Y-%m-%d %H:%M} IST,"
                    f" {self.days} days")
        lines = [
            f"{self.file}: {','.join(self.symbols)} {self.interval},{span}",
            f"  rows read {self.rows}; accepted {self.accepted}; added {self.added}"
            f" (already stored {self.already_stored}); {self.seconds:.2f} s",
            f"  rejected {self.rejected_total}"
            + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) + ")" if self.rejected else "")
            + f"; exact duplicates dropped {self.duplicates}",
        ]
        if self.outside_session:
            lines.append(f"  outside the regular session: {self.outside_session} bars on "
                         f"{len(self.outside_session_days)} day(s) "
                         "(stored apart in bars/extended, not in regular bars)")
            lines += [f"    {d.date} {d.first}–{d.last} IST: {d.count} bars"
                      for d in self.outside_session_days[:MAX_DAYS_LISTED]]
            if len(self.outside_session_days) > MAX_DAYS_LISTED:
                lines.append(f"    … {len(self.outside_session_days) - MAX_DAYS_LISTED} more days")
        if self.missing_bars:
            lines.append(f"  gaps: {self.missing_bars} missing {self.interval} bars on {self.gap_days} days")
            for d in self.gaps[:MAX_DAYS_LISTED]:
                more = " …" if len(d.ranges) > 4 else ""
                lines.append(f"    {d.date}: {d.count} missing ({', '.join(d.ranges[:4])}{more} IST)")
            if self.gap_days > MAX_DAYS_LISTED:
                lines.append(f"    … {self.gap_days - MAX_DAYS_LISTED} more days")
        else:
            lines.append("  gaps: none")
        lines += [f"  {p}" for p in self.examples]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- validation
def infer_interval(df: pl.DataFrame) -> str | None:
    """The interval whose length is the most common spacing of consecutive bars within a day, or None."""
    if df.height < 2:
        return None
    spacing = (
        df.select("symbol", "ts").drop_nulls().sort("symbol", "ts")
        .with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("_d"))
        .with_columns(pl.col("ts").diff().over("symbol", "_d").dt.total_minutes().alias("_gap"))
        .filter(pl.col("_gap") > 0)
    )
    if spacing.is_empty():
        days = df.select(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().n_unique()).item()
        return "1d" if days == df.height else None
    mode = spacing.get_column("_gap").mode().sort()[0]
    for interval in INTERVALS:
        if interval_minutes(interval) == mode:
            return interval
    return "1d" if mode >= 24 * 60 else None


def _day_counts(df: pl.DataFrame, minute_col: str = "_minute") -> list[DayCount]:
    if df.is_empty():
        return []
    grouped = df.group_by("_date").agg(pl.len().alias("n"), pl.col(minute_col).min().alias("a"),
                                       pl.col(minute_col).max().alias("b")).sort("_date")
    return [DayCount(d, n, _hm(a), _hm(b)) for d, n, a, b in grouped.iter_rows()]


def _gaps(accepted: pl.DataFrame, interval: str) -> tuple[int, list[DayCount]]:
    """Missing regular-session slots per (symbol, IST date) present in ``accepted`` (already session-marked)."""
    if interval == "1d" or accepted.is_empty():
        return 0, []
    step = interval_minutes(interval)
    inside = accepted.filter(pl.col("_in_session"))
    if inside.is_empty():
        return 0, []
    per_day = inside.group_by("symbol", "_date").agg(
        pl.col("_minute"), pl.col("_open").first(), pl.col("_close").first())
    total = 0
    days: list[DayCount] = []
    for _symbol, day, minutes, open_m, close_m in per_day.sort("_date", "symbol").iter_rows():
        first_slot = ANCHOR_MINUTE + ((open_m - ANCHOR_MINUTE) // step) * step
        expected = {m for m in range(first_slot, close_m, step)
                    if not any(a <= m and m + step <= b for a, b in session_breaks(day))}
        missing = sorted(expected - set(minutes))
        if missing:
            total += len(missing)
            runs = _runs(missing, step)
            a, b = missing[0], missing[-1]
            days.append(DayCount(day, len(missing), _hm(a), _hm(b + step - 1), runs))
    return total, days


def _hm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _runs(slots: list[int], step: int) -> list[str]:
    """Consecutive missing slots as 'HH:MM–HH:MM' ranges (inclusive minute labels)."""
    out: list[str] = []
    start = prev = slots[0]
    for s in slots[1:] + [None]:  # type: ignore[list-item]
        if s is not None and s == prev + step:
            prev = s
            continue
        out.append(f"{_hm(start)}–{_hm(prev + step - 1)}" if prev + step - 1 != start else _hm(start))
        if s is not None:
            start = prev = s
    return out


def _mark_circuit_jumps(df: pl.DataFrame, band_pct: float) -> pl.DataFrame:
    """Set ``_kind = "circuit"`` on rows (not already rejected) whose high or low is more than ``band_pct`` % from
    the close of the symbol's previous such row (by time); ``_prev_line``/``_prev_close`` say which. 0: off."""
    df = df.with_columns(pl.lit(None, dtype=pl.Int64).alias("_prev_line"),
                         pl.lit(None, dtype=pl.Float64).alias("_prev_close"))
    if band_pct <= 0:
        return df
    ok = df.filter(pl.col("_kind").is_null()).sort("symbol", "ts")
    prev = ok.select(
        "_line", pl.col("_line").shift(1).over("symbol").alias("_pl"), pl.col("close").shift(1).over("symbol")
        .alias("_pc"), "high", "low")
    band = band_pct / 100
    jumps = prev.filter(((pl.col("high") / pl.col("_pc") - 1).abs() > band)
                        | ((pl.col("low") / pl.col("_pc") - 1).abs() > band)).select("_line", "_pl", "_pc")
    if jumps.is_empty():
        return df
    return (df.join(jumps, on="_line", how="left")
            .with_columns(pl.when(pl.col("_pl").is_not_null()).then(pl.lit("circuit")).otherwise(pl.col("_kind"))
                          .alias("_kind"), pl.col("_pl").alias("_prev_line"), pl.col("_pc").alias("_prev_close"))
            .drop("_pl", "_pc").sort("_line"))


def validate(rows: pl.DataFrame, interval: str, file: str, report: ImportReport, *,
             circuit_band_pct: float = CIRCUIT_BAND_PCT) -> pl.DataFrame:
    """Apply the checks of the module docstring; fill ``report``; return the accepted rows (BAR_SCHEMA + status).

    ``rows``: the typed frame of :func:`read_ohlc_file` with symbols already set. ``circuit_band_pct``: % of the
    previous bar's close (0: no circuit check)."""
    step = interval_minutes(interval)
    df = rows
    if interval == "1d":  # a daily bar is labelled 09:15 IST of its date, whatever the source wrote
        local_day = pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date()
        df = df.with_columns((local_day.cast(pl.Datetime("us")) + pl.duration(minutes=ANCHOR_MINUTE))
                             .dt.replace_time_zone("Asia/Kolkata").dt.convert_time_zone("UTC").alias("ts"))
    local = pl.col("ts").dt.convert_time_zone("Asia/Kolkata")
    minute = local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)
    price_bad = pl.any_horizontal(*[~pl.col(c).is_finite() | (pl.col(c) <= 0) | (pl.col(c) > MAX_PRICE)
                                    for c in _PRICE])
    ohlc_bad = ((pl.col("high") < pl.col("low")) | (pl.col("high") < pl.max_horizontal("open", "close"))
                | (pl.col("low") > pl.min_horizontal("open", "close")))
    misaligned = (((minute - ANCHOR_MINUTE) % step != 0) | (local.dt.second() != 0) | (local.dt.microsecond() != 0)
                  if interval != "1d" else pl.lit(False))
    df = df.with_columns(
        pl.when(pl.col("_problem").is_not_null()).then(pl.lit("parse"))
        .when(price_bad).then(pl.lit("price"))
        .when(ohlc_bad).then(pl.lit("ohlc"))
        .when(misaligned).then(pl.lit("misaligned"))
        .otherwise(None).alias("_kind"))
    df = _mark_circuit_jumps(df, circuit_band_pct)
    # duplicates among otherwise valid rows
    valid = df.filter(pl.col("_kind").is_null())
    value_cols = ["open", "high", "low", "close", "volume", "oi"]
    dup_stats = valid.group_by("symbol", "ts").agg(
        pl.len().alias("_copies"), pl.struct(value_cols).n_unique().alias("_variants"))
    conflicting = dup_stats.filter(pl.col("_variants") > 1).select("symbol", "ts")
    report.duplicates = int(dup_stats.filter(pl.col("_variants") == 1)
                            .select((pl.col("_copies") - 1).sum()).item() or 0)
    if not conflicting.is_empty():
        df = df.join(conflicting.with_columns(pl.lit(True).alias("_conflict")), on=["symbol", "ts"], how="left")
        df = df.with_columns(pl.when(pl.col("_kind").is_null() & pl.col("_conflict").fill_null(False))
                             .then(pl.lit("conflicting duplicate")).otherwise(pl.col("_kind")).alias("_kind"))
    bad = df.filter(pl.col("_kind").is_not_null())
    report.rejected = dict(bad.group_by("_kind").len().iter_rows())
    report.examples = [_problem(file, row) for row in bad.head(MAX_EXAMPLES).iter_rows(named=True)]
    accepted = (df.filter(pl.col("_kind").is_null()).unique(subset=["symbol", "ts"], keep="first",
                                                            maintain_order=True))
    accepted = conform(accepted.select("symbol", "ts", *value_cols))
    report.accepted = accepted.height
    if accepted.is_empty():
        return accepted
    marked = with_session(accepted, interval)
    outside = marked.filter(~pl.col("_in_session"))
    report.outside_session = outside.height
    report.outside_session_days = _day_counts(outside)
    report.missing_bars, report.gaps = _gaps(marked, interval)
    report.gap_days = len(report.gaps)
    report.days = marked.select(pl.col("_date").n_unique()).item()
    report.first, report.last = accepted["ts"].min(), accepted["ts"].max()
    report.symbols = sorted(accepted["symbol"].unique().to_list())
    return accepted


def _problem(file: str, row: dict[str, Any]) -> Problem:
    kind = row["_kind"]
    if kind == "parse":
        detail = row["_problem"]
        name = detail.split()[-1] if detail.startswith(("bad ", "missing ")) else None
        raw = row.get(f"_raw_{name}") if name else None
        if name == "date/time":
            raw = " ".join(str(row.get(f"_raw_{c}")) for c in ("ts", "date", "time") if row.get(f"_raw_{c}"))
        message = f"{detail}: {raw!r}" if raw is not None else detail
    elif kind in ("ohlc", "price"):
        message = f"open {row['open']} high {row['high']} low {row['low']} close {row['close']}"
    elif kind == "circuit":
        message = (f"high {row['high']} low {row['low']}: beyond the circuit band from the previous bar's close "
                   f"{row['_prev_close']} (line {row['_prev_line']})")
    else:
        message = f"{row['symbol']} {row['ts']:%Y-%m-%d %H:%M:%S} UTC" if row.get("ts") else ""
    return Problem(file, row["_line"], kind, message)


# ---------------------------------------------------------------------------------------------------- import
class RejectedFile(DataError):
    """A file with rejected rows, of which nothing was stored (exit 2). ``report`` lists the bad lines (the first
    :data:`MAX_EXAMPLES` in ``report.examples``; ``details`` repeats them for the CLI, one per line)."""

    def __init__(self, report: ImportReport) -> None:
        shown = len(report.examples)
        more = f", the first {shown} listed" if report.rejected_total > shown else ""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items()))
        super().__init__(f"{report.file}: {report.rejected_total} bad row(s) ({kinds}){more}; nothing imported",
                         "fix the file, or pass --skip-bad-rows to store only its valid rows")
        self.report = report
        self.details = tuple(str(p) for p in report.examples)


def import_file(store: Any, path: Path | str, *, symbol: str | None = None, interval: str | None = None,
                source: str | None = None, circuit_band_pct: float = CIRCUIT_BAND_PCT,
                skip_bad_rows: bool = False) -> ImportReport:
    """Validate one file and write its accepted bars to ``store`` (a :class:`tradesig.store.datasets.Store`).

    ``symbol`` overrides the file's symbol column (e.g. the raw BNF file, which says NIFTY but is NIFTY BANK);
    ``interval`` overrides the inferred bar interval; ``circuit_band_pct`` is the widest allowed move from the
    previous bar's close, % (0: unchecked). Raises :class:`RejectedFile` when any row is rejected and
    ``skip_bad_rows`` is false (nothing stored); DataError when the file is unusable (unreadable, unknown columns,
    no symbol, interval unknown, or no valid row)."""
    from tradesig.store.datasets import _symbol_key

    if not (math.isfinite(circuit_band_pct) and circuit_band_pct >= 0):
        raise DataError(f"circuit band {circuit_band_pct} %: must be a finite percentage ≥ 0 (0 turns it off)")
    started = time.perf_counter()
    path = Path(path)
    report = ImportReport(file=str(path))
    rows = read_ohlc_file(path)
    report.rows = rows.height
    if rows.is_empty():
        raise DataError(f"{path}: no rows")
    if symbol:
        rows = rows.with_columns(pl.lit(_symbol_key(symbol)).alias("symbol"))
    else:
        if rows["symbol"].null_count() == rows.height:
            raise DataError(f"{path}: the file names no symbol", "pass --symbol")
        names = rows["symbol"].drop_nulls().unique().to_list()
        rows = rows.with_columns(pl.col("symbol").replace_strict({n: _symbol_key(n) for n in names},
                                                                  default=None, return_dtype=pl.Utf8))
        rows = rows.with_columns(pl.when(pl.col("symbol").is_null() & pl.col("_problem").is_null())
                                 .then(pl.lit("missing symbol")).otherwise(pl.col("_problem")).alias("_problem"))
    if interval is None:
        interval = infer_interval(rows.filter(pl.col("_problem").is_null()))
        if interval is None:
            raise DataError(f"{path}: cannot infer the bar interval", f"pass --interval ({', '.join(INTERVALS)})")
    else:
        interval_minutes(interval)
    report.interval = interval
    accepted = validate(rows, interval, str(path), report, circuit_band_pct=circuit_band_pct)
    if report.rejected_total and not skip_bad_rows:
        raise RejectedFile(report)
    if accepted.is_empty():
        raise DataError(f"{path}: no valid rows ({report.rejected_total} rejected; first: "
                        f"{report.examples[0] if report.examples else '-'})")
    report.added = store.write_bars(accepted, interval, source or f"import:{path.name}")
    report.already_stored = report.accepted - report.added
    report.seconds = time.perf_counter() - started
    log.info("imported %s: %d rows added, %d rejected", path, report.added, report.rejected_total)
    return report


def import_files(home: Path | str, paths: list[Path | str], *, symbol: str | None = None,
                 interval: str | None = None, circuit_band_pct: float = CIRCUIT_BAND_PCT,
                 skip_bad_rows: bool = False) -> list[ImportReport]:
    """Import each file into the data ``home`` (see :func:`import_file`); a file that is unusable or rejected
    gets a report with ``error`` set (its bad lines in ``examples``) instead of stopping the others. Refreshes the
    DuckDB catalog afterwards."""
    from tradesig.store.datasets import Store

    store = Store(home)
    reports = []
    for path in paths:
        try:
            reports.append(import_file(store, path, symbol=symbol, interval=interval,
                                       circuit_band_pct=circuit_band_pct, skip_bad_rows=skip_bad_rows))
        except RejectedFile as exc:
            exc.report.error = str(exc)
            reports.append(exc.report)
        except DataError as exc:
            reports.append(ImportReport(file=str(path), error=str(exc)))
    if any(r.added for r in reports):
        from tradesig.store.db import write_catalog

        write_catalog(home)
    return reports


def show_bars(home: Path | str, symbol: str, interval: str, start: date | None = None, end: date | None = None,
              session: str = "regular") -> list[dict[str, Any]]:
    """Stored bars as records with ``ts`` an aware IST datetime (for display). DataError when there are none."""
    from tradesig.store.datasets import Store

    interval_minutes(interval)
    bars = Store(home).read_bars(symbol, interval, start, end, session=session)
    if bars.is_empty():
        span = f" from {start or 'the start'} to {end or 'the end'}"
        raise DataError(f"no {interval} bars of {symbol}{span} in {home}",
                        "import some with 'tradesig history import FILE'")
    bars = bars.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata"))
    return bars.to_dicts()


def coverage(home: Path | str) -> list[dict[str, Any]]:
    """Stored bars per (session, interval, symbol): first/last IST date, days, bars (see Store.coverage)."""
    from tradesig.store.datasets import Store

    return Store(home).coverage().to_dicts()


__all__ = ["coverage", "ImportReport", "RejectedFile", "MAX_PRICE", "CIRCUIT_BAND_PCT", "Problem", "DayCount",
           "read_ohlc_file", "infer_interval", "validate", "import_file", "import_files", "show_bars"]

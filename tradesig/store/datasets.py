"""Parquet datasets of the data home: bars and ticks (layout and rules in docs/data-layout.md).

* ``home/bars/interval=I/date=YYYY-MM-DD/part-*.parquet`` — regular-session bars (IST date of the bar start).
* ``home/bars/extended/interval=I/date=…/part-*.parquet`` — bars outside the regular session (post-close flat
  bars, special sessions), same columns; never mixed into regular bars or derived intervals. (Inside ``bars/``
  so that backups include it; the regular glob ``bars/interval=*/date=*/*.parquet`` does not match it.)
* ``home/ticks/date=YYYY-MM-DD/part-*.parquet`` — decoded ticks as given, partitioned by the IST date of recv_ts.

Parts are immutable: written to ``.part-….parquet.tmp`` in the same directory, fsync'd, then ``os.replace``d to
``part-….parquet``; readers only ever glob ``*.parquet`` so they never see a half-written file. Writers of one
dataset serialise on ``home/<dataset>/.writer.lock`` (flock): that makes the dedup check + write atomic with
respect to other writers and never touches readers. Parts are never rewritten or deleted by the store.

Derived intervals (5m, 15m, 1h, 4h, 1d) are computed on read from the finest stored interval for each date
(usually 1m), so a partial bar never gets frozen in storage; see :meth:`Store.read_bars`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from tradesig.errors import DataError
from tradesig.store.bars import BAR_SCHEMA, INTERVALS, conform, empty_bars, interval_minutes, resample, split_session

log = logging.getLogger(__name__)

_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
STORED_BAR_COLUMNS = [*BAR_SCHEMA, "source"]
#: A read of this many parts or more goes through the dataset's compacted read copy (Store._scan_compacted).
COMPACT_MIN_PARTS = 64
COMPACT_DIR = "cache"


def _symbol_key(symbol: str) -> str:
    """tradesig's index key for any index spelling; other symbols (derivatives) are upper-cased as given."""
    from tradesig.market import canonical_symbol

    try:
        return canonical_symbol(symbol)
    except KeyError:
        return symbol.strip().upper()


def _keyed(df: pl.DataFrame, keep: str) -> pl.DataFrame:
    """Bars conformed to the schema, index symbols under tradesig's key, one row per (symbol, ts) (``keep``)."""
    bars = conform(df)
    keys = {s: _symbol_key(s) for s in bars.get_column("symbol").unique().to_list()}
    bars = bars.with_columns(pl.col("symbol").replace_strict(keys, return_dtype=pl.Utf8))
    return bars.unique(subset=["symbol", "ts"], keep=keep, maintain_order=True)  # type: ignore[arg-type]


def _as_date(value: date | datetime | None) -> date | None:
    if value is None or type(value) is date:
        return value  # type: ignore[return-value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
        from tradesig.clock import ist_date

        return ist_date(value)
    raise TypeError(f"expected a date or an aware datetime, got {type(value).__name__}")



#: How often a read lists a dataset's parts again when a listed part vanished under it (a backfill's swap).
_VANISHED_RETRIES = 5


def _collect(lf: pl.LazyFrame, files: list[Path]) -> pl.DataFrame:
    """``lf.collect()`` over the Parquet ``files``; a corrupt or unreadable part becomes :class:`DataError`
    naming it (exit 2, one line) instead of a polars traceback."""
    try:
        return lf.collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable_part(files, exc) from None


def _unreadable_part(files: list[Path], exc: BaseException) -> DataError:
    def readable(path: Path) -> bool:
        try:
            pl.read_parquet_schema(path)
        except (pl.exceptions.PolarsError, OSError):
            return False
        return True

    bad = next((f for f in files if not readable(f)), None)
    where = str(bad) if bad is not None else f"under {files[0].parent.parent}" if files else "?"
    return DataError(f"unreadable Parquet part {where} ({type(exc).__name__})",
                     "restore the data home from a backup ('tradesig backup restore') or move the part aside")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


BULK_SYNC_PARTS = 8  # above this many parts in one batch, one os.sync() replaces per-file fsyncs


def _part_name(tag: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")  # a file name, not a market time
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)[:40]
    return f"part-{stamp}-{safe + '-' if safe else ''}{uuid.uuid4().hex[:8]}.parquet"


def write_parts(items: list[tuple[Path, pl.DataFrame]], tag: str = "") -> list[Path]:
    """Write each frame as a new immutable part in its directory; returns the final paths.

    All frames are written to ``.<name>.tmp`` first and made durable (fsync each, or one ``os.sync()`` for a
    batch of more than :data:`BULK_SYNC_PARTS`), then renamed into place and the directories fsync'd. A reader
    (glob ``*.parquet``) sees each part whole or not at all; a crash leaves at most ``.tmp`` files, never a
    half-written part."""
    staged: list[tuple[Path, Path]] = []
    new_dirs: set[Path] = set()
    for directory, df in items:
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            new_dirs.add(directory.parent)
        name = _part_name(tag)
        tmp = directory / f".{name}.tmp"
        df.write_parquet(tmp, compression="zstd", statistics=True)
        staged.append((tmp, directory / name))
    if len(staged) > BULK_SYNC_PARTS:
        os.sync()
    else:
        for tmp, _ in staged:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
    for tmp, final in staged:
        os.replace(tmp, final)
    for directory in {final.parent for _, final in staged} | new_dirs:
        _fsync_dir(directory)
    return [final for _, final in staged]


def write_part(directory: Path, df: pl.DataFrame, tag: str = "") -> Path:
    """Write ``df`` as one new immutable part in ``directory`` (see :func:`write_parts`)."""
    return write_parts([(directory, df)], tag)[0]


class Store:
    """The Parquet datasets under one data home. Cheap to construct; safe to use from many processes.

    ``home``: the data home directory (created on first write).
    """

    def __init__(self, home: Path | str) -> None:
        self.home = Path(home)

    # ------------------------------------------------------------------ paths and locks
    def dataset_dir(self, name: str) -> Path:
        return self.home / name

    def bars_dir(self, interval: str, extended: bool = False) -> Path:
        interval_minutes(interval)
        base = self.home / "bars" / "extended" if extended else self.home / "bars"
        return base / f"interval={interval}"

    @contextmanager
    def _writer_lock(self, dataset: str) -> Iterator[None]:
        directory = self.home / dataset
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".writer.lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _date_dirs(base: Path, start: date | None, end: date | None) -> list[tuple[date, Path]]:
        if not base.is_dir():
            return []
        out = []
        for entry in os.scandir(base):
            m = _DATE_DIR.match(entry.name)
            if not m or not entry.is_dir():
                continue
            d = date.fromisoformat(m.group(1))
            if (start is None or d >= start) and (end is None or d <= end):
                out.append((d, Path(entry.path)))
        return sorted(out)

    @staticmethod
    def _parts(directory: Path) -> list[Path]:
        try:
            entries = os.scandir(directory)
        except FileNotFoundError:
            return []
        with entries:
            return sorted(Path(e.path) for e in entries if e.name.endswith(".parquet") and not e.name.startswith("."))

    # ------------------------------------------------------------------ bars
    def write_bars(self, df: pl.DataFrame, interval: str, source: str) -> int:
        """Store bars of ``interval``; returns the number of rows added.

        ``df``: bars with at least symbol, ts (aware, or naive = IST), open, high, low, close (volume/oi/status
        optional, see :func:`tradesig.store.bars.conform`). Symbols of the indices are stored under tradesig's key
        (``"NIFTY 50"`` → ``"NIFTY"``). Rows whose (symbol, ts) is already stored — or repeated within ``df`` (the
        first wins) — are not added, so writing the same data twice adds nothing. Rows outside the regular session
        go to ``bars/extended/`` (counted in the return value too). ``source`` (e.g. ``"kite"``,
        ``"import:file.csv"``) is recorded per row. One part per IST date is written.
        """
        interval_minutes(interval)
        if df.is_empty():
            return 0
        regular, extended = split_session(_keyed(df, "first"), interval)
        added = 0
        new_views = [ext for frame, ext in ((regular, False), (extended, True))
                     if not frame.is_empty() and not self._any_bars(ext)]
        with self._writer_lock("bars"):
            for frame, ext in ((regular, False), (extended, True)):
                if not frame.is_empty():
                    added += self._write_partitioned(frame, self.bars_dir(interval, ext), source)
        if new_views:
            self._refresh_catalog()
        return added

    def replace_bars(self, df: pl.DataFrame, interval: str, source: str) -> int:
        """Store bars of ``interval`` *replacing* stored rows with the same (symbol, ts) — a backfill upgrading a
        ``partial`` (or wrongly ``complete``) bar to the broker's ``backfilled`` one. Returns the rows written.

        Per IST date: one new part with the date's rows, the replaced ones swapped (newest part wins on a repeated
        key), is written (temp name, fsync, rename), then the date's older parts are removed. A crash between the
        two leaves repeated keys for a moment; the next replace of that date removes them.
        """
        interval_minutes(interval)
        if df.is_empty():
            return 0
        written = 0
        frames = split_session(_keyed(df, "last"), interval)
        new_views = [ext for frame, ext in zip(frames, (False, True), strict=True)
                     if not frame.is_empty() and not self._any_bars(ext)]
        with self._writer_lock("bars"):
            for frame, ext in zip(frames, (False, True), strict=True):
                if frame.is_empty():
                    continue
                new = (frame.with_columns(pl.lit(source).alias("source")).select(STORED_BAR_COLUMNS)
                       .with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("_date")))
                base = self.bars_dir(interval, ext)
                for (day,), part in new.partition_by("_date", as_dict=True, include_key=False).items():
                    directory = base / f"date={day.isoformat()}"
                    old = self._parts(directory) if directory.is_dir() else []
                    merged = pl.concat([*(pl.read_parquet(p).select(STORED_BAR_COLUMNS) for p in old), part],
                                       how="vertical_relaxed")
                    merged = merged.unique(subset=["symbol", "ts"], keep="last", maintain_order=True)
                    write_parts([(directory, merged.sort(["symbol", "ts"]))], source)
                    for path in old:
                        path.unlink(missing_ok=True)
                    if old:
                        _fsync_dir(directory)
                    written += part.height
        if new_views:
            self._refresh_catalog()
        return written

    def _any_bars(self, extended: bool) -> bool:
        base = self.home / "bars" / "extended" if extended else self.home / "bars"
        return base.is_dir() and any(p.name.startswith("interval=") for p in base.iterdir())

    def _refresh_catalog(self) -> None:
        """A dataset got its first part: rewrite tradesig.duckdb so its view is a glob, not an empty stub."""
        from tradesig.store.db import write_catalog

        write_catalog(self.home)

    def _write_partitioned(self, bars: pl.DataFrame, base: Path, source: str) -> int:
        bars = (bars.with_columns(pl.lit(source).alias("source")).select(STORED_BAR_COLUMNS).sort(["symbol", "ts"])
                .with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("_date")))
        pending: list[tuple[Path, pl.DataFrame]] = []
        for (day,), part in bars.partition_by("_date", as_dict=True, maintain_order=True,
                                              include_key=False).items():
            directory = base / f"date={day.isoformat()}"
            existing = self._parts(directory) if directory.is_dir() else []
            if existing:
                stored = _collect(pl.scan_parquet(existing).select("symbol", "ts"), existing)
                part = part.join(stored, on=["symbol", "ts"], how="anti", maintain_order="left")
            if not part.is_empty():
                pending.append((directory, part))
        write_parts(pending, source)
        return sum(df.height for _, df in pending)

    def _scan_bars(self, symbol: str | None, interval: str, start: date | None, end: date | None,
                   extended: bool = False) -> pl.DataFrame:
        base = self.bars_dir(interval, extended)
        for attempt in range(_VANISHED_RETRIES + 1):
            files = [p for _, d in self._date_dirs(base, start, end) for p in self._parts(d)]
            if not files:
                return empty_bars()
            try:
                if len(files) >= COMPACT_MIN_PARTS:
                    out = self._scan_compacted(base, files, symbol)
                else:
                    lf = pl.scan_parquet(files)
                    if symbol is not None:
                        lf = lf.filter(pl.col("symbol") == symbol)
                    out = _collect(lf.select(list(BAR_SCHEMA)), files)
                # between a backfill's rename and its removals a day's old and new parts are both listed: the
                # newest part (parts sort by their time-stamped names) wins a repeated (symbol, ts)
                return out.unique(subset=["symbol", "ts"], keep="last", maintain_order=True)
            except (DataError, OSError, pl.exceptions.PolarsError) as exc:
                # A backfill (replace_bars) swaps a day's parts while readers run: the replacement is renamed
                # into place first, then the old parts are removed. A part listed here and gone now means the
                # listing is stale, not that the data home is damaged: list again.
                if attempt < _VANISHED_RETRIES and any(not p.exists() for p in files):
                    continue
                if isinstance(exc, DataError):
                    raise
                raise _unreadable_part(files, exc) from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ compacted read copy
    def compacted_path(self, base: Path) -> Path:
        """The read copy of the bars dataset directory ``base`` (see :meth:`_scan_compacted`)."""
        return self.home / COMPACT_DIR / f"{base.relative_to(self.home).as_posix().replace('/', '.')}.parquet"

    def _scan_compacted(self, base: Path, files: list[Path], symbol: str | None) -> pl.DataFrame:
        """Rows of ``files`` (parts under ``base``), read from one compacted copy of the dataset's parts.

        Opening a part costs far more than its rows (a 15m part holds one day: 25 rows), so a read of many parts
        uses ``home/cache/<dataset>.parquet``: the rows of the parts read so far, each with a ``_part`` column
        naming its part (its path), in part order. Parts are immutable (a backfill's :meth:`replace_bars` writes a
        new part under a new name, then removes the old ones), so rows whose ``_part`` is one of ``files`` are
        exactly that part's rows; parts missing from the copy are read
        directly, and when :data:`COMPACT_MIN_PARTS` or more are missing the copy is rewritten with them added
        (the copy plus the missing parts: never a re-read of every part). A copy that cannot be read is rebuilt,
        one that cannot be written is skipped: it is derived data, outside backups, safe to delete."""
        cols = list(BAR_SCHEMA)
        wanted = [str(p) for p in files]
        copy = self.compacted_path(base)
        stored: pl.DataFrame | None = None
        cached: set[str] = set()
        try:
            if copy.is_file():
                cached = set(pl.scan_parquet(copy).select(pl.col("_part").unique()).collect().to_series())
        except (OSError, pl.exceptions.PolarsError) as exc:
            log.warning("ignoring unreadable read copy %s: %s", copy, exc)
        missing = [p for p, name in zip(files, wanted, strict=True) if name not in cached]
        direct = None
        if missing:
            direct = pl.scan_parquet(missing, include_file_paths="_part").select([*STORED_BAR_COLUMNS, "_part"])
        if len(missing) >= COMPACT_MIN_PARTS:
            added = direct.collect()
            stored = pl.concat([pl.read_parquet(copy), added]) if cached else added
            stored = stored.sort("_part", maintain_order=True)
            try:
                copy.parent.mkdir(parents=True, exist_ok=True)
                tmp = copy.with_name(f".{copy.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
                stored.write_parquet(tmp, compression="zstd", statistics=True)
                os.replace(tmp, copy)
            except OSError as exc:
                log.info("cannot write the read copy %s: %s", copy, exc)
            direct = None
        from_copy = stored.lazy() if stored is not None else pl.scan_parquet(copy) if cached else None
        frames = []
        for lf in (from_copy, direct):
            if lf is None:
                continue
            lf = lf.filter(pl.col("_part").is_in(wanted))
            if symbol is not None:
                lf = lf.filter(pl.col("symbol") == symbol)
            frames.append(lf.select([*cols, "_part"]).collect())
        # the order of a direct scan: part by part (date, then name), rows as stored
        out = pl.concat(frames).sort("_part", maintain_order=True) if len(frames) > 1 else frames[0]
        return out.drop("_part")

    def stored_intervals(self, extended: bool = False) -> list[str]:
        """Intervals that have a dataset directory (finest first)."""
        return [iv for iv in INTERVALS if self.bars_dir(iv, extended).is_dir()]

    def read_bars(self, symbol: str, interval: str, start: date | datetime | None = None,
                  end: date | datetime | None = None, *, session: str = "regular") -> pl.DataFrame:
        """Bars of one symbol, BAR_SCHEMA, sorted by ts (empty frame when there are none).

        ``start``/``end``: inclusive IST dates (an aware datetime counts by its IST date, then rows are cut to
        ``start <= ts <= end``). ``interval``: stored bars of that interval where they exist; otherwise, per IST
        date, derived (session-aligned, :func:`tradesig.store.bars.resample`) from the finest stored interval
        that nests in it (1m, then 5m, 15m, 1h …). ``session="extended"`` returns the bars outside the regular
        session as stored (no derivation); ``"all"`` both.
        """
        if session not in ("regular", "extended", "all"):
            raise ValueError("session must be 'regular', 'extended' or 'all'")
        step = interval_minutes(interval)
        key = _symbol_key(symbol)
        d0, d1 = _as_date(start), _as_date(end)
        frames = []
        if session in ("extended", "all"):
            frames.append(self._scan_bars(key, interval, d0, d1, extended=True))
        if session in ("regular", "all"):
            covered: pl.DataFrame | None = None
            for source_iv in INTERVALS:
                source_step = interval_minutes(source_iv)
                if source_step > step or (interval != "1d" and step % source_step):
                    continue
                raw = self._scan_bars(key, source_iv, d0, d1)
                if raw.is_empty():
                    continue
                raw = raw.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("_d"))
                if covered is not None:
                    raw = raw.join(covered, on="_d", how="anti")
                if raw.is_empty():
                    continue
                days = raw.select(pl.col("_d").unique())
                covered = days if covered is None else pl.concat([covered, days])
                frames.append(resample(raw.drop("_d"), interval, source_interval=source_iv))
        if not frames:
            return empty_bars()
        out = pl.concat(frames).sort("ts")
        if isinstance(start, datetime):
            out = out.filter(pl.col("ts") >= start.astimezone(UTC))
        if isinstance(end, datetime):
            out = out.filter(pl.col("ts") <= end.astimezone(UTC))
        return out

    def symbols(self, interval: str = "1m") -> list[str]:
        """Symbols with stored bars of ``interval`` (regular session), sorted."""
        files = [p for _, d in self._date_dirs(self.bars_dir(interval), None, None) for p in self._parts(d)]
        if not files:
            return []
        return sorted(_collect(pl.scan_parquet(files).select(pl.col("symbol").unique()), files)
                      .get_column("symbol").to_list())

    def coverage(self) -> pl.DataFrame:
        """What is stored: one row per (session, interval, symbol) with first/last IST date, days and bars.

        Columns: session ("regular"/"extended"), interval, symbol, first (Date), last (Date), days, bars."""
        frames = []
        for extended in (False, True):
            for interval in self.stored_intervals(extended):
                files = [p for _, d in self._date_dirs(self.bars_dir(interval, extended), None, None)
                         for p in self._parts(d)]
                if not files:
                    continue
                day = pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date()
                frames.append(_collect(
                    pl.scan_parquet(files).select("symbol", day.alias("_d"))
                    .group_by("symbol").agg(pl.col("_d").min().alias("first"), pl.col("_d").max().alias("last"),
                                            pl.col("_d").n_unique().alias("days"), pl.len().alias("bars"))
                    .with_columns(pl.lit("extended" if extended else "regular").alias("session"),
                                  pl.lit(interval).alias("interval")), files))
        schema = {"session": pl.Utf8, "interval": pl.Utf8, "symbol": pl.Utf8, "first": pl.Date, "last": pl.Date,
                  "days": pl.Int64, "bars": pl.Int64}
        if not frames:
            return pl.DataFrame(schema=schema)
        order = {iv: i for i, iv in enumerate(INTERVALS)}
        out = pl.concat(frames).select([pl.col(c).cast(t) for c, t in schema.items()])
        return out.sort(["session", pl.col("interval").replace_strict(order, return_dtype=pl.Int64), "symbol"],
                        descending=[True, False, False])

    def bar_dates(self, symbol: str, interval: str = "1m") -> list[date]:
        """IST dates with stored bars of ``symbol`` at ``interval`` (regular session)."""
        df = self._scan_bars(_symbol_key(symbol), interval, None, None)
        if df.is_empty():
            return []
        return sorted(df.select(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().unique())
                      .to_series().to_list())

    # ------------------------------------------------------------------ ticks
    def write_ticks(self, df: pl.DataFrame) -> int:
        """Append decoded ticks (the codec's frame plus ``recv_ts``) as new parts, one per IST date of recv_ts.

        Stored as given (no dedup: the feed's journal offsets make recovery exactly-once). Returns rows written.
        Raises ValueError when ``recv_ts`` is missing or not tz-aware.
        """
        if df.is_empty():
            return 0
        dtype = df.schema.get("recv_ts")
        if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
            raise ValueError("ticks need a tz-aware recv_ts column")
        ticks = df.with_columns(pl.col("recv_ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        ticks = ticks.with_columns(pl.col("recv_ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("_date"))
        items = [(self.home / "ticks" / f"date={day.isoformat()}", part.drop("_date"))
                 for (day,), part in ticks.partition_by("_date", as_dict=True, maintain_order=True).items()]
        first = not (self.home / "ticks").is_dir() or not any(
            p.name.startswith("date=") for p in (self.home / "ticks").iterdir())
        with self._writer_lock("ticks"):
            write_parts(items, "ticks")
        if first:
            self._refresh_catalog()
        return sum(df.height for _, df in items)

    def read_ticks(self, token_or_symbol: int | str | None = None, date: date | None = None) -> pl.DataFrame:
        """Stored ticks, sorted by recv_ts; filtered by instrument token (int) or index symbol (any spelling;
        ``"NIFTY"`` → token 256265) and by IST ``date`` (None: every date). Empty frame when there are none.
        Raises ValueError for a symbol that is not an index (ticks carry tokens only)."""
        files = [p for _, d in self._date_dirs(self.home / "ticks", date, date) for p in self._parts(d)]
        if not files:
            return pl.DataFrame()
        try:
            df = pl.concat([pl.read_parquet(p) for p in files], how="diagonal_relaxed")
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _unreadable_part(files, exc) from None
        if token_or_symbol is not None:
            token = token_or_symbol
            if isinstance(token_or_symbol, str):
                from tradesig.market import INDICES

                key = _symbol_key(token_or_symbol)
                if key not in INDICES:
                    raise ValueError(f"no instrument token known for {token_or_symbol!r}; pass the token")
                token = INDICES[key].token
            df = df.filter(pl.col("instrument_token").cast(pl.Int64) == int(token))
        return df.sort("recv_ts", maintain_order=True)


__all__ = ["Store", "write_part", "write_parts", "STORED_BAR_COLUMNS"]

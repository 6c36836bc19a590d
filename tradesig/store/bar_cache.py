"""A polars-free read of derived bars (e.g. hourly bars and daily closes from stored 15-minute parts) for long
batch reads such as a multi-year backtest: ``home/cache/derived.<interval>.<SYMBOL>.bin``.

What :meth:`tradesig.store.datasets.Store.read_bars` returns for one symbol and an interval (regular session,
inclusive IST dates) depends only on the stored parts of each date it reads (every interval that nests in the
one asked for: :func:`source_intervals`): parts are immutable and named uniquely (a backfill writes a new part
under a new name, then removes the old ones). So the cache keeps, per IST date, the date's bars (ts, open, high,
low, close) with the *names* of the parts they were derived from. A read lists the parts of every date once
(one ``os.scandir`` per date directory, no polars) and takes a date from the cache only when its part names are
exactly the listed ones; any other date (a part added, replaced or removed, a new date, a new stored interval) is
read through ``Store.read_bars`` and the cache rewritten. Dates whose parts are all gone are not returned. A
cache of another format or tradesig version, or one that cannot be read, is ignored and rebuilt; one that cannot
be written is skipped. Derived data: outside backups, safe to delete (docs/data-layout.md).

File format (little endian as written by this machine's ``array``): one line of JSON ``{"format", "version",
"symbol", "interval", "dates": [[ISO date, part names, rows], ...]}`` (dates ascending), then ``rows`` int64 bar
starts (microseconds since the epoch, UTC), then four float64 columns of ``rows`` values each (open, high, low,
close; index points). Written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from array import array
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tradesig import __version__
from tradesig.store.session import INTERVALS, interval_minutes

log = logging.getLogger(__name__)

__all__ = ["BarCache", "DerivedBars", "source_intervals", "FORMAT"]

#: Bumped whenever the file layout or the meaning of its rows changes (a file of another format is rebuilt).
FORMAT = 1
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_COLUMNS = ("open", "high", "low", "close")


def source_intervals(interval: str) -> tuple[str, ...]:
    """The stored intervals :meth:`Store.read_bars` may derive ``interval`` bars from (finest first): those not
    longer than it that divide it (any for ``"1d"``)."""
    step = interval_minutes(interval)
    out = []
    for iv in INTERVALS:
        source_step = interval_minutes(iv)
        if source_step > step or (interval != "1d" and step % source_step):
            continue
        out.append(iv)
    return tuple(out)


@dataclass
class DerivedBars:
    """Bars of one symbol in ts order: ``ts_us`` bar starts (microseconds since the epoch, UTC) and the prices
    (index points) as ``array`` columns."""

    ts_us: array = field(default_factory=lambda: array("q"))
    open: array = field(default_factory=lambda: array("d"))
    high: array = field(default_factory=lambda: array("d"))
    low: array = field(default_factory=lambda: array("d"))
    close: array = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.ts_us)

    def times(self) -> list[datetime]:
        """The bar starts as aware datetimes in :data:`datetime.UTC`."""
        out = []
        stamp = datetime.fromtimestamp
        for us in self.ts_us:
            seconds, micro = divmod(us, 1_000_000)  # whole seconds: exact, unlike a float timestamp
            ts = stamp(seconds, UTC)
            out.append(ts.replace(microsecond=micro) if micro else ts)
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One dict per bar: ``ts`` (aware, :data:`datetime.UTC`), open, high, low, close — the columns
        :func:`tradesig.trade.backtest.run_backtest` reads, as ``Store.read_bars(...).iter_rows(named=True)`` gives
        them (same instants, same floats)."""
        return [{"ts": ts, "open": o, "high": h, "low": lo, "close": c}
                for ts, o, h, lo, c in zip(self.times(), self.open, self.high, self.low, self.close, strict=True)]

    def _extend(self, other: DerivedBars, lo: int = 0, hi: int | None = None) -> None:
        for name in ("ts_us", *_COLUMNS):
            getattr(self, name).extend(getattr(other, name)[lo:hi])


@dataclass
class _Entry:
    parts: str
    start: int
    rows: int


class BarCache:
    """Derived bars of the Store at ``home`` through the cache file (module docstring). One instance lists the
    date directories once (on its first read) and answers every later read from that listing: use one per batch
    run (a backtest's hourly read and daily-close read), not across runs."""

    def __init__(self, home: Path | str) -> None:
        self.home = Path(home)
        self._listing: dict[str, dict[str, tuple[str, ...]]] | None = None

    def path(self, symbol: str, interval: str) -> Path:
        """The cache file of ``symbol``'s ``interval`` bars."""
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", symbol)
        return self.home / "cache" / f"derived.{interval}.{safe}.bin"

    # ------------------------------------------------------------------ listing
    def _list(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """interval → ISO date → the date's part names (sorted), for every stored regular-session interval."""
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for iv in INTERVALS:
            base = self.home / "bars" / f"interval={iv}"
            try:
                entries = list(os.scandir(base))
            except (FileNotFoundError, NotADirectoryError):
                continue
            dates: dict[str, tuple[str, ...]] = {}
            for entry in entries:
                m = _DATE_DIR.match(entry.name)
                if not m or not entry.is_dir():
                    continue
                try:
                    with os.scandir(entry.path) as parts:
                        names = sorted(p.name for p in parts
                                       if p.name.endswith(".parquet") and not p.name.startswith("."))
                except FileNotFoundError:
                    continue
                if names:
                    dates[m.group(1)] = tuple(names)
            out[iv] = dates
        return out

    def _signatures(self, interval: str, start: date, end: date) -> dict[str, str]:
        """ISO date → the names of the parts ``interval`` bars of that date derive from (``"15m/part-…"``,
        ``|``-joined), for the dates from ``start`` to ``end`` that have any, ascending."""
        if self._listing is None:
            self._listing = self._list()
        lo, hi = start.isoformat(), end.isoformat()
        found: dict[str, list[str]] = {}
        for iv in source_intervals(interval):
            for day, names in self._listing.get(iv, {}).items():
                if lo <= day <= hi:
                    found.setdefault(day, []).extend(f"{iv}/{n}" for n in names)
        return {day: "|".join(found[day]) for day in sorted(found)}

    # ------------------------------------------------------------------ read
    def read(self, symbol: str, interval: str, start: date, end: date) -> DerivedBars:
        """``symbol``'s ``interval`` bars over IST dates ``start``..``end`` (inclusive), regular session: the same
        instants and prices as ``Store.read_bars(symbol, interval, start, end)`` (``symbol``: tradesig's key, e.g.
        "BANKNIFTY"). Dates whose parts are unchanged come from the cache; the others are read through the Store
        (polars) and the cache is rewritten. Raises what ``Store.read_bars`` raises for unreadable parts."""
        symbol = _symbol_key(symbol)
        sigs = self._signatures(interval, start, end)
        path = self.path(symbol, interval)
        cached, data = self._load(path, symbol, interval)
        missing = [day for day, sig in sigs.items() if day not in cached or cached[day].parts != sig]
        fresh: dict[str, DerivedBars] = {}
        if missing:
            try:
                fresh = self._derive(symbol, interval, date.fromisoformat(missing[0]),
                                     date.fromisoformat(missing[-1]), set(sigs))
            except _Unkeyed as exc:
                log.warning("not caching %s %s bars: %s", symbol, interval, exc)
                return self._direct(symbol, interval, start, end)
        out = DerivedBars()
        for day in sigs:
            if day in fresh:
                out._extend(fresh[day])
            else:
                entry = cached[day]
                out._extend(data, entry.start, entry.start + entry.rows)
        if missing and self._unchanged(interval, start, end, sigs):
            self._save(path, symbol, interval, sigs, cached, data, fresh)
        return out

    def _unchanged(self, interval: str, start: date, end: date, sigs: dict[str, str]) -> bool:
        """The parts are still the listed ones (listed again): a cache written now would not vouch for parts a
        writer swapped while this read ran."""
        self._listing = self._list()
        return self._signatures(interval, start, end) == sigs

    def _direct(self, symbol: str, interval: str, start: date, end: date) -> DerivedBars:
        """``Store.read_bars`` as it is, without the cache."""
        from tradesig.store.datasets import Store

        out = DerivedBars()
        frame = Store(self.home).read_bars(symbol, interval, start, end)
        for bars in _split(frame, None).values():
            out._extend(bars)
        return out

    def _derive(self, symbol: str, interval: str, first: date, last: date, listed: set[str]) -> dict[str, DerivedBars]:
        """Bars of the dates ``first``..``last`` through ``Store.read_bars``, per ISO date (every listed date of
        the span gets an entry, empty when the symbol has no bars there)."""
        from tradesig.store.datasets import Store

        frame = Store(self.home).read_bars(symbol, interval, first, last)
        return _split(frame, {day: DerivedBars() for day in listed if first.isoformat() <= day <= last.isoformat()})

    # ------------------------------------------------------------------ file
    def _load(self, path: Path, symbol: str, interval: str) -> tuple[dict[str, _Entry], DerivedBars]:
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # no cache yet, or no home to hold one
            return {}, DerivedBars()
        except OSError as exc:
            log.warning("ignoring unreadable bar cache %s: %s", path, exc)
            return {}, DerivedBars()
        try:
            cut = blob.index(b"\n")
            head = json.loads(blob[:cut])
            if (head.get("format") != FORMAT or head.get("version") != __version__ or head.get("symbol") != symbol
                    or head.get("interval") != interval or head.get("byteorder") != sys.byteorder):
                return {}, DerivedBars()
            entries: dict[str, _Entry] = {}
            n = 0
            for day, parts, rows in head["dates"]:
                entries[day] = _Entry(parts, n, rows)
                n += rows
            data = DerivedBars()
            view = memoryview(blob)[cut + 1:]
            if len(view) != 8 * n * (1 + len(_COLUMNS)):
                raise ValueError(f"{len(view)} bytes of data for {n} rows")
            data.ts_us.frombytes(view[:8 * n])
            for i, name in enumerate(_COLUMNS, start=1):
                getattr(data, name).frombytes(view[8 * n * i:8 * n * (i + 1)])
            return entries, data
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable bar cache %s: %s", path, exc)
            return {}, DerivedBars()

    def _save(self, path: Path, symbol: str, interval: str, sigs: dict[str, str], cached: dict[str, _Entry],
              data: DerivedBars, fresh: dict[str, DerivedBars]) -> None:
        """Write the cache: the dates just listed (fresh or from the old cache) and the old cache's other dates
        outside the listed span (their parts were not listed by this read: they are checked when read)."""
        lo, hi = (min(sigs), max(sigs)) if sigs else ("", "")
        keep = {day: e for day, e in cached.items() if not (lo <= day <= hi)}
        dates: list[list[Any]] = []
        out = DerivedBars()
        for day in sorted({*keep, *sigs}):
            if day in sigs:
                if day in fresh:
                    bars = fresh[day]
                    out._extend(bars)
                    dates.append([day, sigs[day], len(bars)])
                    continue
                entry = cached[day]
                parts = sigs[day]
            else:
                entry = keep[day]
                parts = entry.parts
            out._extend(data, entry.start, entry.start + entry.rows)
            dates.append([day, parts, entry.rows])
        head = {"format": FORMAT, "version": __version__, "byteorder": sys.byteorder, "symbol": symbol,
                "interval": interval, "dates": dates}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                fh.write(json.dumps(head, separators=(",", ":")).encode("utf-8") + b"\n")
                for name in ("ts_us", *_COLUMNS):
                    getattr(out, name).tofile(fh)
            os.replace(tmp, path)
        except OSError as exc:
            log.info("cannot write the bar cache %s: %s", path, exc)


def _symbol_key(symbol: str) -> str:
    """tradesig's index key (as the Store keys rows); other symbols upper-cased."""
    from tradesig.market import canonical_symbol

    try:
        return canonical_symbol(symbol)
    except KeyError:
        return symbol.strip().upper()


def _split(frame: Any, out: dict[str, DerivedBars] | None) -> dict[str, DerivedBars]:
    """The rows of a BAR_SCHEMA ``frame`` (ts order) per IST date of their ts, into ``out``'s entries (a date not
    in ``out`` raises :class:`_Unkeyed`); ``out=None``: a new dict with an entry for every date."""
    keep = out is not None
    out = {} if out is None else out
    if frame.is_empty():
        return out
    import polars as pl

    days = frame.select(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date()).to_series().to_list()
    ts_us = frame.select(pl.col("ts").dt.epoch("us")).to_series().to_list()
    cols = [frame.get_column(c).to_list() for c in _COLUMNS]
    for i, day in enumerate(days):
        bars = out.get(day.isoformat())
        if bars is None:
            if keep:  # a row outside the listed dates: cannot be keyed by its parts
                raise _Unkeyed(f"a bar on {day} outside the listed dates")
            bars = out[day.isoformat()] = DerivedBars()
        bars.ts_us.append(ts_us[i])
        for name, col in zip(_COLUMNS, cols, strict=True):
            getattr(bars, name).append(float(col[i]))
    return out


class _Unkeyed(Exception):
    """A derived row whose IST date has no listed parts (never expected: rows keep their part's date)."""

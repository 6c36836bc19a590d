"""Real option-chain snapshots: option premiums, OI and volume for the replayed day, where a file holds them.

Input: Parquet of per-minute NSE option-chain snapshots, the layout of
``shared/data/options/nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet`` — columns
``snapshot_ts`` (aware or naive IST), ``symbol`` (e.g. "NIFTY50"), ``expiry_date`` (date), ``strike``,
``option_type`` ("CE"/"PE"), ``ltp`` (rupees), ``oi``, ``volume`` (as the NSE API gives them: probably contracts,
cumulative for the day — passed through unchanged, never rescaled or invented).

A contract's price at sim time t is the ``ltp`` of its latest snapshot at or before t (the snapshot's own
minute); before its first snapshot of the day there is none and the sim falls back to its model. Day open/high/low
are those of the day's snapshots up to t; the previous close is the last snapshot of the latest earlier date in
the file (None when the file has no earlier date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from tradesig.errors import DataError
from tradesig.market import canonical_symbol

Key = tuple[str, date, float, str]  # (index key, expiry, strike, CE/PE)


@dataclass
class _Series:
    ts: np.ndarray  # epoch seconds, ascending
    ltp: np.ndarray
    oi: np.ndarray
    volume: np.ndarray


class ChainSnapshots:
    """Snapshots of one IST day by contract (see module doc). ``sources``: files read; ``len()``: contracts."""

    def __init__(self, day: date, series: dict[Key, _Series], prev_close: dict[Key, float], sources: list[str]):
        self.day = day
        self._series = series
        self._prev = prev_close
        self.sources = sources

    def __len__(self) -> int:
        return len(self._series)

    @classmethod
    def load(cls, paths: list[Path], day: date) -> ChainSnapshots | None:
        """Snapshots of ``day`` from ``paths`` (None when no file holds that day). Raises :class:`DataError` for
        an unreadable file or missing columns."""
        import polars as pl

        need = {"snapshot_ts", "symbol", "expiry_date", "strike", "option_type", "ltp", "oi", "volume"}
        frames = []
        for path in paths:
            try:
                lf = pl.scan_parquet(path)
                cols = set(lf.collect_schema().names())
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise DataError(f"cannot read option-chain file {path}: {exc}") from None
            if need - cols:
                raise DataError(f"{path} lacks column(s) {', '.join(sorted(need - cols))}",
                                f"columns: {', '.join(sorted(need))}")
            ts = pl.col("snapshot_ts")
            if lf.collect_schema()["snapshot_ts"].time_zone is None:  # type: ignore[union-attr]
                ts = ts.dt.replace_time_zone("Asia/Kolkata")
            else:
                ts = ts.dt.convert_time_zone("Asia/Kolkata")
            frames.append(lf.select(ts.alias("ts"), "symbol", "expiry_date", "strike", "option_type", "ltp", "oi",
                                    "volume").filter(pl.col("ts").dt.date() <= day).collect())
        if not frames:
            return None
        df = pl.concat(frames).filter(pl.col("ltp") > 0)
        if df.filter(pl.col("ts").dt.date() == day).is_empty():
            return None
        df = df.with_columns(pl.col("ts").dt.date().alias("d"),
                             (pl.col("ts").dt.epoch("s")).alias("epoch")).sort("epoch")
        series: dict[Key, _Series] = {}
        prev: dict[Key, float] = {}
        earlier = df.filter(pl.col("d") < day)
        if not earlier.is_empty():
            last_day = earlier["d"].max()
            for row in earlier.filter(pl.col("d") == last_day).group_by(
                    ["symbol", "expiry_date", "strike", "option_type"]).agg(pl.col("ltp").last()).iter_rows():
                prev[_key(*row[:4])] = float(row[4])
        today = df.filter(pl.col("d") == day)
        for (sym, exp, strike, otype), part in today.group_by(["symbol", "expiry_date", "strike", "option_type"]):
            series[_key(sym, exp, strike, otype)] = _Series(
                part["epoch"].to_numpy().astype(np.int64), part["ltp"].to_numpy().astype(np.float64),
                np.nan_to_num(part["oi"].to_numpy().astype(np.float64)).astype(np.int64),
                np.nan_to_num(part["volume"].to_numpy().astype(np.float64)).astype(np.int64))
        return cls(day, series, prev, [str(p) for p in paths])

    def _index(self, key: Key, now_epoch: int) -> tuple[_Series, int] | None:
        s = self._series.get(key)
        if s is None:
            return None
        i = int(np.searchsorted(s.ts, now_epoch, "right")) - 1
        return None if i < 0 else (s, i)

    def quote(self, key: Key, now_epoch: int) -> tuple[float, int, int] | None:
        """(ltp rupees, oi, volume) of the latest snapshot at or before ``now_epoch``; None when there is none."""
        found = self._index(key, now_epoch)
        if found is None:
            return None
        s, i = found
        return float(s.ltp[i]), int(s.oi[i]), int(s.volume[i])

    def day_ohlc(self, key: Key, now_epoch: int) -> dict[str, float] | None:
        """Open/high/low of the day's snapshots up to ``now_epoch`` and the previous close (0 when unknown)."""
        found = self._index(key, now_epoch)
        if found is None:
            return None
        s, i = found
        seen = s.ltp[: i + 1]
        return {"open": float(seen[0]), "high": float(seen.max()), "low": float(seen.min()),
                "close": self._prev.get(key, 0.0)}


def _key(symbol: str, expiry: date, strike: float, option_type: str) -> Key:
    try:
        name = canonical_symbol(symbol)
    except KeyError:
        name = symbol
    return (name, expiry, float(strike), option_type)


def default_chain_files() -> list[Path]:
    """The per-minute NIFTY chain snapshots in ``../shared/data/options`` (or $TRADESIG_SHARED_DATA), if present."""
    import os

    roots = [os.environ.get("TRADESIG_SHARED_DATA"), str(Path(__file__).resolve().parents[3] / "shared" / "data")]
    for root in roots:
        if root:
            p = Path(root) / "options" / "nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet"
            if p.exists():
                return [p]
    return []

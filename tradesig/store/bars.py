"""Bars: the schema, the regular-session model, session-aligned resampling and 1m bars from ticks (pure).

A bar is labelled by its START time; timestamps are tz-aware UTC (``Datetime("us", "UTC")``) and the session
arithmetic is done in IST (Asia/Kolkata, UTC+05:30, no DST).

Alignment (``../shared/SIGNALS.md`` "Bars"): every interval is a grid anchored at 09:15 IST of the trading date —
bar start = 09:15 + k·interval. So 5m/15m bars start 09:15, 09:20 / 09:30, …; hourly bars 09:15, 10:15, …, 14:15
and a short 15:15–15:30 bar; 4h bars 09:15–13:15 and 13:15–15:30; the daily bar is labelled 09:15 IST of its date.
A bar covers ``[start, start + interval) ∩ regular session`` of its date.

Regular session (continuous trading, IST), by era — NSE announcements:

* until 2010-01-01: 09:55–15:30 (the 2009 file in ../shared/data has this session)
* 2010-01-04 .. 2010-10-15: 09:00–15:30 (NSE/BSE advanced the opening to 09:00 on 4 Jan 2010)
* from 2010-10-18: 09:15–15:30 (pre-open call auction 09:00–09:15 introduced; continuous trading from 09:15)

The 09:15 grid is kept for the older eras too (the anchor never moves): in 2009 the first hourly bar is the
09:15 slot and covers 09:55–10:15 (20 minutes expected), the 15m slot 09:45 covers 09:55–10:00, and so on.
Completeness is judged against the minutes of the slot that fall inside that date's session.

Status: a bar built from finer bars is ``"complete"`` only when every finer bar of its in-session window is
present and complete; ``"partial"`` when any is missing or partial; ``"backfilled"`` when all are present and at
least one is backfilled. Volume is summed (null if all inputs are null — index bars have no volume); OI is the
last non-null value. Rows outside the regular session (post-close flat bars, Muhurat sessions, the 15:30 print in
the 2009 file) never enter a regular bar: :func:`resample` drops them and :func:`split_session` separates them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

# the session model lives in tradesig.store.session (polars-free); re-exported here
from tradesig.store.session import (  # noqa: F401
    _MINUTES,
    ANCHOR_MINUTE,
    INTERVALS,
    SESSION_ERAS,
    STATUSES,
    _special_sessions,
    interval_minutes,
    session_breaks,
    session_hours,
)

#: Stored/returned bar columns (contract in CONTRACTS.md).
BAR_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.Utf8(),
    "ts": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),
    "oi": pl.Int64(),
    "status": pl.Utf8(),
}


def empty_bars() -> pl.DataFrame:
    """An empty frame with :data:`BAR_SCHEMA`."""
    return pl.DataFrame(schema=BAR_SCHEMA)


def conform(df: pl.DataFrame, status: str = "complete") -> pl.DataFrame:
    """Cast ``df`` to :data:`BAR_SCHEMA`: adds missing volume/oi (null) and status, converts ts to UTC, sorts.

    ``ts`` may be tz-aware in any zone (converted) or naive (taken as IST). Extra columns are dropped.
    """
    out = df
    ts_dtype = out.schema["ts"]
    if isinstance(ts_dtype, pl.Datetime):
        if ts_dtype.time_zone is None:
            out = out.with_columns(pl.col("ts").dt.replace_time_zone("Asia/Kolkata"))
        out = out.with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    for name in ("volume", "oi"):
        if name not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.Int64).alias(name))
    if "status" not in out.columns:
        out = out.with_columns(pl.lit(status).alias("status"))
    out = out.select([pl.col(c).cast(t) for c, t in BAR_SCHEMA.items()])
    return out.sort(["symbol", "ts"])


def _ist_parts() -> list[pl.Expr]:
    local = pl.col("ts").dt.convert_time_zone("Asia/Kolkata")
    return [
        local.dt.date().alias("_date"),
        (local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)).alias("_minute"),
        local.dt.second().alias("_second"),
    ]


def _session_exprs() -> tuple[pl.Expr, pl.Expr]:
    open_e: pl.Expr = pl.lit(SESSION_ERAS[0][1], dtype=pl.Int32)
    close_e: pl.Expr = pl.lit(SESSION_ERAS[0][2], dtype=pl.Int32)
    for first, open_m, close_m in SESSION_ERAS[1:]:
        cond = pl.col("_date") >= pl.lit(first)
        open_e = pl.when(cond).then(pl.lit(open_m, dtype=pl.Int32)).otherwise(open_e)
        close_e = pl.when(cond).then(pl.lit(close_m, dtype=pl.Int32)).otherwise(close_e)
    for day, (open_m, close_m, _breaks) in _special_sessions().items():
        cond = pl.col("_date") == pl.lit(day)
        open_e = pl.when(cond).then(pl.lit(open_m, dtype=pl.Int32)).otherwise(open_e)
        close_e = pl.when(cond).then(pl.lit(close_m, dtype=pl.Int32)).otherwise(close_e)
    return open_e.alias("_open"), close_e.alias("_close")


def with_session(df: pl.DataFrame, interval: str = "1m") -> pl.DataFrame:
    """Add helper columns: ``_date`` (IST date), ``_minute`` (IST minute of day), ``_open``/``_close`` (session
    minutes of that date) and ``_in_session`` (the bar ``[ts, ts+interval)`` overlaps the regular session: a 09:15
    slot of a 09:55 session is in; a bar starting at or after the close is out). Daily bars are always in."""
    step = interval_minutes(interval)
    out = df.with_columns(_ist_parts())
    days = out["_date"].unique() if out.height else None
    one_day = days[0] if days is not None and len(days) == 1 and days[0] is not None else None
    if one_day is not None:  # the feed's case (a day's bars): that day's hours as constants, not per-row branches
        open_m, close_m = session_hours(one_day)
        out = out.with_columns(pl.lit(open_m, dtype=pl.Int32).alias("_open"), pl.lit(close_m, dtype=pl.Int32)
                               .alias("_close"))
    else:
        out = out.with_columns(_session_exprs())
    if interval == "1d":
        inside = pl.lit(True)
    else:
        # a slot overlapping the open (09:15 grid in a 09:55 session) is in session; one starting at/after the
        # close, or ending at/before the open, is not
        inside = (pl.col("_minute") + step > pl.col("_open")) & (pl.col("_minute") < pl.col("_close"))
        for day, (_o, _c, breaks) in _special_sessions().items():
            if one_day is not None and day != one_day:
                continue
            for start, end in breaks:  # a bar wholly inside a special session's break is not in session
                inside = inside & ~((pl.col("_date") == pl.lit(day)) & (pl.col("_minute") >= start)
                                    & (pl.col("_minute") + step <= end))
    return out.with_columns(inside.alias("_in_session"))


def split_session(df: pl.DataFrame, interval: str = "1m") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split bars into (regular-session rows, rows outside the regular session); columns unchanged."""
    if df.is_empty():
        return df, df
    marked = with_session(df, interval)
    cols = df.columns
    return (marked.filter(pl.col("_in_session")).select(cols),
            marked.filter(~pl.col("_in_session")).select(cols))


def is_aligned(df: pl.DataFrame, interval: str) -> pl.Series:
    """Boolean Series: does each bar start on the 09:15-anchored grid of ``interval``? (1d: any time of day)."""
    step = interval_minutes(interval)
    marked = df.select(_ist_parts())
    if interval == "1d":
        return pl.Series("aligned", [True] * marked.height)
    return marked.select(((((pl.col("_minute") - ANCHOR_MINUTE) % step) == 0)
                          & (pl.col("_second") == 0)).alias("aligned")).to_series()


def expected_count_expr(step: int, source_step: int) -> pl.Expr:
    """Expression: number of ``source_step`` bars expected in the slot ``[_bucket, _bucket+step) ∩ session``."""
    lo = pl.max_horizontal(pl.col("_bucket"), pl.col("_open"))
    hi = pl.min_horizontal(pl.col("_bucket") + step, pl.col("_close"))
    covered = pl.max_horizontal(hi - lo, pl.lit(0))
    # source bars are on the same 09:15 grid: count the source slots intersecting [lo, hi)
    first = ((lo - ANCHOR_MINUTE).floordiv(source_step))
    last = ((hi - 1 - ANCHOR_MINUTE).floordiv(source_step))
    return pl.when(covered > 0).then(last - first + 1).otherwise(0)


def resample(bars: pl.DataFrame, interval: str, *, source_interval: str = "1m") -> pl.DataFrame:
    """Session-aligned bars of ``interval`` from finer bars (default 1m), per symbol.

    ``bars``: BAR_SCHEMA frame of ``source_interval`` bars (any order). Returns a BAR_SCHEMA frame sorted by
    (symbol, ts). Rows outside the regular session are ignored (see :func:`split_session`). ``interval`` must be a
    multiple of ``source_interval`` on the 09:15 grid (ValueError otherwise). Pure; no I/O.
    """
    step, source_step = interval_minutes(interval), interval_minutes(source_interval)
    if interval == source_interval:
        return split_session(conform(bars), interval)[0]
    if step < source_step or (interval != "1d" and step % source_step):
        raise ValueError(f"cannot build {interval} bars from {source_interval} bars")
    if bars.is_empty():
        return empty_bars()
    df = with_session(conform(bars), source_interval).filter(pl.col("_in_session"))
    if df.is_empty():
        return empty_bars()
    if interval == "1d":
        df = df.with_columns(pl.lit(ANCHOR_MINUTE, dtype=pl.Int32).alias("_bucket"))
        expected = ((pl.col("_close") - 1 - ANCHOR_MINUTE).floordiv(source_step)
                    - (pl.col("_open") - ANCHOR_MINUTE).floordiv(source_step) + 1)
    else:
        df = df.with_columns((ANCHOR_MINUTE + (pl.col("_minute") - ANCHOR_MINUTE).floordiv(step) * step)
                             .cast(pl.Int32).alias("_bucket"))
        expected = expected_count_expr(step, source_step)
    out = (
        df.sort(["symbol", "ts"])
        .group_by(["symbol", "_date", "_bucket"], maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.when(pl.col("volume").is_not_null().any()).then(pl.col("volume").sum()).alias("volume"),
            pl.col("oi").drop_nulls().last().alias("oi"),
            pl.col("ts").n_unique().alias("_n"),
            (pl.col("status") == "partial").any().alias("_any_partial"),
            (pl.col("status") == "backfilled").any().alias("_any_backfilled"),
            pl.col("_open").first(),
            pl.col("_close").first(),
        )
        .with_columns(expected.alias("_expected"))
        .with_columns(
            pl.when((pl.col("_n") < pl.col("_expected")) | pl.col("_any_partial")).then(pl.lit("partial"))
            .when(pl.col("_any_backfilled")).then(pl.lit("backfilled"))
            .otherwise(pl.lit("complete")).alias("status"),
            (pl.col("_date").cast(pl.Datetime("us")) + pl.duration(minutes=pl.col("_bucket")))
            .dt.replace_time_zone("Asia/Kolkata").dt.convert_time_zone("UTC").alias("ts"),
        )
    )
    return out.select([pl.col(c).cast(t) for c, t in BAR_SCHEMA.items()]).sort(["symbol", "ts"])


def ticks_to_bars(ticks: pl.DataFrame, *, symbols: dict[int, str] | None = None, now: datetime | None = None,
                  regular_only: bool = True) -> pl.DataFrame:
    """1m bars from decoded ticks: OHLC of ``last_price``; volume = increase of cumulative ``volume_traded``.

    ``ticks``: the tick frame of CONTRACTS.md (instrument_token, last_price, volume_traded, oi,
    exchange_timestamp, recv_ts; a ``symbol`` column is used when present). The bar minute is taken from
    ``exchange_timestamp`` (``recv_ts`` where that is null). Symbol: ``symbols[token]``, else the index key of
    tradesig.market, else the token as text. Volume of a bar = last cumulative volume in the bar minus the last
    one before it on the same IST date (for the first bar seen that day: last − first in the bar, a lower bound);
    null when the ticks carry no volume (indices). OI = last non-null. ``now`` (aware): bars whose minute has not
    ended by then are ``"partial"``; without it every bar is ``"complete"``. ``regular_only``: ticks outside the
    regular session (pre-open 09:00–09:15, post-close) form no bar (they remain in the ticks dataset).
    Returns BAR_SCHEMA, sorted.
    """
    from tradesig.market import TOKEN_TO_SYMBOL

    if ticks.is_empty():
        return empty_bars()
    mapping = {**{int(k): v for k, v in TOKEN_TO_SYMBOL.items()}, **(symbols or {})}
    df = ticks
    if "symbol" not in df.columns:
        token = pl.col("instrument_token").cast(pl.Int64)
        df = df.with_columns(token.replace_strict(list(mapping), list(mapping.values()), default=token.cast(pl.Utf8),
                                                  return_dtype=pl.Utf8).alias("symbol"))
    when_col = "exchange_timestamp" if "exchange_timestamp" in df.columns else "recv_ts"
    ts = pl.col(when_col)
    if when_col != "recv_ts" and "recv_ts" in df.columns:
        ts = pl.coalesce(pl.col(when_col), pl.col("recv_ts"))
    for name in ("volume_traded", "oi"):
        if name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.Int64).alias(name))
    df = (df.with_columns(ts.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias("_t"))
          .filter(pl.col("_t").is_not_null() & pl.col("last_price").is_not_null())
          .with_columns(pl.col("_t").dt.truncate("1m").alias("ts"))
          .sort(["symbol", "_t"], maintain_order=True))
    if regular_only:
        df, _ = split_session(df, "1m")
    if df.is_empty():
        return empty_bars()
    bars = (
        df.group_by(["symbol", "ts"], maintain_order=True)
        .agg(
            pl.col("last_price").first().alias("open"),
            pl.col("last_price").max().alias("high"),
            pl.col("last_price").min().alias("low"),
            pl.col("last_price").last().alias("close"),
            pl.col("volume_traded").cast(pl.Int64).drop_nulls().first().alias("_v_first"),
            pl.col("volume_traded").cast(pl.Int64).drop_nulls().last().alias("_v_last"),
            pl.col("oi").cast(pl.Int64).drop_nulls().last().alias("oi"),
        )
        .sort(["symbol", "ts"])
        .with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("_date"))
    )
    prev = pl.col("_v_last").forward_fill().shift(1).over(["symbol", "_date"])
    bars = bars.with_columns(
        pl.when(pl.col("_v_last").is_null()).then(None)
        .when(prev.is_null()).then(pl.col("_v_last") - pl.col("_v_first"))
        .otherwise(pl.col("_v_last") - prev).alias("volume"))
    if now is not None:
        if now.tzinfo is None:
            raise ValueError("ticks_to_bars: now must be timezone-aware")
        # a bar is finished when its minute has ended: start + 1 minute <= now
        limit = now.astimezone(UTC) - timedelta(minutes=1)
        bars = bars.with_columns(pl.when(pl.col("ts") > pl.lit(limit, dtype=pl.Datetime("us", "UTC")))
                                 .then(pl.lit("partial")).otherwise(pl.lit("complete")).alias("status"))
    else:
        bars = bars.with_columns(pl.lit("complete").alias("status"))
    return bars.select([pl.col(c).cast(t) for c, t in BAR_SCHEMA.items()]).sort(["symbol", "ts"])


__all__ = [
    "BAR_SCHEMA", "INTERVALS", "STATUSES", "ANCHOR_MINUTE", "SESSION_ERAS", "interval_minutes", "session_hours",
    "session_breaks", "empty_bars", "conform", "with_session", "split_session", "is_aligned", "resample",
    "ticks_to_bars",
]

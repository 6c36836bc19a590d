"""Helpers for the feed's end-to-end tests: a sim on loopback replaying real bars, a logged-in token, the feed
in-process, and the recorded bars to compare against."""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import requests

from tradesig.broker.tokens import TokenRecord, TokenStore, kite_expiry
from tradesig.clock import IST
from tradesig.config import LoadedConfig, Settings
from tradesig.feed.service import FeedOptions, FeedService
from tradesig.sim.exchange import SimConfig, SimExchange

NIFTY_FILE = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"
BANK_FILE = "intraday/niftybank_1min_2024-01-01_2024-08-23.parquet"
DAY = date(2024, 6, 4)


def start_sim(files: list[Path], *, start: time, speed: float = 1000, faults=None):
    sim = SimExchange(SimConfig(data_files=files, day=DAY, speed=speed, start=start, faults=faults or [],
                                heartbeat_seconds=0.2))
    return sim.run_in_thread()


def login(handle, home: Path) -> str:
    """The sim's login flow as a browser and `tradesig login` do it; stores the token (0600). Returns it."""
    from kiteconnect import KiteConnect

    resp = requests.get(f"{handle.rest_url}/connect/login", params={"api_key": handle.api_key, "v": 3},
                        allow_redirects=False, timeout=5)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(resp.headers["Location"]).query)
    kite = KiteConnect(handle.api_key, root=handle.rest_url)
    session = kite.generate_session(query["request_token"][0], api_secret=handle.exchange.config.api_secret)
    now = datetime.now(UTC)
    TokenStore(home).save(TokenRecord(broker="kite", api_key=handle.api_key, access_token=session["access_token"],
                                      user_id=session.get("user_id", "SIM001"), user_name="sim",
                                      login_time=now, expires_at=kite_expiry(now)))
    return session["access_token"]


def recorded(file: Path, symbol: str, start: time, end: time = time(15, 30)) -> pl.DataFrame:
    df = pl.read_parquet(file).with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    lo = datetime.combine(DAY, start, IST).astimezone(UTC)
    hi = datetime.combine(DAY, end, IST).astimezone(UTC)
    return df.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)).sort("ts").with_columns(pl.lit(symbol)
                                                                                           .alias("symbol"))


def make_service(home: Path, handle, notifier=None, **opts) -> FeedService:
    loaded = LoadedConfig(Settings(), None, home)
    options = FeedOptions(source="sim", sim_url=handle.rest_url, symbols=opts.pop("symbols", ["NIFTY", "BANKNIFTY"]),
                          until=opts.pop("until", time(15, 30, 30)), **opts)
    return FeedService(loaded, options, notifier=notifier)


def run_service(service: FeedService, timeout: float = 60.0, during=None):
    """Run the service to completion on a fresh loop in this thread; ``during(service)`` runs in a thread."""
    result: dict = {}
    workers: list[threading.Thread] = []

    def work():
        try:
            result["during"] = during(service)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            result["error"] = exc

    async def main():
        task = asyncio.create_task(service.run())
        if during is not None:
            workers.append(threading.Thread(target=work, daemon=True))
            workers[0].start()
        return await asyncio.wait_for(task, timeout)

    summary = asyncio.run(main())
    for worker in workers:
        worker.join(timeout)
    if "error" in result:
        raise result["error"]
    return summary, result.get("during")


def _minutes(ts: list) -> str:
    return ", ".join(t.astimezone(IST).strftime("%H:%M") for t in ts[:20]) + (" …" if len(ts) > 20 else "")


def compare_bars(stored: pl.DataFrame, want: pl.DataFrame) -> None:
    """Stored 1m bars equal the recording: same minutes, same OHLC (2 dp). The message names the minutes (IST)
    that are missing, extra or different, with their stored status (this module is not assertion-rewritten)."""
    dupes = stored.filter(pl.col("ts").is_duplicated())["ts"].unique().sort().to_list()
    assert not dupes, f"minutes stored twice: {_minutes(dupes)}"
    have, need = set(stored["ts"].to_list()), set(want["ts"].to_list())
    missing, extra = sorted(need - have), sorted(have - need)
    assert not missing and not extra, (f"{len(stored)}/{len(want)} bars; missing {len(missing)}: {_minutes(missing)}; "
                                       f"extra {len(extra)}: {_minutes(extra)}")
    diff = diff_bars(stored, want)
    assert diff.is_empty(), ("OHLC differs from the recording at " + "; ".join(
        f"{r['ts'].astimezone(IST):%H:%M} {r['status']}: stored {r['open']}/{r['high']}/{r['low']}/{r['close']} "
        f"recorded {r['open_want']}/{r['high_want']}/{r['low_want']}/{r['close_want']}"
        for r in diff.head(10).iter_rows(named=True)))


def wait_until(predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    import time as _t

    end = _t.monotonic() + timeout
    while _t.monotonic() < end:
        if predicate():
            return True
        _t.sleep(step)
    return False


__all__ = ["start_sim", "login", "recorded", "make_service", "run_service", "compare_bars", "wait_until",
           "NIFTY_FILE", "BANK_FILE", "DAY", "timedelta"]


def diff_bars(stored: pl.DataFrame, want: pl.DataFrame) -> pl.DataFrame:
    """Rows whose OHLC differ (debugging aid)."""
    joined = stored.join(want, on="ts", how="full", suffix="_want")
    cond = pl.lit(False)
    for col in ("open", "high", "low", "close"):
        cond = cond | (pl.col(col).round(2) != pl.col(f"{col}_want").round(2)) | pl.col(col).is_null()
    return joined.filter(cond)

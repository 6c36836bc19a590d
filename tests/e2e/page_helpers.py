"""Helpers for the trader's page tests (and docs/img screenshots): a data home seeded with the real sessions before
the replayed day, the sim replaying it, the feed with its hub in a background thread, and headless Chromium driven
by Playwright's Python package with Debian's /usr/bin/chromium (no browser download, ever)."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from tests.e2e.feed_helpers import DAY, login, make_service, start_sim
from tradesig.clock import IST
from tradesig.store.bars import conform
from tradesig.store.datasets import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic"]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing (pip install -e '.[dev]')"
    return None


def launch(playwright):
    """Headless Chromium from Debian's package (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def seed_history(home: Path, files: dict[str, Path], day: date = DAY, days: int = 28) -> None:
    """Store the recorded 1m bars of the ``days`` calendar days before ``day`` (real sessions: the previous day's
    pivots, the previous week's zones and the indicators' warm-up need them), as ``history import`` would."""
    store = Store(home)
    lo = datetime.combine(day - timedelta(days=days), time(0), IST).astimezone(UTC)
    hi = datetime.combine(day, time(0), IST).astimezone(UTC)
    for symbol, path in files.items():
        df = pl.read_parquet(path).with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        df = df.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)).with_columns(pl.lit(symbol).alias("symbol"))
        store.write_bars(conform(df.with_columns(pl.lit(None, dtype=pl.Int64).alias("volume"),
                                                 pl.lit(None, dtype=pl.Int64).alias("oi"))), "1m", "import:test")


class PageFeed:
    """The sim replaying ``DAY`` from ``start`` at ``speed`` and the feed (with its hub) in a background thread.
    ``url``: the page's address once :meth:`wait_hub` returned."""

    def __init__(self, home: Path, files: dict[str, Path], *, start: time, speed: float, until: time | None = None,
                 publish_token: str | None = None, port: int = 0, login_token: bool = True, **opts) -> None:
        self.home = home
        self.handle = start_sim(list(files.values()), start=start, speed=speed)
        if login_token:
            login(self.handle, home)
        self.service = make_service(home, self.handle, serve=f"127.0.0.1:{port}", symbols=list(files),
                                    publish_token=publish_token, until=until or time(15, 30, 30), **opts)
        self.summary = None
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop = asyncio.new_event_loop()
            self.summary = self.loop.run_until_complete(self.service.run())
        except BaseException as exc:  # noqa: BLE001 - re-raised by stop() in the test's thread
            self.error = exc

    def wait_hub(self, timeout: float = 60.0) -> str:
        import time as _t

        end = _t.monotonic() + timeout
        while _t.monotonic() < end:
            hub = self.service.hub
            if hub is not None and hub._server is not None and hub.port:
                return f"http://127.0.0.1:{hub.port}/"
            if self.error is not None:
                raise self.error
            _t.sleep(0.05)
        raise AssertionError("the feed's hub did not start")

    def stop_feed(self, timeout: float = 60.0) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.service.request_stop, "test")
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        try:
            self.stop_feed()
        finally:
            self.handle.stop()


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium_missing", "launch", "seed_history", "PageFeed"]

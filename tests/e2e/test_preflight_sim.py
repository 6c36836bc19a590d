"""End to end: ``preflight`` against the sim replaying a real session, with the feed's hub up — every check passes
on a healthy replay, and each injected fault fails the check that names it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from e2e.feed_helpers import NIFTY_FILE, login, make_service, run_service, start_sim, wait_until
from tests.conftest import shared_file
from tradesig.backup import create_backup
from tradesig.clock import SystemClock
from tradesig.config import LoadedConfig, Settings
from tradesig.preflight import CHECKS, PreflightOptions, run_preflight

pytestmark = pytest.mark.e2e


def within_rate_limit(call, tries: int = 5):
    """``call()``, waiting out the quote rate limit as a Kite client must: Kite allows one quote request a second
    (Kite Connect docs, "Request limits"; the sim's RATE_LIMITS), and the feed and preflight share it with this
    test, so how many land in one second depends on the machine's speed."""
    import time as _time

    from kiteconnect.exceptions import NetworkException

    for attempt in range(tries):
        try:
            return call()
        except NetworkException as exc:
            if "Too many requests" not in str(exc) or attempt == tries - 1:
                raise
            _time.sleep(1.0)
    return None


def failing(checks) -> set[str]:
    return {c.name for c in checks if c.status == "fail"}


def test_preflight_healthy_then_each_fault(home: Path, tmp_path: Path):
    handle = start_sim([shared_file(NIFTY_FILE)], start=time(11, 0), speed=20)
    settings = Settings()
    settings = dataclasses.replace(settings, feed=dataclasses.replace(settings.feed, symbols=["NIFTY"]))
    loaded = LoadedConfig(settings, None, home)
    clock = SystemClock()
    try:
        login(handle, home)
        create_backup(home, home / "backups", now=datetime.now(UTC))
        service = make_service(home, handle, serve="127.0.0.1:0", symbols=["NIFTY"])
        seen: dict[str, list] = {}

        def run(**changes):
            hub = f"http://127.0.0.1:{service.hub.port}"
            options = dataclasses.replace(PreflightOptions(mode="live", hub_url=hub, sim_url=handle.rest_url,
                                                           min_free_bytes=1), **changes)
            market_now = datetime.fromisoformat(handle.state()["sim_time"])
            return run_preflight(loaded, options, clock=clock, market_now=market_now)

        def during(service):
            try:
                checks(service)
            finally:
                service.request_stop("test done")

        def checks(service):
            assert wait_until(lambda: service.hub is not None and service.hub.port not in (0, None)
                              and service.health().get("last_tick_age_s") is not None, 30)
            seen["healthy"] = run()
            seen["no backup"] = run(backup_dir=tmp_path / "no-backups")
            seen["disk"] = run(min_free_bytes=1 << 60)
            seen["calendar"] = run(calendar_horizon_days=100_000)
            from kiteconnect import KiteConnect

            from tradesig.broker.tokens import TokenStore

            kite = KiteConnect(handle.api_key, access_token=TokenStore(home).load("kite").access_token,
                               root=handle.rest_url)
            calls = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY" and i["instrument_type"] == "CE"]
            nearest = min(i["expiry"] for i in calls)
            spot = within_rate_limit(lambda: kite.ltp(["NSE:NIFTY 50"]))["NSE:NIFTY 50"]["last_price"]
            atm = min((i for i in calls if i["expiry"] == nearest), key=lambda i: abs(i["strike"] - spot))
            kite.place_order("regular", "NFO", atm["tradingsymbol"], "BUY", atm["lot_size"], "MIS", "MARKET",
                             market_protection=20)
            assert wait_until(lambda: any(p["quantity"] for p in kite.positions()["net"]), 20, step=1.0), kite.orders()
            seen["positions"] = run()
            handle.fault({"kind": "expire_token"})
            seen["token expired"] = run()

        run_service(service, timeout=120, during=during)
        seen["feed stopped"] = run()
    finally:
        handle.stop()

    healthy = seen["healthy"]
    assert [c.name for c in healthy] == list(CHECKS)
    assert failing(healthy) == set(), [c for c in healthy if c.status == "fail"]
    assert all(c.status == "ok" for c in healthy)  # live mode: positions reconciled too
    assert failing(seen["no backup"]) == {"backup"}
    assert failing(seen["disk"]) == {"disk"}
    assert failing(seen["calendar"]) == {"calendar"}
    positions = failing(seen["positions"])
    assert positions == {"positions"}
    diff = next(c for c in seen["positions"] if c.name == "positions").detail
    assert "engine 0, broker" in diff
    expired = failing(seen["token expired"])  # the sim's /instruments, like Kite's dump, may still answer
    assert {"token", "positions"} <= expired and expired <= {"token", "ticker", "ticks", "instruments", "positions"}
    token = next(c for c in seen["token expired"] if c.name == "token")
    assert "login" in (token.fix or "")
    assert {"ticker", "ticks"} <= failing(seen["feed stopped"])
    assert "no feed answering" in next(c for c in seen["feed stopped"] if c.name == "ticker").detail

"""Helpers for the Breeze end-to-end tests: a sim serving Breeze on loopback, the sim's Breeze login page, the
official breeze_connect loaded through tradesig's adapter (and unloaded afterwards, so that other tests import
their own patched copy), the feed in-process with ``--source breeze``."""

from __future__ import annotations

import sys
import urllib.parse
from datetime import time
from pathlib import Path

import pytest
import requests

from tests.e2e.feed_helpers import DAY
from tradesig.config import LoadedConfig, Settings
from tradesig.feed.service import FeedOptions, FeedService
from tradesig.sim.exchange import SimConfig, SimExchange


def start_breeze_sim(files: list[Path], *, start: time, speed: float = 1000, faults=None,
                     wait_for_client: bool = False):
    sim = SimExchange(SimConfig(data_files=files, day=DAY, speed=speed, start=start, faults=faults or [],
                                heartbeat_seconds=0.2, breeze_port=0, wait_for_client=wait_for_client))
    return sim.run_in_thread()


def api_session(handle) -> str:
    """An API session from the sim's Breeze login page (what ICICI's page hands the redirect URL)."""
    resp = requests.get(f"{handle.breeze_url}/apiuser/login", params={"api_key": handle.api_key},
                        allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.headers["Location"]).query)["apisession"][0]


@pytest.fixture
def unload_breeze():
    """Forget breeze_connect (and its top-level ``config``) after the test: the next importer starts clean."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        mod = sys.modules.get(name)
        if name.startswith("breeze_connect") or "breeze_connect" in str(getattr(mod, "__file__", "")):
            del sys.modules[name]


def breeze_login(handle, home: Path) -> None:
    """`tradesig login --broker breeze --sim-url <breeze port>` through the library (official client inside)."""
    from tradesig.broker.login import login
    from tradesig.clock import SystemClock

    login(LoadedConfig(Settings(), None, home), "breeze", clock=SystemClock(), request_token=api_session(handle),
          sim_url=handle.breeze_url)


def breeze_service(home: Path, handle, **opts) -> FeedService:
    options = FeedOptions(source="breeze", sim_url=handle.breeze_url, symbols=opts.pop("symbols", ["NIFTY"]),
                          until=opts.pop("until", time(15, 30, 30)), **opts)
    return FeedService(LoadedConfig(Settings(), None, home), options)


__all__ = ["api_session", "breeze_login", "breeze_service", "start_breeze_sim", "unload_breeze"]

"""`trade backtest` reads its hourly bars and daily closes through the derived-bar cache (tradesig.store.bar_cache):
the output and the events files are the same with the cache cold, warm, and without it (bars read through the
Store as before)."""

from __future__ import annotations

import pytest

from tests.conftest import shared_file
from tradesig.store.bar_cache import BarCache
from tradesig.store.datasets import Store

NIFTY = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"
RANGE = ("--from", "2024-02-01", "--to", "2024-05-31")


def _events(home) -> dict[str, bytes]:
    directory = home / "backtest" / "events"
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_output_and_events_with_and_without_the_cache(run_cli, home, monkeypatch):
    code, _, err = run_cli("history", "import", str(shared_file(NIFTY)))
    assert code == 0, err

    def backtest(fmt: str) -> str:
        code, out, err = run_cli("trade", "backtest", *RANGE, "--format", fmt)
        assert code == 0, err
        return out

    # without the cache: every read through the Store, as before the cache
    with monkeypatch.context() as m:
        m.setattr(BarCache, "read", lambda self, sym, iv, a, b: self._direct(sym, iv, a, b))
        plain = {fmt: backtest(fmt) for fmt in ("json", "csv", "table")}
        plain_events = _events(home)
    assert not (home / "cache").exists() or not list((home / "cache").glob("derived.*"))
    assert '"trades": [' in plain["json"] and len(plain["csv"].splitlines()) > 2

    cold = backtest("json")  # builds the cache
    assert BarCache(home).path("NIFTY", "1h").is_file() and BarCache(home).path("NIFTY", "1d").is_file()
    with monkeypatch.context() as m:
        m.setattr(Store, "read_bars", lambda *a, **k: pytest.fail("read through the Store"))
        warm = {fmt: backtest(fmt) for fmt in ("json", "csv", "table")}
        warm_events = _events(home)
    assert cold == warm["json"] == plain["json"]
    assert warm == plain
    assert warm_events == plain_events

"""Shared fixtures: the real data in ../shared/data, a throwaway data home and config, the CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """Path of a file in ../shared/data; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data file {path} is absent (tests read ../shared/data beside the repo)")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data home, with config and XDG dirs isolated from the user's own."""
    data_home = tmp_path / "home"
    monkeypatch.setenv("TRADESIG_HOME", str(data_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for var in ("TRADESIG_CONFIG", "TRADESIG_KITE_ROOT", "TRADESIG_KITE_WS_ROOT", "CREDENTIALS_DIRECTORY",
                "STATE_DIRECTORY", "TRADESIG_KITE_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return data_home


@pytest.fixture
def run_cli(home: Path, capsys: pytest.CaptureFixture[str]):
    """Run ``tradesig ARGS`` in-process; returns (exit_code, stdout, stderr)."""
    from tradesig.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(autouse=True)
def _no_calendar_horizon_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether the calendar's horizon warning shows depends on today's date: tests that are not about it run as if
    coverage were far away (tests/test_calendar_special.py sets the clock and the 45 days back)."""
    monkeypatch.setattr("tradesig.calendar.HORIZON_WARN_DAYS", -10**6)
    monkeypatch.setenv("TRADESIG_CALENDAR_WARN_DAYS", str(-10**6))  # the CLI run as a subprocess, too


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (the README's ``-n auto --dist loadgroup``): the end-to-end tests (marked ``e2e``, or
    anywhere under tests/e2e: a sim replaying the day against feeds, demos and browsers) form one group and run one
    after the other in one worker, as they did before xdist, never two side by side; the tests of a module that
    share one of its module- or class-scoped fixtures (a backtest home, a calendar) form one group, so the fixture
    is built once; every other test is handed out on its own."""
    for item in items:
        if item.get_closest_marker("e2e") is not None or "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.xdist_group("e2e"))
            continue
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", {}) if info is not None else {}
        if any(d and d[-1].scope in ("module", "class") for d in defs.values()):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))

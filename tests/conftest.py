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


def _is_e2e(item: pytest.Item) -> bool:
    return item.get_closest_marker("e2e") is not None or "/tests/e2e/" in str(item.path)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the run for pytest-xdist (the README's ``-n auto --dist loadfile``, with ``--no-loadscope-reorder``
    from pyproject's addopts): each test module runs whole in one worker (its module-scoped fixtures — a replayed
    day, a backtest home — are built once), and modules are handed out in the order of ``items``, which this puts
    as: end-to-end modules marked ``slow`` (the longest replays), the other end-to-end modules (a sim replaying
    the day against feeds, demos and browsers), then the rest, so that the long replays start first and the short
    tests fill both cores around them. (``--dist loadgroup`` is not used: with pytest 9.2 and pytest-xdist 3.8 its
    group suffix no longer reaches the test ids, so groups were silently ignored.)"""
    items.sort(key=lambda item: 0 if _is_e2e(item) and item.get_closest_marker("slow") else 1 if _is_e2e(item)
               else 2)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the CPUs this process may use. The end-to-end tests spend about half
    their wall time waiting on a replay's clock (a sim paced in market time, a feed, a browser); the extra worker
    runs other tests meanwhile instead of leaving a core idle."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus + 1

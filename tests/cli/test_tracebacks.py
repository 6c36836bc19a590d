"""Issue 15 item 9: the nine inputs that used to end in a traceback now give one line and a documented exit code.

(config check on a non-UTF-8 / 5000-deep file and config init under a file or in /proc: tests/test_config.py;
history import into a home under a file: tests/cli/test_history_cli.py; backup restore of a traversal archive:
tests/test_backup.py. The rest are here; tests/cli/test_broken_inputs.py sweeps every subcommand.)
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


def one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.fixture
def under_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory\n", encoding="utf-8")
    return blocker / "home"


def test_trade_flatten_paper_with_home_under_a_file(run_cli, under_a_file):
    code, out, err = run_cli("--home", str(under_a_file), "trade", "flatten", "--mode", "paper")
    assert code == 2 and out == ""
    assert f"data home {under_a_file}: cannot be created" in one_line(err)


@pytest.mark.parametrize("home", ["under-a-file", "/proc/tradesig-home"])
def test_feed_with_unwritable_home_fails_at_start(run_cli, under_a_file, home):
    """Before: the feed waited for a token and failed only at shutdown. Now: exit 2 at once, before any wait."""
    if home.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    path = str(under_a_file) if home == "under-a-file" else home
    code, out, err = run_cli("--home", path, "feed", "--until", "none")
    assert code == 2 and out == ""
    assert f"data home {path}: cannot be" in one_line(err)


def test_require_writable_home_creates_and_probes(tmp_path):
    from tradesig.config import require_writable_home

    home = tmp_path / "a" / "b"
    assert require_writable_home(home) == home and home.is_dir() and list(home.iterdir()) == []


def test_sim_serve_on_a_busy_port(run_cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_cli("sim", "serve", "--port", str(port), "--linger", "0")
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in one_line(err)

"""The CLI's shared machinery: one --format type, one date/time parser, one output path, global options anywhere,
the running mode as the default of trade positions/orders/status, shell completion."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradesig.cli._common import Format, output, running_mode
from tradesig.cli.main import hoist_global_options

BAD_DATES = [
    ("calendar", "is-trading-day", "2024-13-01"),
    ("calendar", "status", "--at", "2024-13-01 10:00"),
    ("history", "show", "NIFTY", "--from", "2024-13-01"),
    ("trade", "orders", "--date", "2024-13-01"),
    ("trade", "backtest", "--from", "2024-13-01", "--to", "2024-06-01"),
    ("signals", "weekly", "NIFTY", "--from", "2024-13-01"),
    ("signals", "NIFTY", "--date", "2024-13-01"),
    ("report", "daily", "--date", "2024-13-01"),
    ("sim", "serve", "--date", "2024-13-01"),
    ("demo", "--date", "2024-13-01"),
    ("history", "backfill", "--to", "2024-13-01"),
]


@pytest.mark.parametrize("args", BAD_DATES, ids=lambda a: " ".join(a[:2]))
def test_a_bad_date_is_the_same_one_line_usage_error_everywhere(run_cli, args):
    code, out, err = run_cli(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    assert "not a date" in err and "2024-13-01" in err and "--help" in err
    assert err.startswith(f"tradesig: {args[0]}")


def test_bad_time_and_unsupported_format_are_usage_errors(run_cli):
    code, _, err = run_cli("calendar", "in-session", "--from", "8h55")
    assert code == 2 and err.count("\n") == 1 and "'8h55' is not an HH:MM time" in err
    code, _, err = run_cli("calendar", "status", "--format", "csv")
    assert code == 2 and err.count("\n") == 1 and "use one of: text, json" in err
    code, _, err = run_cli("trade", "status", "--format", "yaml")
    assert code == 2 and "use one of: table, json" in err


def test_one_format_enum_and_every_format_option_uses_it():
    """Every --format option of every command parses into the one Format enum."""
    import typer

    from tradesig.cli.main import app

    def leaves(cmd):
        if hasattr(cmd, "list_commands"):
            ctx = typer.Context(cmd)
            for name in cmd.list_commands(ctx):
                yield from leaves(cmd.get_command(ctx, name))
        else:
            yield cmd

    found = 0
    for cmd in leaves(typer.main.get_command(app)):
        for param in cmd.params:
            if "--format" in getattr(param, "opts", []):
                found += 1
                assert param.type_descriptor.annotation is Format, cmd.name
                choices = param.type_descriptor.parameter_info.parser.choices
                assert param.default == choices[0] and set(choices) <= {f.value for f in Format}
    assert found >= 15


ROWS = [{"ts": datetime(2024, 6, 4, 4, 45, tzinfo=UTC), "name": "S8", "pnl": -12.5, "qty": 25},
        {"ts": "2026-11-20T04:00:07.123456+00:00", "name": "S3", "pnl": 3.0, "qty": None}]


def test_output_formats(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    cols = ["ts", "name", "pnl", "qty"]
    assert output(ROWS, cols, Format.table).splitlines() == [
        "ts                   name     pnl  qty",
        "-------------------  ----  ------  ---",
        "2024-06-04 10:15     S8    -12.50   25",
        "2026-11-20 09:30:07  S3      3.00    -",
    ]
    assert output(ROWS, cols, Format.csv).splitlines() == [
        "ts,name,pnl,qty", "2024-06-04 10:15,S8,-12.50,25", "2026-11-20T04:00:07.123456+00:00,S3,3.00,"]
    data = json.loads(output(ROWS, cols, Format.json))
    assert data[0]["ts"] == "2024-06-04T04:45:00+00:00" and data[1]["qty"] is None and list(data[0]) == sorted(cols)


def test_colour_on_a_terminal_plain_with_no_color(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    coloured = output(ROWS, ["ts", "name", "pnl"], Format.table)
    assert "\x1b[" in coloured and "S8" in coloured and "-12.50" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    plain = output(ROWS, ["ts", "name", "pnl"], Format.table)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert plain == output(ROWS, ["ts", "name", "pnl"], Format.table) and "\x1b[" not in plain


def _pty_run(argv: list[str], env: dict[str, str]) -> bytes:
    """stdout of ARGV run on a pseudo-terminal (the child sees a TTY), as bytes with CRLF turned back to LF."""
    import pty
    import subprocess

    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO once the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait()
    os.close(leader)
    return b"".join(chunks).replace(b"\r\n", b"\n")


def test_terminal_colour_and_no_color_byte_identical_to_a_pipe(home, tmp_path):
    import subprocess
    import sys

    argv = [sys.executable, "-m", "tradesig", "calendar", "holidays", "2026"]
    env = {**os.environ, "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    piped = subprocess.run(argv, capture_output=True, env=env, check=True).stdout
    assert b"\x1b[" not in piped and piped.startswith(b"date        weekday")
    on_tty = _pty_run(argv, env)
    assert b"\x1b[" in on_tty and b"2026-01-26" in on_tty
    assert _pty_run(argv, {**env, "NO_COLOR": "1"}) == piped


def test_global_options_after_the_subcommand(run_cli, tmp_path):
    assert hoist_global_options(["trade", "status", "-v", "--home", "H", "--format", "json"]) == \
        ["-v", "--home", "H", "trade", "status", "--format", "json"]
    assert hoist_global_options(["--config", "C", "calendar", "status", "--home=H", "-vv"]) == \
        ["--config", "C", "--home=H", "-vv", "calendar", "status"]
    assert hoist_global_options(["sim", "fault", "--", "-v"]) == ["sim", "fault", "--", "-v"]
    other = tmp_path / "other-home"
    code, out, err = run_cli("trade", "flatten", "--mode", "paper", "--home", str(other))
    assert code == 0, err
    assert (other / "trade" / "kill-switch.json").exists()


def _state(home: Path, mode: str, pid: int, ts: str) -> None:
    path = home / "trade" / f"state-{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    basket = {"id": f"{mode}1", "symbol": "NIFTY", "signal": "S8", "main": "NIFTY24JUN23350CE", "hedge": "x",
              "main_qty": 25, "hedge_qty": 25, "main_entry": 10.0, "hedge_entry": 5.0, "net_premium": 125.0,
              "opened_at": "2024-06-04T05:45:00.123456+00:00", "expiry": "2024-06-06"}
    path.write_text(json.dumps({"ts": ts, "open": [basket], "closed_today": [], "day_pnl": 0.0, "pid": pid,
                                "mode": mode}))


def test_trade_views_default_to_the_running_mode(run_cli, home):
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    assert running_mode(home) == "paper"
    _state(home, "paper", os.getpid(), "2024-06-04T05:50:00.654321+00:00")
    _state(home, "live", dead, "2024-06-04T05:40:00+00:00")
    assert running_mode(home) == "paper"
    code, out, _ = run_cli("trade", "positions")
    assert code == 0 and "paper1" in out and "2024-06-04 11:15  " in out and ".123456" not in out
    code, out, _ = run_cli("trade", "status")
    lines = out.splitlines()
    assert lines[3].startswith("paper  2024-06-04 11:20") and lines[4].startswith("live ")
    assert ".654321" not in out and "+00:00" not in out
    data = json.loads(run_cli("trade", "status", "--format", "json")[1])
    assert data["modes"]["paper"]["updated"] == "2024-06-04T05:50:00.654321+00:00"  # JSON stays UTC ISO
    _state(home, "live", os.getpid(), "2024-06-04T05:40:00+00:00")
    assert running_mode(home) == "live"
    assert "live1" in run_cli("trade", "positions")[1]
    assert "paper1" in run_cli("trade", "positions", "--mode", "paper")[1]


def test_shell_completion(run_cli):
    code, out, _ = run_cli("--show-completion", "bash")
    assert code == 0 and "_TRADESIG_COMPLETE" in out
    code, out, _ = run_cli("--help")
    assert "--install-completion" in out


def test_completion_offers_subcommands_and_a_commands_own_formats(home):
    import subprocess
    import sys

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_TRADESIG_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        done = subprocess.run([sys.executable, "-m", "tradesig"], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("tradesig trade po", 2) == ["positions"]
    assert complete("tradesig calendar status --format ", 4) == ["text", "json"]
    assert complete("tradesig trade backtest --format ", 4) == ["table", "json", "csv"]

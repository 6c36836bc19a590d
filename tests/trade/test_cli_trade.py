"""`tradesig trade` through the CLI: backtest over the real 2024 NIFTY bars (all formats), status, flatten (paper),
resume, positions/orders without an engine, errors and exit codes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.conftest import shared_file

NIFTY = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"


@pytest.fixture
def imported(run_cli):
    code, _, err = run_cli("history", "import", str(shared_file(NIFTY)))
    assert code == 0, err
    return run_cli


def test_backtest_real_2024_table_json_csv(imported):
    run = imported
    code, out, err = run("trade", "backtest", "--from", "2024-01-01", "--to", "2024-08-23")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Backtest NIFTY 2024-01-01 .. 2024-08-23 [modelled]"
    assert lines[1].split() == ["signal", "side", "opened_at", "closed_at", "main", "quantity", "exit_reason",
                                "net_pnl"]  # the columns a trader scans
    table = lines[1:lines.index("")]
    assert max(map(len, table)) <= 120, max(map(len, table))
    assert table[2].split()[2:4] == ["2024-01-08", "11:15"]  # IST, no seconds, no offset
    wide = run("trade", "backtest", "--from", "2024-01-01", "--to", "2024-08-23", "--wide")[1].splitlines()
    assert wide[1].split()[:4] == ["id", "signal", "side", "opened_at"] and "price_source" in wide[1]
    assert len(wide) == len(lines)
    assert any(line.startswith("trades ") and "win rate" in line for line in lines)
    assert any(line.startswith("gross P&L") and "max drawdown" in line for line in lines)
    # the IV comes from the index's own stored closes (tradesig.volatility), and the note names that source
    assert lines[-1].startswith("premiums: premiums modelled with Black-Scholes (iv 60-session realised vol of NIFTY")

    code, out, _ = run("trade", "backtest", "--from", "2024-01-01", "--to", "2024-08-23", "--format", "json")
    data = json.loads(out)
    s = data["summary"]
    assert s["trades"] == len(data["trades"]) >= 10 and s["modelled"] is True
    assert set(s) >= {"trades", "wins", "win_rate_pct", "gross_pnl", "charges", "net_pnl", "max_drawdown"}
    assert abs(s["gross_pnl"] - s["charges"] - s["net_pnl"]) < 0.05
    assert s["win_rate_pct"] == pytest.approx(100 * s["wins"] / s["trades"], abs=0.01)
    table_summary = next(line for line in (run("trade", "backtest", "--from", "2024-01-01", "--to",
                                                "2024-08-23")[1]).splitlines() if line.startswith("trades "))
    assert table_summary.startswith(f"trades {s['trades']} ")

    code, out, _ = run("trade", "backtest", "--from", "2024-01-01", "--to", "2024-08-23", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == s["trades"]
    assert s["iv_source"].startswith("60-session realised vol of NIFTY")
    assert {r["price_source"] for r in rows} == {f"modelled [iv {s['iv_source']}]"}
    assert {r["modelled"] for r in rows} == {"True"}


def test_backtest_strategy_filter_and_lots(imported):
    code, out, _ = imported("trade", "backtest", "--from", "2024-01-01", "--to", "2024-08-23", "--strategies", "S7",
                            "--lots", "2", "--format", "json")
    assert code == 0
    trades = json.loads(out)["trades"]
    assert trades and {t["signal"] for t in trades} == {"S7"}
    assert {t["lots"] for t in trades} == {2}
    assert all(t["quantity"] in (50, 100) for t in trades)


def test_backtest_without_bars_or_bad_args(run_cli):
    code, _, err = run_cli("trade", "backtest", "--from", "2024-01-01", "--to", "2024-01-31")
    assert code == 2 and "no NIFTY bars stored" in err and "history import" in err
    code, _, err = run_cli("trade", "backtest", "--from", "2024-01-31", "--to", "2024-01-01")
    assert code == 2
    code, _, err = run_cli("trade", "backtest", "--from", "2024-01-01", "--to", "2024-01-31", "--strategies", "S9")
    assert code == 2 and "S9" in err


def test_kill_switch_commands_paper(run_cli, home):
    code, out, _ = run_cli("trade", "status")
    assert code == 0 and "kill switch: off" in out
    code, out, _ = run_cli("trade", "flatten", "--mode", "paper", "--reason", "test stop")
    assert code == 0 and "kill switch engaged" in out
    assert (home / "trade" / "kill-switch.json").exists()
    code, out, _ = run_cli("trade", "status", "--format", "json")
    assert json.loads(out)["kill_switch"]["reason"] == "test stop"
    code, out, _ = run_cli("trade", "resume")
    assert code == 0 and out.strip() == "kill switch released"
    code, out, _ = run_cli("trade", "resume")
    assert out.strip() == "kill switch was not engaged"
    events = (home / "events").glob("*.jsonl")
    kinds = [json.loads(line)["kind"] for f in events for line in f.read_text().splitlines()]
    assert kinds.count("kill_switch") == 3


def test_positions_orders_exit_without_engine(run_cli):
    assert run_cli("trade", "positions", "--mode", "paper")[1].strip() == "no open positions"
    assert run_cli("trade", "orders", "--mode", "paper")[1].strip() == "no orders today"
    code, _, err = run_cli("trade", "exit", "abc", "--mode", "paper")
    assert code == 2 and "no open paper position 'abc'" in err
    code, _, err = run_cli("trade", "positions", "--mode", "paper", "--source", "broker")
    assert code == 2


@pytest.mark.parametrize("cmd", ["start", "backtest", "status", "positions", "orders", "exit", "flatten", "resume"])
def test_help(run_cli, cmd):
    code, out, _ = run_cli("trade", cmd, "--help")
    assert code == 0 and "Usage" in out

"""Preflight's checks one by one (pure parts, the backup check on real archives) and the command's output:
one line per check, --format json, exit 1 when any fails. The whole run against the sim: tests/e2e."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from tradesig.backup import create_backup
from tradesig.preflight import (
    CHECKS,
    Check,
    backup_check,
    calendar_check,
    day_need,
    disk_check,
    health_checks,
    positions_diff,
)

URL = "http://127.0.0.1:8765/health"


def test_health_checks():
    ok = {"connected": True, "waiting_for_token": False, "last_tick_age_s": 0.4, "ticks_per_s": 12.0,
          "source": "kite", "reconnects": 0}
    assert [c.status for c in health_checks(ok, None, URL, 60)] == ["ok", "ok"]
    ticker, ticks = health_checks(None, "connection refused", URL, 60)
    assert (ticker.status, ticks.status) == ("fail", "fail") and "no feed answering" in ticker.detail
    ticker, _ = health_checks({**ok, "connected": False, "waiting_for_token": True}, None, URL, 60)
    assert ticker.status == "fail" and "refused the token" in ticker.detail and "login" in ticker.fix
    _, ticks = health_checks({**ok, "last_tick_age_s": 95.0, "phase": "OPEN"}, None, URL, 60)
    assert ticks.status == "fail" and "95 s ago" in ticks.detail
    _, ticks = health_checks({**ok, "last_tick_age_s": None, "phase": "OPEN"}, None, URL, 60)
    assert ticks.status == "fail" and "no tick" in ticks.detail
    _, ticks = health_checks({**ok, "last_tick_age_s": None, "phase": "PRE_OPEN"}, None, URL, 60)
    assert ticks.status == "skip" and "no tick yet; phase PRE_OPEN" in ticks.detail  # 09:05: quiet indices
    _, ticks = health_checks({**ok, "last_tick_age_s": 0.5, "phase": "PRE_OPEN"}, None, URL, 60)
    assert ticks.status == "ok"


def test_calendar_check():
    last = date(2026, 12, 31)
    assert calendar_check(lambda d: d <= last, last, date(2026, 11, 2), 14).status == "ok"
    near = calendar_check(lambda d: d <= last, last, date(2026, 12, 22), 14)
    assert near.status == "fail" and "only 9 more days" in near.detail
    beyond = calendar_check(lambda d: d <= last, last, date(2027, 1, 4), 14)
    assert beyond.status == "fail" and "no market calendar data for 2027-01-04" in beyond.detail


def test_disk_check_and_need(tmp_path):
    assert disk_check(5 << 30, 1 << 30).status == "ok"
    assert disk_check(1 << 29, 1 << 30).status == "fail"
    day = tmp_path / "journal" / "2024-06-04"
    day.mkdir(parents=True)
    (day / "seg").write_bytes(b"x" * 1000)
    (tmp_path / "ticks" / "date=2024-06-04").mkdir(parents=True)
    (tmp_path / "ticks" / "date=2024-06-04" / "p.parquet").write_bytes(b"y" * 500)
    assert day_need(tmp_path, 100) == 3000 and day_need(tmp_path, 10_000) == 10_000


def test_positions_diff():
    engine = [{"main": "NIFTY2460622500CE", "hedge": "NIFTY2460622700CE", "main_qty": 25, "hedge_qty": 25}]
    assert positions_diff(engine, {"NIFTY2460622500CE": -25, "NIFTY2460622700CE": 25}) == []
    assert positions_diff(engine, {"NIFTY2460622500CE": -25}) == ["NIFTY2460622700CE: engine 25, broker 0"]
    assert positions_diff([], {"X": 50}) == ["X: engine 0, broker 50"]


def test_backup_check(tmp_path):
    home, dest = tmp_path / "home", tmp_path / "backups"
    (home / "events").mkdir(parents=True)
    (home / "events" / "2024-06-04.jsonl").write_text('{"kind": "x"}\n', encoding="utf-8")
    assert backup_check(dest, datetime.now(UTC), timedelta(hours=36)).status == "fail"
    made = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    archive = create_backup(home, dest, now=made).archive
    assert backup_check(dest, made + timedelta(hours=10), timedelta(hours=36)).status == "ok"
    old = backup_check(dest, made + timedelta(hours=50), timedelta(hours=36))
    assert old.status == "fail" and "50 h old" in old.detail
    archive.with_name(archive.name + ".verified").write_text("0" * 64 + "\n", encoding="utf-8")
    unverified = backup_check(dest, made + timedelta(hours=1), timedelta(hours=36))
    assert unverified.status == "fail" and "not verified" in unverified.detail


def fake_run(results):
    def run(loaded, options, *, clock, market_now=None):
        return results
    return run


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_lines_json_and_exit_code(run_cli, home, monkeypatch, fmt):
    import tradesig.preflight as preflight

    good = [Check(name, "ok", f"{name} fine") for name in CHECKS[:-1]] + [Check("positions", "skip", "paper")]
    monkeypatch.setattr(preflight, "run_preflight", fake_run(good))
    code, out, err = run_cli("preflight", "--format", fmt)
    assert code == 0 and err == ""
    if fmt == "json":
        doc = json.loads(out)
        assert doc["ok"] is True and [c["name"] for c in doc["checks"]] == list(CHECKS)
    else:
        assert len(out.splitlines()) == len(CHECKS) and out.splitlines()[0] == "ok   token       token fine"
        assert out.splitlines()[-1] == "SKIP positions   paper"
    bad = good[:5] + [Check("disk", "fail", "0.1 GiB free", "free space")] + good[6:]
    monkeypatch.setattr(preflight, "run_preflight", fake_run(bad))
    code, out, err = run_cli("preflight", "--format", fmt)
    assert code == 1
    if fmt == "json":
        assert json.loads(out)["ok"] is False
    else:
        assert "FAIL disk        0.1 GiB free -> free space" in out.splitlines()

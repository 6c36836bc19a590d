"""``tradesig calendar``: exit codes, exact output per format, overrides, IST on a UTC host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calendar-cache")


@pytest.fixture
def cal_cli(run_cli, home: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    return run_cli


@pytest.fixture
def overrides_file(home: Path) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "tradesig" / "calendar-overrides.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_is_trading_day_yes(cal_cli):
    code, out, err = cal_cli("calendar", "is-trading-day", "2026-11-20")
    assert (code, out, err) == (0, "2026-11-20: trading day (regular session, 09:15-15:30 IST)\n", "")


def test_is_trading_day_holiday(cal_cli):
    code, out, _ = cal_cli("calendar", "is-trading-day", "2026-01-15")
    assert code == 1
    assert out == "2026-01-15: not a trading day (Municipal Corporation elections in Maharashtra)\n"


def test_is_trading_day_weekend(cal_cli):
    code, out, _ = cal_cli("calendar", "is-trading-day", "2026-11-21")
    assert (code, out) == (1, "2026-11-21: not a trading day (weekend)\n")


def test_is_trading_day_beyond_coverage_is_255(cal_cli):
    code, out, err = cal_cli("calendar", "is-trading-day", "2027-01-04")
    assert code == 255
    assert out == ""
    assert err.count("\n") == 1
    assert "no market calendar data for 2027-01-04" in err
    assert "pip install -U exchange-calendars" in err and "extend_to" in err


def test_is_trading_day_bad_date_is_usage_error(cal_cli):
    code, _, err = cal_cli("calendar", "is-trading-day", "2026-02-30")
    assert code == 2 and "not a date" in err


def test_is_trading_day_today_answers(cal_cli):
    code, out, _ = cal_cli("calendar", "is-trading-day")
    # today (IST) is either a trading day, a non-trading day, or past coverage: never another code
    assert code in (0, 1, 255)
    if code in (0, 1):
        assert "trading day" in out


@pytest.mark.parametrize(("at", "phase"), [
    ("2026-11-20 09:00", "PRE_OPEN"), ("2026-11-20 08:59:59", "CLOSED"),
    ("2026-11-20 09:08", "PRE_OPEN_MATCH"), ("2026-11-20 09:07:59", "PRE_OPEN"),
    ("2026-11-20 09:15", "OPEN"), ("2026-11-20 09:14:59", "PRE_OPEN_MATCH"),
    ("2026-11-20 15:30", "CLOSING"), ("2026-11-20 15:29:59", "OPEN"),
    ("2026-11-20 15:40", "POST_CLOSE"), ("2026-11-20 15:39:59", "CLOSING"),
    ("2026-11-20 16:00", "CLOSED"), ("2026-11-20 15:59:59", "POST_CLOSE"),
])
def test_status_at_each_boundary(cal_cli, at, phase):
    code, out, _ = cal_cli("calendar", "status", "--at", at, "--format", "json")
    assert code == 0
    assert json.loads(out)["phase"] == phase


def test_status_text_exact(cal_cli):
    code, out, _ = cal_cli("calendar", "status", "--at", "2026-11-20 15:29:59")
    assert code == 0
    assert out == ("2026-11-20 15:29:59 IST  OPEN  (regular session 09:15-15:30); next CLOSING at "
                   "2026-11-20 15:30 IST, in 0h00m01s\n")


def test_status_json_schema(cal_cli):
    code, out, _ = cal_cli("calendar", "status", "--at", "2026-11-20 16:00", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["phase"] == "CLOSED" and data["trading_day"] is True
    assert data["next_phase"] == "PRE_OPEN" and data["next_change"] == "2026-11-23T09:00:00+05:30"
    assert data["seconds_to_next"] == 65 * 3600
    assert data["session"]["open"] == "2026-11-20T09:15:00+05:30" and data["session"]["special"] is False
    assert set(data) == {"at", "phase", "trading_day", "session", "next_phase", "next_change", "seconds_to_next"}


def test_status_on_holiday(cal_cli):
    code, out, _ = cal_cli("calendar", "status", "--at", "2026-01-15 11:00", "--format", "json")
    data = json.loads(out)
    assert (code, data["phase"], data["trading_day"], data["session"]) == (0, "CLOSED", False, None)
    assert data["next_change"] == "2026-01-16T09:00:00+05:30"


def test_status_bad_at(cal_cli):
    code, _, err = cal_cli("calendar", "status", "--at", "yesterday")
    assert code == 2 and "--at" in err


def test_status_beyond_coverage(cal_cli):
    code, _, _ = cal_cli("calendar", "status", "--at", "2026-12-31 16:00")
    assert code == 255  # the next phase change would be in 2027


def test_next_open(cal_cli):
    code, out, _ = cal_cli("calendar", "next-open", "--at", "2026-11-20 16:00")
    assert (code, out) == (0, "2026-11-23 09:15 IST (in 2d17h15m00s)\n")
    code, out, _ = cal_cli("calendar", "next-open", "--at", "2026-11-20 09:00", "--format", "json")
    assert json.loads(out) == {"at": "2026-11-20T09:00:00+05:30", "next_open": "2026-11-20T09:15:00+05:30",
                               "seconds": 900}


def test_holidays_table_csv_json(cal_cli):
    code, out, _ = cal_cli("calendar", "holidays", "2026")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["date", "weekday", "name"] and len(lines) == 2 + 16
    assert lines[2] == "2026-01-15  Thursday  Municipal Corporation elections in Maharashtra"
    code, out, _ = cal_cli("calendar", "holidays", "2026", "--format", "csv")
    assert out.splitlines()[1] == "2026-01-15,Thursday,Municipal Corporation elections in Maharashtra"
    code, out, _ = cal_cli("calendar", "holidays", "2026", "--format", "json")
    rows = json.loads(out)
    assert len(rows) == 16 and rows[-1] == {"date": "2026-12-25", "weekday": "Friday", "name": "Christmas"}


def test_holidays_beyond_coverage(cal_cli):
    code, _, err = cal_cli("calendar", "holidays", "2027")
    assert code == 255 and "2027" in err


def test_muhurat_from_override_file(cal_cli, overrides_file: Path):
    overrides_file.write_text('[[session]]\ndate = "2026-11-08"\nname = "Muhurat trading"\n'
                              'open = "18:00"\nclose = "19:00"\n', encoding="utf-8")
    code, out, _ = cal_cli("calendar", "is-trading-day", "2026-11-08")
    assert (code, out) == (0, "2026-11-08: trading day (Muhurat trading session, 18:00-19:00 IST)\n")
    code, out, _ = cal_cli("calendar", "status", "--at", "2026-11-08 18:30")
    assert code == 0
    assert out.startswith("2026-11-08 18:30 IST  OPEN  (Muhurat trading session 18:00-19:00); next CLOSING at "
                          "2026-11-08 19:00 IST")
    code, out, _ = cal_cli("calendar", "status", "--at", "2026-11-08 17:50", "--format", "json")
    data = json.loads(out)
    assert data["phase"] == "PRE_OPEN" and data["session"]["special"] is True
    assert data["session"]["pre_open"] == "2026-11-08T17:45:00+05:30"
    code, out, _ = cal_cli("calendar", "next-open", "--at", "2026-11-06 16:00")
    assert out.startswith("2026-11-08 18:00 IST")


def test_extra_holiday_from_override_file(cal_cli, overrides_file: Path):
    overrides_file.write_text('[[holiday]]\ndate = 2026-11-23\nname = "unscheduled closure"\n', encoding="utf-8")
    code, out, _ = cal_cli("calendar", "is-trading-day", "2026-11-23")
    assert (code, out) == (1, "2026-11-23: not a trading day (unscheduled closure)\n")


def test_bad_override_file_is_config_error(cal_cli, overrides_file: Path):
    overrides_file.write_text('[[holiday]]\ndate = "someday"\n', encoding="utf-8")
    code, _, err = cal_cli("calendar", "is-trading-day", "2026-11-23")
    assert code == 2 and "holiday[0].date" in err and err.count("\n") == 1


@pytest.mark.parametrize(("at", "expected"), [
    ("2026-11-20 08:54:59", 1), ("2026-11-20 08:55", 0), ("2026-11-20 10:00", 0), ("2026-11-20 15:34:59", 0),
    ("2026-11-20 15:35", 1), ("2026-11-20 16:00", 1), ("2026-11-21 10:00", 1), ("2026-01-15 10:00", 1),
])
def test_in_session_window(cal_cli, at, expected):
    code, out, _ = cal_cli("calendar", "in-session", "--at", at, "--from", "08:55", "--to", "15:35")
    assert code == expected
    assert ("inside" in out) == (expected == 0)


def test_in_session_defaults_and_bad_time(cal_cli):
    assert cal_cli("calendar", "in-session", "--at", "2026-11-20 15:39")[0] == 0
    assert cal_cli("calendar", "in-session", "--at", "2026-11-20 15:40")[0] == 1
    code, _, err = cal_cli("calendar", "in-session", "--at", "2026-11-20 10:00", "--from", "9am")
    assert code == 2 and "--from" in err
    assert cal_cli("calendar", "in-session", "--at", "2027-01-04 10:00")[0] == 255


def test_ist_on_a_utc_host(home: Path, shared_cache: Path):
    """A subprocess with TZ=UTC: an ISO UTC instant is read as IST, and 'today' is the IST date."""
    env = dict(os.environ, TZ="UTC", XDG_CACHE_HOME=str(shared_cache))
    env.pop("CACHE_DIRECTORY", None)
    cmd = [sys.executable, "-m", "tradesig", "calendar", "status", "--at", "2026-11-19T20:00:00+00:00",
           "--format", "json"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    assert data["at"] == "2026-11-20T01:30:00+05:30"
    assert data["session"]["date"] == "2026-11-20" and data["next_change"] == "2026-11-20T09:00:00+05:30"
    code = ("import datetime, sys\nfrom tradesig.cli.calendar import _when\n"
            "print(_when(None).utcoffset() == datetime.timedelta(hours=5, minutes=30))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"

"""Shipped calendar data (tradesig/data/calendar.toml): holiday names 2019–2026, special sessions with their hours,
bars of those sessions stored as regular bars, and the coverage-horizon warning."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.conftest import shared_file
from tradesig.calendar import (
    HOLIDAY_NAMES,
    MarketCalendar,
    Phase,
    build_base_calendar,
    horizon_warning,
)
from tradesig.calendar_files import load_shipped, merge_overrides, parse_overrides
from tradesig.clock import ist
from tradesig.errors import ConfigError


@pytest.fixture(scope="module")
def base():
    return build_base_calendar()


@pytest.fixture(scope="module")
def cal(base):
    return MarketCalendar(base, merge_overrides(load_shipped(), parse_overrides({})))


def test_every_xbom_holiday_2019_2026_has_its_exchange_name(base):
    xbom = {d.isoformat() for d in base.holidays if 2019 <= d.year <= 2026}
    assert set(HOLIDAY_NAMES) == xbom  # named exactly the exchange-calendars holidays, no more, no fewer
    assert HOLIDAY_NAMES["2024-01-22"].startswith("Special holiday")
    assert HOLIDAY_NAMES["2024-05-20"] == "General elections in Mumbai (Lok Sabha)"


def test_holidays_list_names_and_muhurat(cal):
    named = dict(cal.holidays(2024))
    assert named[date(2024, 11, 1)] == "Diwali Laxmi Pujan (special session: Muhurat trading (Samvat 2081) 18:00-19:00)"
    assert "exchange holiday" not in named.values()


@pytest.mark.parametrize(("day", "weekday_or_holiday"), [
    ("2019-10-27", "Sunday"), ("2020-02-01", "Saturday"), ("2020-11-14", "Saturday"),
    ("2021-11-04", "holiday"), ("2022-10-24", "holiday"), ("2023-11-12", "Sunday"), ("2024-01-20", "Saturday"),
    ("2024-03-02", "Saturday"), ("2024-05-18", "Saturday"), ("2024-11-01", "holiday"),
    ("2025-02-01", "Saturday"), ("2025-10-21", "holiday"), ("2026-02-01", "Sunday"),
])
def test_special_sessions_are_trading_days(cal, base, day, weekday_or_holiday):
    d = date.fromisoformat(day)
    assert MarketCalendar(base).is_trading_day(d) is False  # exchange-calendars alone misses them
    assert cal.is_trading_day(d) and cal.session(d).special and cal.session(d).source
    kind = "holiday" if d in base.holidays else d.strftime("%A")
    assert kind == weekday_or_holiday


def test_special_session_hours_and_phases(cal):
    # 2024-01-20: full live session (NSE circular of 2024-01-19)
    jan20 = cal.session(date(2024, 1, 20))
    assert (jan20.open, jan20.close) == (ist(2024, 1, 20, 9, 15), ist(2024, 1, 20, 15, 30))
    # Muhurat 2024: pre-open 17:45, trading 18:00-19:00 (NSE circular of 2024-10-19)
    assert cal.phase(ist(2024, 11, 1, 17, 50)) is Phase.PRE_OPEN
    assert cal.phase(ist(2024, 11, 1, 18, 30)) is Phase.OPEN
    assert cal.phase(ist(2024, 11, 1, 10, 0)) is Phase.CLOSED
    assert cal.phase(ist(2025, 10, 21, 14, 0)) is Phase.OPEN and cal.phase(ist(2025, 10, 21, 14, 50)) is Phase.CLOSING
    # DR drill: 09:15-10:00 primary site, closed, pre-open 11:15-11:23, matching, 11:30-12:30 DR site
    drill = [(9, 30, Phase.OPEN), (10, 30, Phase.CLOSED), (11, 20, Phase.PRE_OPEN), (11, 25, Phase.PRE_OPEN_MATCH),
             (11, 45, Phase.OPEN), (12, 35, Phase.CLOSING), (13, 30, Phase.CLOSED)]
    for hh, mm, phase in drill:
        assert cal.phase(ist(2024, 5, 18, hh, mm)) is phase, (hh, mm)
    assert cal.next_phase_change(ist(2024, 3, 2, 10, 0)) == (Phase.PRE_OPEN, ist(2024, 3, 2, 11, 15))
    # units scheduled for regular hours run only around a special session's own hours
    assert cal.in_window(ist(2024, 11, 1, 17, 50)) and not cal.in_window(ist(2024, 11, 1, 9, 30))


def test_override_wins_and_bad_breaks_are_refused(base):
    user = parse_overrides({"holiday": [{"date": "2025-10-21", "name": "no Muhurat this year"}]})
    merged = MarketCalendar(base, merge_overrides(load_shipped(), user))
    assert not merged.is_trading_day(date(2025, 10, 21))
    with pytest.raises(ConfigError, match="break ends before it starts"):
        parse_overrides({"session": [{"date": "2027-01-02", "breaks": [["11:00", "10:00"]]}]})
    with pytest.raises(ConfigError, match="listed twice"):
        parse_overrides({"holiday": [{"date": "2027-01-26"}, {"date": "2027-01-26"}]})


def test_horizon_warning(cal, monkeypatch):
    monkeypatch.setattr("tradesig.calendar.HORIZON_WARN_DAYS", 45)
    monkeypatch.delenv("TRADESIG_CALENDAR_WARN_DAYS")
    assert cal.last == date(2026, 12, 31)
    assert horizon_warning(cal, date(2026, 11, 15)) is None  # 46 days left
    at_45 = horizon_warning(cal, date(2026, 11, 16))
    assert at_45 and "45 days" in at_45
    today = horizon_warning(cal, date(2026, 12, 2))
    assert today.startswith("warning: the market calendar ends on 2026-12-31 (29 days from 2026-12-02)")
    assert "2027's exchange holiday list" in today and "extend_to = 2027-12-31" in today and "\n" not in today
    assert "ended on 2026-12-31" in horizon_warning(cal, date(2027, 1, 5))


@pytest.fixture
def on_dec_2(monkeypatch):
    """The system clock reads 2026-12-02 08:50 IST (29 days before exchange-calendars' coverage ends)."""
    from tradesig import clock

    monkeypatch.setattr(clock.SystemClock, "now", lambda self: ist(2026, 12, 2, 8, 50))
    monkeypatch.setattr("tradesig.calendar.HORIZON_WARN_DAYS", 45)
    monkeypatch.delenv("TRADESIG_CALENDAR_WARN_DAYS")


def test_config_check_warns_once_and_exits_0(run_cli, on_dec_2):
    code, out, err = run_cli("config", "check", "--no-credentials")
    assert code == 0 and "ok" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: the market calendar ends on 2026-12-31 (29 days")


def test_config_check_validates_the_override_file(run_cli, on_dec_2, home):
    from tradesig.calendar import overrides_path

    path = overrides_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('extend_to = 2027-12-31\n[[holiday]]\ndate = 2027-01-26\nname = "Republic Day"\n')
    code, out, err = run_cli("config", "check", "--no-credentials")
    assert code == 0 and err == ""  # coverage now reaches 2027-12-31: no warning
    path.write_text('[[session]]\ndate = 2027-01-02\nopen = "25:00"\nbogus = 1\n')
    code, out, err = run_cli("config", "check", "--no-credentials")
    assert code == 2
    assert "session[0].open: '25:00' is not an HH:MM time" in err and "session[0].bogus: unknown key" in err


def test_token_check_warns_too(run_cli, on_dec_2):
    code, _, err = run_cli("token-check", "--offline", "--sim-url", "http://127.0.0.1:9")
    assert code == 1  # no token stored: the answer is no
    assert sum(line.startswith("warning: the market calendar ends") for line in err.splitlines()) == 1


def _muhurat_csv(path):
    rows = ["Instrument,Date(YYYYMMDD),Time(HH:MM),Open,High,Low,Close"]
    start = datetime(2024, 11, 1, 18, 0)
    for i in range(60):
        t = start + timedelta(minutes=i)
        rows.append(f"NIFTY,{t:%Y%m%d},{t:%H:%M},24300,24310,24290,24305")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_history_import_stores_special_sessions_as_regular_bars(run_cli, tmp_path):
    code, out, err = run_cli("history", "import", str(_muhurat_csv(tmp_path / "muhurat.csv")))
    assert code == 0, err
    assert "outside the regular session" not in out and "gaps: none" in out
    code, out, err = run_cli("history", "import",
                             str(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")))
    assert code == 0, err
    # only the 2024-01-20 post-close flat bars (15:30-18:16) stay outside; the DR drills' breaks are no gaps
    assert "outside the regular session: 167 bars on 1 day(s)" in out and "gaps: none" in out
    from tradesig.config import load_config
    from tradesig.store.datasets import Store

    home = load_config(None, None).home
    assert Store(home).read_bars("NIFTY", "1m", date(2024, 3, 2), date(2024, 3, 2)).height == 105
    assert Store(home).read_bars("NIFTY", "1m", date(2024, 11, 1), date(2024, 11, 1)).height == 60


def test_cli_answers_special_sessions(run_cli):
    import json

    code, out, _ = run_cli("calendar", "is-trading-day", "2024-01-20")
    assert code == 0 and "Special live trading session" in out
    code, out, _ = run_cli("calendar", "status", "--at", "2024-05-18 10:30", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["phase"] == "CLOSED" and data["next_phase"] == "PRE_OPEN"
    assert data["session"]["breaks"] == [["2024-05-18T10:00:00+05:30", "2024-05-18T11:30:00+05:30"]]
    code, out, _ = run_cli("calendar", "holidays", "2021", "--format", "json")
    names = {row["date"]: row["name"] for row in json.loads(out)}
    assert names["2021-11-04"].startswith("Diwali Laxmi Pujan (special session: Muhurat trading")


def test_no_expiry_on_a_muhurat_holiday(cal):
    # 2021-11-04 (Thursday, Diwali) had only the Muhurat session: that week's BANKNIFTY/NIFTY weekly expired on
    # Wednesday 2021-11-03 (the holiday rule), as before the session was known
    assert cal.weekly_expiry("BANKNIFTY", date(2021, 11, 1)) == date(2021, 11, 3)
    assert cal.weekly_expiry("NIFTY", date(2024, 10, 28)) == date(2024, 10, 31)  # 2024-11-01 is a Friday anyway

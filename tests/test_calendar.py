"""tradesig.calendar: agreement with exchange-calendars, the 2026 holiday list, coverage, overrides, phases,
expiries, and the pandas-free cached path."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tradesig.calendar import (
    HOLIDAY_NAMES,
    MarketCalendar,
    Phase,
    build_base_calendar,
    cache_path,
    get_calendar,
    load_base_calendar,
    load_overrides,
    parse_overrides,
)
from tradesig.clock import IST, ist
from tradesig.config import SessionSettings
from tradesig.errors import CalendarCoverageError, ConfigError

# NSE's published trading holidays of 2026 that fall on weekdays (equity and equity derivatives segments),
# including 15 January 2026 (Maharashtra municipal corporation elections). Cross-checked against
# exchange_calendars' XBOM adhoc holidays for 2026.
NSE_2026_WEEKDAY_HOLIDAYS = [
    (date(2026, 1, 15), "Municipal Corporation elections in Maharashtra"),
    (date(2026, 1, 26), "Republic Day"),
    (date(2026, 3, 3), "Holi"),
    (date(2026, 3, 26), "Shri Ram Navami"),
    (date(2026, 3, 31), "Shri Mahavir Jayanti"),
    (date(2026, 4, 3), "Good Friday"),
    (date(2026, 4, 14), "Dr. Baba Saheb Ambedkar Jayanti"),
    (date(2026, 5, 1), "Maharashtra Day"),
    (date(2026, 5, 28), "Bakri Id"),
    (date(2026, 6, 26), "Muharram"),
    (date(2026, 9, 14), "Ganesh Chaturthi"),
    (date(2026, 10, 2), "Mahatma Gandhi Jayanti"),
    (date(2026, 10, 20), "Dussehra"),
    (date(2026, 11, 10), "Diwali Balipratipada"),
    (date(2026, 11, 24), "Prakash Gurpurb Sri Guru Nanak Dev"),
    (date(2026, 12, 25), "Christmas"),
]


@pytest.fixture(scope="module")
def base():
    return build_base_calendar()


@pytest.fixture(scope="module")
def cal(base) -> MarketCalendar:
    return MarketCalendar(base)


@pytest.fixture(scope="module")
def xbom():
    import warnings

    import exchange_calendars as xc

    with warnings.catch_warnings():  # pandas deprecations raised inside exchange-calendars
        warnings.simplefilter("ignore", DeprecationWarning)
        return xc.get_calendar("XBOM")


def _days(start: date, end: date):
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


# -------------------------------------------------------------------------------- agreement and fixtures


def test_agrees_with_exchange_calendars_every_day_2025_2026(cal, xbom):
    sessions = {ts.date() for ts in xbom.sessions_in_range("2025-01-01", "2026-12-31")}
    disagreements = [d for d in _days(date(2025, 1, 1), date(2026, 12, 31))
                     if cal.is_trading_day(d) != (d in sessions)]
    assert disagreements == []
    assert len(sessions) > 480  # two years of sessions, not an empty range


def test_nse_2026_weekday_holidays_fixture(cal, xbom):
    assert len(NSE_2026_WEEKDAY_HOLIDAYS) == 16
    assert all(d.weekday() < 5 for d, _ in NSE_2026_WEEKDAY_HOLIDAYS)
    assert cal.holidays(2026) == NSE_2026_WEEKDAY_HOLIDAYS
    sessions = {ts.date() for ts in xbom.sessions_in_range("2026-01-01", "2026-12-31")}
    for d, _ in NSE_2026_WEEKDAY_HOLIDAYS:
        assert not cal.is_trading_day(d)
        assert d not in sessions
    # and exchange-calendars has no other weekday holiday in 2026
    weekdays = [d for d in _days(date(2026, 1, 1), date(2026, 12, 31)) if d.weekday() < 5]
    xc_holidays = [d for d in weekdays if d not in sessions]
    assert xc_holidays == [d for d, _ in NSE_2026_WEEKDAY_HOLIDAYS]


def test_15_january_2026_is_a_holiday(cal):
    info = cal.day(date(2026, 1, 15))
    assert not info.trading and "Maharashtra" in info.reason


def test_every_named_holiday_is_a_holiday(cal):
    for iso in HOLIDAY_NAMES:
        assert not cal.is_trading_day(date.fromisoformat(iso)), iso


def test_weekend_is_closed_with_reason(cal):
    info = cal.day(date(2026, 11, 21))
    assert not info.trading and info.reason == "weekend"


# -------------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("d", [date(2027, 1, 4), date(2027, 1, 1), date(1996, 12, 31)])
def test_beyond_coverage_raises(cal, d):
    with pytest.raises(CalendarCoverageError) as err:
        cal.is_trading_day(d)
    assert err.value.exit_code == 255
    assert "exchange-calendars" in err.value.hint and "extend_to" in err.value.hint


def test_last_covered_day_answers(cal):
    assert cal.is_trading_day(date(2026, 12, 31)) is True


def test_coverage_errors_propagate_from_every_question(cal):
    with pytest.raises(CalendarCoverageError):
        cal.next_trading_day(date(2026, 12, 31))
    with pytest.raises(CalendarCoverageError):
        cal.holidays(2027)
    with pytest.raises(CalendarCoverageError):
        cal.next_open(ist(2026, 12, 31, 16, 0))
    with pytest.raises(CalendarCoverageError):
        cal.weekly_expiry("NIFTY", date(2026, 12, 30))  # Tuesday 2027-01-05 is beyond coverage


def test_extend_to_with_listed_holidays(base):
    overrides = parse_overrides({"extend_to": "2027-12-31",
                                 "holiday": [{"date": "2027-01-26", "name": "Republic Day"}]})
    cal = MarketCalendar(base, overrides)
    assert cal.is_trading_day(date(2027, 1, 4))
    assert not cal.is_trading_day(date(2027, 1, 26))
    assert not cal.is_trading_day(date(2027, 1, 9))  # Saturday
    assert cal.holidays(2027) == [(date(2027, 1, 26), "Republic Day")]
    with pytest.raises(CalendarCoverageError):
        cal.is_trading_day(date(2028, 1, 3))


# -------------------------------------------------------------------------------- overrides


def test_muhurat_session_from_override_file(base, tmp_path: Path):
    path = tmp_path / "calendar-overrides.toml"
    path.write_text('[[session]]\ndate = 2026-11-08\nname = "Muhurat trading"\n'
                    'pre_open = "17:45"\nopen = "18:00"\nclose = "19:00"\n', encoding="utf-8")
    cal = MarketCalendar(base, load_overrides(path))
    d = date(2026, 11, 8)  # a Sunday
    assert cal.is_trading_day(d)
    s = cal.session(d)
    assert s is not None and s.special and s.name == "Muhurat trading"
    assert (s.pre_open, s.open, s.close) == (ist(2026, 11, 8, 17, 45), ist(2026, 11, 8, 18), ist(2026, 11, 8, 19))
    assert s.pre_open_match == ist(2026, 11, 8, 17, 53)  # default: 7 minutes before the open
    assert (s.closing_end, s.post_close_end) == (ist(2026, 11, 8, 19, 10), ist(2026, 11, 8, 19, 30))
    assert cal.phase(ist(2026, 11, 8, 9, 30)) is Phase.CLOSED
    assert cal.phase(ist(2026, 11, 8, 18, 30)) is Phase.OPEN
    assert cal.next_phase_change(ist(2026, 11, 8, 12, 0)) == (Phase.PRE_OPEN, ist(2026, 11, 8, 17, 45))
    assert cal.next_open(ist(2026, 11, 6, 16, 0)) == ist(2026, 11, 8, 18, 0)
    assert cal.next_trading_day(date(2026, 11, 6)) == d
    # the window of a long-running unit follows the special session's own hours
    assert not cal.in_window(ist(2026, 11, 8, 9, 0), None, None)
    assert not cal.in_window(ist(2026, 11, 8, 9, 0), ist(2026, 11, 8, 8, 55).time(), ist(2026, 11, 8, 15, 35).time())
    assert cal.in_window(ist(2026, 11, 8, 18, 30), ist(2026, 11, 8, 8, 55).time(), ist(2026, 11, 8, 15, 35).time())


def test_special_session_on_a_holiday_stays_listed(base):
    overrides = parse_overrides({"session": [{"date": "2025-10-21", "name": "Muhurat trading",
                                              "open": "13:45", "close": "14:45"}]})
    cal = MarketCalendar(base, overrides)
    assert cal.is_trading_day(date(2025, 10, 21))
    listed = dict(cal.holidays(2025))
    assert listed[date(2025, 10, 21)] == "Diwali Laxmi Pujan (special session: Muhurat trading 13:45-14:45)"


def test_saturday_session_with_regular_hours(base):
    cal = MarketCalendar(base, parse_overrides({"session": [{"date": "2026-02-07", "name": "budget day"}]}))
    s = cal.session(date(2026, 2, 7))
    assert s is not None and s.open == ist(2026, 2, 7, 9, 15) and s.pre_open == ist(2026, 2, 7, 9, 0)
    # regular hours: the unit's own window applies
    assert cal.in_window(ist(2026, 2, 7, 8, 55), ist(2026, 2, 7, 8, 55).time(), ist(2026, 2, 7, 15, 35).time())


def test_extra_holiday_from_override(base):
    cal = MarketCalendar(base, parse_overrides({"holiday": [{"date": "2026-11-23", "name": "sudden closure"}]}))
    info = cal.day(date(2026, 11, 23))
    assert not info.trading and info.reason == "sudden closure"
    assert (date(2026, 11, 23), "sudden closure") in cal.holidays(2026)
    assert cal.next_trading_day(date(2026, 11, 20)) == date(2026, 11, 25)  # 24th is Guru Nanak Jayanti


def test_bad_override_file_lists_every_problem(tmp_path: Path):
    path = tmp_path / "calendar-overrides.toml"
    path.write_text('colour = "red"\n[[holiday]]\ndate = "2026-13-01"\n'
                    '[[session]]\ndate = 2026-11-08\nopen = "25:00"\nwhen = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_overrides(path)
    text = "\n".join(err.value.problems)
    assert "colour: unknown key" in text
    assert "holiday[0].date" in text
    assert "session[0].open" in text
    assert "session[0].when: unknown key" in text
    assert len(err.value.problems) == 4


def test_override_not_toml(tmp_path: Path):
    path = tmp_path / "calendar-overrides.toml"
    path.write_text("[[session\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_overrides(path)


def test_session_times_out_of_order(base):
    cal = MarketCalendar(base, parse_overrides({"session": [{"date": "2026-11-08", "open": "19:00",
                                                             "close": "18:00"}]}))
    with pytest.raises(ConfigError, match="out of order"):
        cal.session(date(2026, 11, 8))


def test_absent_override_file_is_no_overrides(tmp_path: Path):
    assert load_overrides(tmp_path / "none.toml").holidays == {}


# -------------------------------------------------------------------------------- phases

BOUNDARIES = [
    ((9, 0, 0), Phase.PRE_OPEN), ((8, 59, 59), Phase.CLOSED),
    ((9, 8, 0), Phase.PRE_OPEN_MATCH), ((9, 7, 59), Phase.PRE_OPEN),
    ((9, 15, 0), Phase.OPEN), ((9, 14, 59), Phase.PRE_OPEN_MATCH),
    ((15, 30, 0), Phase.CLOSING), ((15, 29, 59), Phase.OPEN),
    ((15, 40, 0), Phase.POST_CLOSE), ((15, 39, 59), Phase.CLOSING),
    ((16, 0, 0), Phase.CLOSED), ((15, 59, 59), Phase.POST_CLOSE),
    ((0, 0, 0), Phase.CLOSED), ((23, 59, 59), Phase.CLOSED),
]


@pytest.mark.parametrize(("hms", "phase"), BOUNDARIES)
def test_phase_at_boundaries(cal, hms, phase):
    assert cal.phase(ist(2026, 11, 20, *hms)) is phase


@pytest.mark.parametrize(("hms", "expected"), [
    ((8, 59, 59), (Phase.PRE_OPEN, (2026, 11, 20, 9, 0))),
    ((9, 0, 0), (Phase.PRE_OPEN_MATCH, (2026, 11, 20, 9, 8))),
    ((9, 8, 0), (Phase.OPEN, (2026, 11, 20, 9, 15))),
    ((9, 15, 0), (Phase.CLOSING, (2026, 11, 20, 15, 30))),
    ((15, 30, 0), (Phase.POST_CLOSE, (2026, 11, 20, 15, 40))),
    ((15, 40, 0), (Phase.CLOSED, (2026, 11, 20, 16, 0))),
    ((16, 0, 0), (Phase.PRE_OPEN, (2026, 11, 23, 9, 0))),  # Friday → Monday
])
def test_next_phase_change(cal, hms, expected):
    phase, when = cal.next_phase_change(ist(2026, 11, 20, *hms))
    assert (phase, when) == (expected[0], ist(*expected[1]))


def test_phase_on_holiday_is_closed(cal):
    assert cal.phase(ist(2026, 1, 15, 10, 0)) is Phase.CLOSED
    assert cal.next_phase_change(ist(2026, 1, 15, 10, 0)) == (Phase.PRE_OPEN, ist(2026, 1, 16, 9, 0))


def test_utc_input_is_read_in_ist(cal):
    # 2026-11-20 03:45 UTC is 09:15 IST; 2026-11-19 20:00 UTC is 01:30 IST on the 20th
    assert cal.phase(datetime(2026, 11, 20, 3, 45, tzinfo=UTC)) is Phase.OPEN
    assert cal.next_phase_change(datetime(2026, 11, 19, 20, 0, tzinfo=UTC)) == (Phase.PRE_OPEN, ist(2026, 11, 20, 9))
    st = cal.status(datetime(2026, 11, 19, 20, 0, tzinfo=UTC))
    assert st.session is not None and st.session.date == date(2026, 11, 20) and st.seconds_to_next == 27000


def test_naive_datetime_refused(cal):
    with pytest.raises(ValueError, match="naive"):
        cal.phase(datetime(2026, 11, 20, 10, 0))


def test_configured_session_times(base):
    cal = MarketCalendar(base, session=SessionSettings(open="09:30"))
    assert cal.phase(ist(2026, 11, 20, 9, 20)) is Phase.PRE_OPEN_MATCH
    assert cal.session(date(2026, 11, 20)).open == ist(2026, 11, 20, 9, 30)


def test_next_open(cal):
    assert cal.next_open(ist(2026, 11, 20, 9, 14, 59)) == ist(2026, 11, 20, 9, 15)
    assert cal.next_open(ist(2026, 11, 20, 9, 15)) == ist(2026, 11, 23, 9, 15)
    assert cal.next_open(ist(2026, 11, 20, 17, 0)) == ist(2026, 11, 23, 9, 15)
    assert cal.next_open(ist(2026, 1, 14, 16, 0)) == ist(2026, 1, 16, 9, 15)  # over the 15 January holiday


def test_in_window_regular_day(cal):
    lo, hi = ist(2026, 1, 1, 8, 55).time(), ist(2026, 1, 1, 15, 35).time()
    assert cal.in_window(ist(2026, 11, 20, 8, 55), lo, hi)
    assert cal.in_window(ist(2026, 11, 20, 10, 0), lo, hi)  # reboot at 10:00 catches up
    assert not cal.in_window(ist(2026, 11, 20, 15, 35), lo, hi)
    assert not cal.in_window(ist(2026, 11, 20, 16, 0), lo, hi)  # reboot at 16:00 does not
    assert not cal.in_window(ist(2026, 11, 20, 8, 54, 59), lo, hi)
    assert not cal.in_window(ist(2026, 11, 21, 10, 0), lo, hi)  # Saturday
    assert cal.in_window(ist(2026, 11, 20, 15, 39), None, None)  # default: pre-open .. closing end
    assert not cal.in_window(ist(2026, 11, 20, 8, 59), None, None)


# -------------------------------------------------------------------------------- trading days and expiry


def test_previous_and_next_trading_day(cal):
    assert cal.next_trading_day(date(2026, 1, 14)) == date(2026, 1, 16)
    assert cal.previous_trading_day(date(2026, 1, 27)) == date(2026, 1, 23)
    assert cal.next_trading_day(date(2026, 11, 20)) == date(2026, 11, 23)
    assert cal.previous_trading_day(date(2026, 11, 23)) == date(2026, 11, 20)


@pytest.mark.parametrize(("symbol", "day", "expiry"), [
    ("NIFTY", date(2026, 11, 18), date(2026, 11, 23)),  # Tuesday 24th is a holiday → Monday 23rd
    ("BANKNIFTY", date(2026, 11, 18), date(2026, 11, 23)),
    ("NIFTY 50", date(2026, 11, 17), date(2026, 11, 17)),  # on expiry day itself
    ("NIFTY", date(2026, 3, 30), date(2026, 3, 30)),  # Tuesday 31st (Mahavir Jayanti) → Monday 30th
    ("NIFTY", date(2026, 3, 31), date(2026, 4, 7)),  # the moved expiry has passed → next Tuesday
    ("SENSEX", date(2026, 3, 26), date(2026, 4, 2)),  # Thursday 26th (Ram Navami) moved to 25th, passed
    ("SENSEX", date(2026, 3, 23), date(2026, 3, 25)),  # … seen from the Monday before
    ("SENSEX", date(2026, 11, 19), date(2026, 11, 19)),
    ("SENSEX", date(2026, 11, 20), date(2026, 11, 26)),
])
def test_weekly_expiry(cal, symbol, day, expiry):
    assert cal.weekly_expiry(symbol, day) == expiry


def test_weekly_expiry_unknown_symbol(cal):
    with pytest.raises(KeyError):
        cal.weekly_expiry("DOWJONES", date(2026, 11, 18))


# -------------------------------------------------------------------------------- cache


def test_cache_round_trip_and_rebuild(tmp_path: Path, base):
    first = load_base_calendar(tmp_path)
    assert first == base
    path = cache_path(tmp_path)
    assert path.exists() and path.stat().st_size < 64_000
    assert load_base_calendar(tmp_path) == base
    path.write_text("{not json", encoding="utf-8")
    assert load_base_calendar(tmp_path) == base  # corrupt cache rebuilt
    assert load_base_calendar(tmp_path / "file-not-dir" / "x") == base  # parent creatable
    blocker = tmp_path / "blocker"
    blocker.write_text("", encoding="utf-8")
    assert load_base_calendar(blocker / "sub") == base  # unwritable cache dir: still answers


def test_cached_path_imports_no_pandas(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "CACHE_DIRECTORY"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "cfg"), TZ="UTC")
    code = ("import sys\nfrom tradesig.cli.main import main\n"
            "try:\n    main(['calendar', 'is-trading-day', '2026-01-15'])\nexcept SystemExit as e:\n"
            "    print('EXIT', e.code)\n"
            "print('HEAVY', [m for m in ('pandas', 'exchange_calendars', 'numpy') if m in sys.modules])\n")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "EXIT 1" in first.stdout
    assert "'pandas'" in first.stdout  # the first run builds the cache from exchange-calendars
    assert list((tmp_path / "cache" / "tradesig").glob("calendar-xbom-*.json"))
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "EXIT 1" in second.stdout
    assert "HEAVY []" in second.stdout


def test_get_calendar_reads_overrides_beside_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tradesig.config import load_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    cfg = tmp_path / "etc" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text("", encoding="utf-8")
    (cfg.parent / "calendar-overrides.toml").write_text(
        '[[holiday]]\ndate = "2026-11-25"\nname = "test closure"\n', encoding="utf-8")
    loaded = load_config(cfg, tmp_path / "home", env={})
    cal = get_calendar(loaded)
    assert not cal.is_trading_day(date(2026, 11, 25))
    assert get_calendar(loaded) is cal  # cached per process
    assert datetime(2026, 11, 25, tzinfo=IST).date() == date(2026, 11, 25)


def test_exchange_calendars_version_without_importlib_metadata():
    """The calendar cache's key reads the installed version from its dist-info, as importlib.metadata does."""
    from importlib.metadata import version

    from tradesig.calendar import _xc_version
    from tradesig.calendar_files import dist_info_version

    assert dist_info_version("exchange_calendars") == version("exchange-calendars") == _xc_version()
    assert dist_info_version("no_such_package_here") is None

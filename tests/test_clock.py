"""Clocks: manual, parsing helpers."""

from datetime import UTC, datetime, timedelta

import pytest

from tradesig.clock import IST, ManualClock, ist, parse_datetime_ist


def test_manual_clock_never_goes_back():
    c = ManualClock(ist(2024, 6, 4, 9, 15))
    c.advance(60)
    assert c.now() == datetime(2024, 6, 4, 3, 46, tzinfo=UTC)
    with pytest.raises(ValueError):
        c.advance(-1)
    with pytest.raises(ValueError):
        c.set(ist(2024, 6, 4, 9, 0))


def test_parse_datetime_ist_defaults_to_ist():
    assert parse_datetime_ist("2024-06-04 09:15") == datetime(2024, 6, 4, 9, 15, tzinfo=IST)
    assert parse_datetime_ist("2024-06-04T03:45:00+00:00") == ist(2024, 6, 4, 9, 15)
    assert parse_datetime_ist("2024-06-04") == ist(2024, 6, 4)
    with pytest.raises(ValueError, match="not a date/time"):
        parse_datetime_ist("June 4th")
    assert ist(2024, 6, 4, 9, 15) - ist(2024, 6, 4, 9, 0) == timedelta(minutes=15)

"""Catch-up: with no --date, ``report daily`` reports the last completed session (today after the 15:30 IST
close, else the previous trading day, from the calendar); --outbox queues each day's report once."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy

import pytest

from tradesig.calendar import get_calendar
from tradesig.clock import SystemClock, ist, last_completed_session


@pytest.mark.parametrize(("now", "expected"), [
    (ist(2024, 6, 10, 9, 0), "2024-06-07"),     # Monday morning: the previous Friday
    (ist(2024, 6, 10, 15, 29), "2024-06-07"),   # Monday, session still open
    (ist(2024, 6, 10, 15, 30), "2024-06-10"),   # Monday at the close
    (ist(2024, 6, 10, 23, 59), "2024-06-10"),
    (ist(2024, 6, 8, 12, 0), "2024-06-07"),     # Saturday
    (ist(2024, 3, 26, 9, 0), "2024-03-22"),     # Tuesday after the Holi holiday (Monday 25 March 2024)
    (datetime(2024, 6, 10, 3, 30, tzinfo=UTC), "2024-06-07"),  # 09:00 IST given in UTC
])
def test_last_completed_session(now, expected):
    assert last_completed_session(get_calendar(), now).isoformat() == expected


def test_naive_time_is_refused():
    with pytest.raises(ValueError):
        last_completed_session(get_calendar(), datetime(2024, 6, 10, 9, 0))


@pytest.fixture
def monday_0900(monkeypatch):
    """The CLI's wall clock at 09:00 IST on Monday 10 June 2024."""
    monkeypatch.setattr(SystemClock, "now", lambda self: ist(2024, 6, 10, 9, 0).astimezone(UTC))


def test_report_daily_on_monday_morning_reports_friday(run_cli, home, monday_0900):
    code, out, err = run_cli("report", "daily", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["start"], doc["end"]) == ("2024-06-07", "2024-06-07")


def test_outbox_queues_each_day_once_and_a_missed_day_by_date(run_cli, home, tmp_path, monday_0900):
    outbox = tmp_path / "outbox"
    args = ("report", "daily", "--format", "mime", "--to", "ops@example.com", "--outbox", str(outbox))
    assert run_cli(*args) == (0, "", "")
    (queued,) = outbox.glob("*.eml")
    assert queued.name == "report-daily-paper-2024-06-07.eml"
    msg = email.message_from_bytes(queued.read_bytes(), policy=policy.default)
    assert msg["To"] == "ops@example.com" and "2024-06-07" in msg["Subject"]
    (outbox / "sent").mkdir()
    queued.rename(outbox / "sent" / queued.name)  # the mailer sent it
    assert run_cli(*args)[0] == 0 and not list(outbox.glob("*.eml"))  # a holiday's catch-up: not sent twice
    assert run_cli(*args, "--date", "2024-06-06")[0] == 0
    assert [p.name for p in outbox.glob("*.eml")] == ["report-daily-paper-2024-06-06.eml"]


def test_outbox_needs_mime(run_cli, home, tmp_path):
    code, out, err = run_cli("report", "daily", "--date", "2024-06-07", "--outbox", str(tmp_path))
    assert code == 2 and out == "" and "--format mime" in err

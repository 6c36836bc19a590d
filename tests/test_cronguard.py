"""The cron file's wrong-hour guard (`calendar cron-check`) and its UTC variant."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from tradesig.clock import IST
from tradesig.cronguard import first_warning_today, schedule_problem, utc_variant
from tradesig.systemd import render_cron

REPO = Path(__file__).resolve().parents[1]
REFERENCE_BIN = "/opt/tradesig/venv/bin/tradesig"


def test_on_time_jobs_pass_whatever_the_host_zone():
    # cron honoured CRON_TZ, or the host is IST, or the UTC variant runs on a UTC host: IST wall time matches
    assert schedule_problem(datetime(2026, 12, 2, 8, 55, 1, tzinfo=IST), time(8, 55)) is None
    assert schedule_problem(datetime(2026, 12, 2, 3, 25, 30, tzinfo=UTC), time(8, 55)) is None  # 08:55:30 IST
    assert schedule_problem(datetime(2026, 12, 2, 9, 9, tzinfo=IST), time(8, 55)) is None  # 14 minutes late
    assert schedule_problem(datetime(2026, 12, 3, 2, 31, tzinfo=IST), time(2, 30)) is None
    assert schedule_problem(datetime(2026, 12, 2, 21, 0, tzinfo=UTC), time(2, 30)) is None  # 02:30 IST next day


def test_a_utc_host_ignoring_cron_tz_is_named():
    # Debian's cron on a UTC host runs "55 8" at 08:55 UTC = 14:25 IST: in-session would still say yes
    problem = schedule_problem(datetime(2026, 12, 2, 8, 55, tzinfo=UTC), time(8, 55), host_zone="UTC, UTC+00:00")
    assert problem is not None and "\n" not in problem
    assert problem.startswith("cron started this job at 14:25 IST, not at 08:55 IST")
    assert "ignores CRON_TZ" in problem and "cron/tradesig-utc" in problem and "Asia/Kolkata" in problem
    assert schedule_problem(datetime(2026, 12, 2, 8, 54, tzinfo=IST), time(8, 55)) is not None  # early
    assert schedule_problem(datetime(2026, 12, 2, 9, 10, tzinfo=IST), time(8, 55)) is not None  # 15 min late
    late = schedule_problem(datetime(2026, 12, 2, 10, 0, tzinfo=IST), time(8, 55), host_zone="IST, UTC+05:30")
    assert late is not None and "65 minutes after" in late and "CRON_TZ" not in late


def test_warned_once_per_day(tmp_path):
    day = date(2026, 12, 2)
    assert first_warning_today(tmp_path, day) is True
    assert first_warning_today(tmp_path, day) is False
    assert first_warning_today(tmp_path, day + timedelta(days=1)) is True
    assert first_warning_today(tmp_path, day + timedelta(days=1)) is False


def test_cli_cron_check(run_cli, home):
    assert run_cli("calendar", "cron-check", "--expect", "08:55", "--at", "2026-12-02 08:55")[0] == 0
    code, out, _ = run_cli("calendar", "cron-check", "--expect", "08:55", "--at", "2026-12-02T08:55:00+00:00")
    assert code == 1 and out.startswith("tradesig: cron started this job at 14:25 IST") and out.count("\n") == 1
    code, out, _ = run_cli("calendar", "cron-check", "--expect", "09:14", "--at", "2026-12-02T09:14:00+00:00")
    assert code == 1 and out == ""  # said once today already
    code, _, err = run_cli("calendar", "cron-check", "--at", "2026-12-02 08:55")
    assert code == 2 and "--expect" in err


def _fake_tradesig(tmp_path: Path, at: str) -> Path:
    """A `tradesig` that runs the real `calendar cron-check` at instant AT and logs every other call."""
    log = tmp_path / "calls.log"
    exe = tmp_path / "bin" / "tradesig"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f'#!/bin/sh\nif [ "$2" = cron-check ]; then exec {sys.executable} -m tradesig "$@" --at "{at}"; fi\n'
                   f'echo "$*" >> {log}\nexit 0\n', encoding="utf-8")
    exe.chmod(0o755)
    return exe


def _job(text: str, word: str, tmp_path: Path) -> str:
    (line,) = [line for line in text.splitlines() if re.match(r"^\d", line) and word in line]
    command = line.split(None, 6)[6]
    return command.replace("/run/systemd/system", str(tmp_path / "no-systemd")) \
        .replace("/var/lib/tradesig", str(tmp_path / "state"))


def test_feed_job_on_a_utc_host_ignoring_cron_tz_says_so_once_and_does_nothing(tmp_path, home):
    exe = _fake_tradesig(tmp_path, "2026-12-02T08:55:00+00:00")  # "55 8" run at 08:55 UTC
    (tmp_path / "state").mkdir()
    text = render_cron(bin_path=str(exe))
    env = {**os.environ, "TRADESIG_HOME": str(home)}
    first = subprocess.run(["sh", "-c", _job(text, "cron-feed", tmp_path)], capture_output=True, text=True, env=env)
    assert first.returncode == 0 and "cron started this job at 14:25 IST, not at 08:55 IST" in first.stdout
    again = subprocess.run(["sh", "-c", _job(text, "cron-trade", tmp_path)], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""
    assert not (tmp_path / "calls.log").exists()  # neither the feed nor the engine was started


def test_feed_job_on_time_runs(tmp_path, home):
    exe = _fake_tradesig(tmp_path, "2026-12-02 08:55")
    (tmp_path / "state").mkdir()
    env = {**os.environ, "TRADESIG_HOME": str(home)}
    done = subprocess.run(["sh", "-c", _job(render_cron(bin_path=str(exe)), "cron-feed", tmp_path)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[0] == "calendar in-session --from 08:55 --to 15:35" and calls[1].startswith("feed --serve")


def test_utc_variant_is_committed_and_consistent():
    ist = render_cron(bin_path=REFERENCE_BIN)
    utc = (REPO / "cron" / "tradesig-utc").read_text(encoding="utf-8")
    assert utc == utc_variant(ist)
    assert "CRON_TZ" not in "\n".join(line for line in utc.splitlines() if not line.startswith("#"))
    jobs = [line.split(None, 6) for line in utc.splitlines() if re.match(r"^\d", line)]
    assert sorted((int(j[1]), int(j[0])) for j in jobs) == [(3, 20), (3, 25), (3, 35), (3, 44), (10, 5), (10, 30),
                                                            (21, 0)]
    for minute, hour, *_, command in jobs:  # each job's guard expects its UTC time + 05:30
        expected = (datetime(2000, 1, 1, int(hour), int(minute)) + timedelta(hours=5, minutes=30)).strftime("%H:%M")
        assert f"calendar cron-check --expect {expected} " in command

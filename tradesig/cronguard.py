"""The cron file's guard against running at the wrong hour, and its UTC variant.

The cron file (``cron/tradesig``) schedules every job in IST through ``CRON_TZ=Asia/Kolkata``. cronie honours
``CRON_TZ`` (crontab(5) of cronie); Debian's and Ubuntu's cron (Vixie cron 3.0 with Debian patches) ignores it and
runs the hour fields in the host's zone (crontab(5) on Debian: "cron ... uses the local time zone"), so on a UTC
host the 08:55 feed job starts at 14:25 IST, when ``calendar in-session`` still says yes.

Each job therefore first runs ``tradesig calendar cron-check --expect HH:MM`` with its scheduled IST time:
:func:`schedule_problem` says whether the job started at that time, which holds when the host's zone is IST, when
cron honoured ``CRON_TZ``, or when the UTC variant (:func:`utc_variant`) is installed on a UTC host. When it did
not, the job does nothing and the problem is said once per IST day (:func:`first_warning_today`), not once per job.
"""

from __future__ import annotations

import os
import re
import time as _time
from datetime import date, datetime, time, timedelta
from pathlib import Path

from tradesig.clock import IST

#: How late after its scheduled minute a job may start and still count as on time (cron starts jobs within the
#: minute; a wrong zone is off by at least 30 minutes for IST's +05:30 against any whole- or half-hour zone).
TOLERANCE = timedelta(minutes=15)
IST_OFFSET = timedelta(hours=5, minutes=30)
MARKER = ".cron-zone-warned"


def schedule_problem(now: datetime, expected: time, *, host_zone: str | None = None,
                     tolerance: timedelta = TOLERANCE) -> str | None:
    """None when ``now`` (aware) is within ``tolerance`` after ``expected`` (IST wall time), else one line
    saying when the job ran, when it should have, and what to do. ``host_zone`` names the host's zone in the
    message (default: the process's local zone name and offset)."""
    local = now.astimezone(IST)
    minutes = (local.hour * 60 + local.minute - expected.hour * 60 - expected.minute) % (24 * 60)
    if timedelta(minutes=minutes) < tolerance:
        return None
    zone = host_zone or _local_zone()
    if zone.endswith("UTC+05:30"):
        return (f"cron started this job at {local:%H:%M} IST, {minutes} minutes after its scheduled "
                f"{expected:%H:%M} IST, though the host's zone is IST: the job did nothing (was the machine "
                f"suspended, or cron stopped?)")
    return (f"cron started this job at {local:%H:%M} IST, not at {expected:%H:%M} IST as scheduled: this host's "
            f"cron runs the schedule in its own zone ({zone}) and ignores CRON_TZ; the job did nothing. Set the "
            f"host's zone to Asia/Kolkata (timedatectl set-timezone Asia/Kolkata) or install the UTC variant "
            f"cron/tradesig-utc (docs/operations.md, 'Hosts without systemd')")


def _local_zone() -> str:
    offset = -(_time.altzone if _time.daylight and _time.localtime().tm_isdst > 0 else _time.timezone)
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{_time.tzname[_time.localtime().tm_isdst > 0]}, UTC{sign}{hours:02d}:{minutes:02d}"


def first_warning_today(home: Path, today: date) -> bool:
    """True the first time it is called for ``today`` (IST) in this data home, then False until the next day.

    The marker ``<home>/.cron-zone-warned`` holds the date of the last warning (written atomically)."""
    marker = Path(home) / MARKER
    try:
        if marker.read_text(encoding="utf-8").strip() == today.isoformat():
            return False
    except OSError:
        pass
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{MARKER}.{os.getpid()}.tmp")
    tmp.write_text(today.isoformat() + "\n", encoding="utf-8")
    os.replace(tmp, marker)
    return True


_JOB = re.compile(r"^(\d{1,2})(\s+)(\d{1,2})(\s+)(\S+)(\s+)(\S+)(\s+)(\S+)(\s.*)$")


def utc_variant(text: str) -> str:
    """The cron file with every job's minute and hour moved from IST to UTC (-05:30) and ``CRON_TZ`` removed,
    for cron daemons that ignore ``CRON_TZ`` on a UTC host. A job that moves to the previous day needs ``*``
    day fields (the file's daily job, 02:30 IST = 21:00 UTC, has them); ValueError otherwise."""
    out = []
    for line in text.splitlines():
        if line.startswith("CRON_TZ="):
            continue
        match = _JOB.match(line)
        if match:
            minute, hour = int(match.group(1)), int(match.group(3))
            shifted = datetime(2000, 1, 2, hour, minute) - IST_OFFSET
            if shifted.day != 2 and (match.group(5), match.group(7), match.group(9)) != ("*", "*", "*"):
                raise ValueError(f"the job at {hour:02d}:{minute:02d} IST moves to the previous UTC day: {line}")
            line = f"{shifted.minute:<2d} {shifted.hour:<2d} " + line[match.start(5):]
        out.append(line)
    header = ["# UTC VARIANT of cron/tradesig for a host whose zone is UTC and whose cron ignores CRON_TZ (Debian,",
              "# Ubuntu): every job's minute and hour are UTC (IST - 05:30); the comments above each job give IST.",
              "# Generated by tradesig.cronguard.utc_variant; install as /etc/cron.d/tradesig instead of the IST file."]
    return "\n".join(header + out) + ("\n" if text.endswith("\n") else "")

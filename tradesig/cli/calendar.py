"""``tradesig calendar``: is-trading-day, in-session, status, next-open, holidays, cron-check.

Exit codes (for systemd ``ExecCondition=``): 0 yes, 1 no, 255 when the calendar has no data for the date
(the message names the fix), 2 for a usage or config error.
"""

from __future__ import annotations

from datetime import date, datetime, time

import typer

from tradesig.cli._common import (
    Format,
    app_context,
    date_option,
    datetime_option,
    format_option,
    ist_text,
    output,
    time_option,
    to_json,
)

app = typer.Typer(help="Trading days, session phase now, next open, holidays (exit 0 yes / 1 no / 255 no data).",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def _calendar(ctx: typer.Context):
    from tradesig.calendar import get_calendar

    return get_calendar(app_context(ctx).config())


def _when(at: datetime | None) -> datetime:
    from tradesig.clock import IST, SystemClock

    return (at or SystemClock().now()).astimezone(IST)


def _duration(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{days}d{out}" if days else out


def _stamp(ts: datetime) -> str:
    return f"{ist_text(ts)} IST"


@app.command("is-trading-day")
def is_trading_day(ctx: typer.Context,
                   day: date = date_option(argument=True, help="YYYY-MM-DD (default: today, IST).")) -> None:
    """Exit 0 if DATE is a trading day, 1 if not, 255 if the calendar has no data for it."""
    d = day or _when(None).date()
    info = _calendar(ctx).day(d)
    if info.session is None:
        typer.echo(f"{d.isoformat()}: not a trading day ({info.reason})")
        raise typer.Exit(1)
    s = info.session
    typer.echo(f"{d.isoformat()}: trading day ({s.name} session, {s.open:%H:%M}-{s.close:%H:%M} IST)")


@app.command("in-session")
def in_session(ctx: typer.Context,
               at: datetime = datetime_option("--at", help="Instant to test (default: now; 'YYYY-MM-DD HH:MM' is "
                                                           "IST)."),
               start: time = time_option("--from", help="Window start, IST (default: the session's pre-open, "
                                                        "09:00)."),
               end: time = time_option("--to", help="Window end (exclusive), IST (default: the closing session's "
                                                    "end, 15:40)."),
               ) -> None:
    """Exit 0 if the instant is on a trading day within [--from, --to), 1 if not, 255 if no calendar data.

    For systemd ExecCondition= of long-running units (the feed: --from 08:55 --to 15:35), so a unit started
    late after a reboot still runs inside the session and not after it. On a special session with its own
    hours (Muhurat) the window is that session's pre-open to closing end.
    """
    when = _when(at)
    if _calendar(ctx).in_window(when, start, end):
        typer.echo(f"{_stamp(when)}: inside the session window")
        return
    typer.echo(f"{_stamp(when)}: outside the session window")
    raise typer.Exit(1)


@app.command("status")
def status(ctx: typer.Context,
           at: datetime = datetime_option("--at", help="Instant (default: now; 'YYYY-MM-DD HH:MM' is IST, ISO "
                                                       "with an offset accepted)."),
           fmt: Format = format_option(Format.text, Format.json),
           ) -> None:
    """The session phase at an instant and the time to the next phase."""
    st = _calendar(ctx).status(_when(at))
    if fmt is Format.json:
        typer.echo(to_json({
            "at": st.at, "phase": st.phase.value, "trading_day": st.session is not None,
            "session": st.session.as_dict() if st.session else None, "next_phase": st.next_phase.value,
            "next_change": st.next_change, "seconds_to_next": st.seconds_to_next,
        }))
        return
    day = (f"{st.session.name} session {st.session.open:%H:%M}-{st.session.close:%H:%M}" if st.session
           else "not a trading day")
    typer.echo(f"{_stamp(st.at)}  {st.phase.value}  ({day}); next {st.next_phase.value} at "
               f"{_stamp(st.next_change)}, in {_duration(st.seconds_to_next)}")


@app.command("next-open")
def next_open(ctx: typer.Context,
              at: datetime = datetime_option("--at", help="From this instant (default: now)."),
              fmt: Format = format_option(Format.text, Format.json),
              ) -> None:
    """The next start of continuous trading (09:15 IST on a regular day)."""
    when = _when(at)
    opens = _calendar(ctx).next_open(when)
    seconds = int((opens - when).total_seconds())
    if fmt is Format.json:
        typer.echo(to_json({"at": when, "next_open": opens, "seconds": seconds}))
        return
    typer.echo(f"{_stamp(opens)} (in {_duration(seconds)})")


@app.command("holidays")
def holidays(ctx: typer.Context,
             year: int = typer.Argument(..., metavar="YEAR", help="Calendar year, e.g. 2026."),
             fmt: Format = format_option(Format.table, Format.json, Format.csv),
             ) -> None:
    """Weekday exchange holidays of YEAR (exchange-calendars XBOM plus the override file)."""
    rows = [{"date": d.isoformat(), "weekday": d.strftime("%A"), "name": name}
            for d, name in _calendar(ctx).holidays(year)]
    typer.echo(output(rows, ["date", "weekday", "name"], fmt))


@app.command("cron-check")
def cron_check(ctx: typer.Context,
               expect: time = time_option("--expect", default=..., help="The job's scheduled time, IST."),
               at: datetime = datetime_option("--at", help="Instant to test (default: now).")) -> None:
    """Exit 0 if cron started the job at its scheduled IST time (the host's zone is IST, or cron honours
    CRON_TZ); else exit 1 and say so, once per day (the cron file's jobs run this first)."""
    from tradesig.cronguard import first_warning_today, schedule_problem

    when = _when(at)
    problem = schedule_problem(when, expect)
    if problem is None:
        return
    if first_warning_today(app_context(ctx).config().home, when.date()):
        typer.echo(f"tradesig: {problem}")
    raise typer.Exit(1)

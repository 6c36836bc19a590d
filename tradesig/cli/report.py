"""``tradesig report``: daily/weekly/monthly P&L, per-signal stats, charges, feed health, to stdout."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from tradesig.cli._common import DEFAULT_MODE, Format, app_context, date_option, format_option

app = typer.Typer(help="Daily/weekly/monthly P&L, signal stats, charges, feed health.",
                  add_completion=False, rich_markup_mode=None)


class Period(str, Enum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class Mode(str, Enum):
    paper = "paper"
    live = "live"
    backtest = "backtest"


@app.command()
def report(
    ctx: typer.Context,
    period: Period = typer.Argument(Period.daily, help="Report period containing --date."),
    day: Any = date_option("--date", help="A date in the period (default: the last completed session: today "
                                          "after the close, else the previous trading day)."),
    mode: Mode = typer.Option(DEFAULT_MODE, "--mode", help="Which trading mode's events to report."),
    fmt: Format = format_option(Format.text, Format.markdown, Format.html, Format.csv, Format.json, Format.mime),
    to: str = typer.Option(None, "--to", help="mime: recipient (default: report.mail_to; one of them is required)."),
    subject: str = typer.Option(None, "--subject", help="mime: subject (default: dated title and net P&L)."),
    outbox: Path = typer.Option(None, "--outbox", help="mime: queue the message as DIR/report-PERIOD-MODE-START.eml "
                                                       "(atomically; nothing if that day's is already queued or sent) "
                                                       "instead of writing it to stdout."),
) -> None:
    """Write the report to stdout. A period without trades is a valid report (exit 0)."""
    from tradesig.clock import SystemClock
    from tradesig.errors import DataError
    from tradesig.report.service import make_report, queue_report, report_day

    loaded = app_context(ctx).config()
    now = SystemClock().now()
    if outbox is not None and fmt is not Format.mime:
        raise DataError("--outbox queues mail", "use it with --format mime")
    try:
        when = report_day(loaded, day, now)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if outbox is not None:
        queue_report(loaded, period.value, when, mode.value, outbox, now=now, to=to, subject=subject)
        return
    typer.echo(make_report(loaded, period.value, when, mode.value, fmt.value, now=now, to=to, subject=subject),
               nl=False)

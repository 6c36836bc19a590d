"""``tradesig report``: daily/weekly/monthly P&L, per-signal stats, charges, feed health, to stdout."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path

import typer

from tradesig.cli._common import app_context

log = logging.getLogger(__name__)

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


class ReportFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    html = "html"
    csv = "csv"
    json = "json"
    mime = "mime"


@app.command()
def report(
    ctx: typer.Context,
    period: Period = typer.Argument(Period.daily, help="Report period containing --date."),
    day: str = typer.Option(None, "--date", help="A date in the period, YYYY-MM-DD (default: the last completed "
                                                 "session: today after the close, else the previous trading day)."),
    mode: Mode = typer.Option(Mode.paper, "--mode", help="Which trading mode's events to report."),
    fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", help="Output format."),
    to: str = typer.Option(None, "--to", help="mime: recipient (default: report.mail_to; one of them is required)."),
    subject: str = typer.Option(None, "--subject", help="mime: subject (default: dated title and net P&L)."),
    outbox: Path = typer.Option(None, "--outbox", help="mime: queue the message as DIR/report-PERIOD-MODE-START.eml "
                                                       "(atomically; nothing if that day's is already queued or sent) "
                                                       "instead of writing it to stdout."),
) -> None:
    """Write the report to stdout. A period without trades is a valid report (exit 0)."""
    from tradesig.calendar import get_calendar
    from tradesig.clock import SystemClock, parse_date
    from tradesig.errors import DataError
    from tradesig.report.build import build_report, period_bounds
    from tradesig.report.render import RENDERERS, render_html, render_mime

    loaded = app_context(ctx).config()
    clock = SystemClock()
    if outbox is not None and fmt is not ReportFormat.mime:
        raise DataError("--outbox queues mail", "use it with --format mime")
    try:
        when = parse_date(day) if day else get_calendar(loaded).last_completed_session(clock.now())
    except ValueError as exc:
        raise DataError(str(exc)) from None
    stem = f"report-{period.value}-{mode.value}-{period_bounds(period.value, when)[0]:%Y-%m-%d}"
    if outbox is not None:
        from tradesig.systemd import queued_before

        if (earlier := queued_before(outbox, stem)) is not None:
            log.info("report for %s already queued or sent (%s); not queued again", when, earlier)
            return
    data = build_report(loaded.home, period.value, when, mode.value)
    if fmt in (ReportFormat.html, ReportFormat.mime):
        from tradesig.report.charts import draw_charts, load_index

        charts = draw_charts(data, load_index(loaded.home, data))
    if fmt is ReportFormat.mime:
        import socket

        settings = loaded.settings.report
        out = render_mime(data, to=to or settings.mail_to, sender=settings.mail_from, subject=subject,
                          now=clock.now(), home=str(loaded.home), domain=socket.gethostname() or "localhost",
                          charts=charts)
        if outbox is not None:
            from tradesig.systemd import queue_message

            log.info("queued %s", queue_message(outbox, out.encode("utf-8"), stem))
            return
    elif fmt is ReportFormat.html:
        out = render_html(data, charts)
    else:
        out = RENDERERS[fmt.value](data)
    typer.echo(out, nl=False)

"""``tradesig report``: daily/weekly/monthly P&L, per-signal stats, charges, feed health, to stdout."""

from __future__ import annotations

from enum import Enum

import typer

from tradesig.cli._common import app_context

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
    day: str = typer.Option(None, "--date", help="A date in the period, YYYY-MM-DD (default: today, IST)."),
    mode: Mode = typer.Option(Mode.paper, "--mode", help="Which trading mode's events to report."),
    fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", help="Output format."),
    to: str = typer.Option(None, "--to", help="mime: recipient (default: report.mail_to; one of them is required)."),
    subject: str = typer.Option(None, "--subject", help="mime: subject (default: dated title)."),
) -> None:
    """Write the report to stdout. A period without trades is a valid report (exit 0)."""
    from tradesig.clock import SystemClock, ist_date, parse_date
    from tradesig.errors import DataError
    from tradesig.report.build import build_report
    from tradesig.report.render import RENDERERS, render_html, render_mime

    loaded = app_context(ctx).config()
    clock = SystemClock()
    try:
        when = parse_date(day) if day else ist_date(clock.now())
    except ValueError as exc:
        raise DataError(str(exc)) from None
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
    elif fmt is ReportFormat.html:
        out = render_html(data, charts)
    else:
        out = RENDERERS[fmt.value](data)
    typer.echo(out, nl=False)

"""``tradesig report``: daily/weekly/monthly P&L, per-signal stats, charges, feed health, to stdout."""

from __future__ import annotations

from enum import Enum
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
    day: Any = date_option("--date", help="A date in the period (default: today, IST)."),
    mode: Mode = typer.Option(DEFAULT_MODE, "--mode", help="Which trading mode's events to report."),
    fmt: Format = format_option(Format.text, Format.markdown, Format.html, Format.csv, Format.json, Format.mime),
    to: str = typer.Option(None, "--to", help="mime: recipient (default: report.mail_to)."),
    subject: str = typer.Option(None, "--subject", help="mime: subject (default: dated title)."),
) -> None:
    """Write the report to stdout. A period without trades is a valid report (exit 0)."""
    from tradesig.clock import SystemClock, ist_date
    from tradesig.report.build import build_report
    from tradesig.report.render import RENDERERS, render_mime

    loaded = app_context(ctx).config()
    clock = SystemClock()
    when = day or ist_date(clock.now())
    data = build_report(loaded.home, period.value, when, mode.value)
    if fmt is Format.mime:
        settings = loaded.settings.report
        out = render_mime(data, to=to or settings.mail_to, sender=settings.mail_from, subject=subject,
                          now=clock.now())
    else:
        out = RENDERERS[fmt.value](data)
    typer.echo(out, nl=False)

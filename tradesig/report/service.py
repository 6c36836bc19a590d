"""The report command's library side: which day, build, draw, render, and (mail) queue once in the outbox.

``tradesig report`` parses its options and calls :func:`make_report` (stdout) or :func:`queue_report` (outbox).
"""

from __future__ import annotations

import logging
import socket
from datetime import date, datetime
from pathlib import Path

from tradesig.config import LoadedConfig

log = logging.getLogger(__name__)


def report_day(loaded: LoadedConfig, day: date | None, now: datetime) -> date:
    """``day`` when given, else the last completed session at aware ``now`` (today after the close, else the
    previous trading day: :func:`tradesig.clock.last_completed_session`)."""
    if day is not None:
        return day
    from tradesig.calendar import get_calendar
    from tradesig.clock import last_completed_session

    return last_completed_session(get_calendar(loaded), now)


def make_report(loaded: LoadedConfig, period: str, day: date, mode: str, fmt: str, *, now: datetime,
                to: str | None = None, subject: str | None = None) -> str:
    """The report of the ``period`` containing IST ``day`` for ``mode`` in ``fmt`` (text, markdown, html, csv,
    json, mime). html and mime carry the charts (matplotlib, loaded here only for them); mime needs a recipient
    (``to``, else ``report.mail_to``: :class:`~tradesig.errors.ConfigError` otherwise)."""
    from tradesig.report.build import build_report
    from tradesig.report.render import RENDERERS, render_html, render_mime

    data = build_report(loaded.home, period, day, mode)
    if fmt not in ("html", "mime"):
        return RENDERERS[fmt](data)
    from tradesig.report.charts import draw_charts, load_index

    charts = draw_charts(data, load_index(loaded.home, data))
    if fmt == "html":
        return render_html(data, charts)
    settings = loaded.settings.report
    return render_mime(data, to=to or settings.mail_to, sender=settings.mail_from, subject=subject, now=now,
                       home=str(loaded.home), domain=socket.gethostname() or "localhost", charts=charts)


def queue_report(loaded: LoadedConfig, period: str, day: date, mode: str, outbox: Path, *, now: datetime,
                 to: str | None = None, subject: str | None = None) -> Path | None:
    """Queue the mime report as ``outbox/report-PERIOD-MODE-START.eml`` (atomic, 0600) unless that file is
    already waiting, sent or refused there (:func:`tradesig.systemd.queued_before`): a caught-up job mails each
    period once. Returns the queued path, or None when it was queued before."""
    from tradesig.report.build import period_bounds
    from tradesig.systemd import queue_message, queued_before

    stem = f"report-{period}-{mode}-{period_bounds(period, day)[0]:%Y-%m-%d}"
    earlier = queued_before(outbox, stem)
    if earlier is not None:
        log.info("report for %s already queued or sent (%s); not queued again", day, earlier)
        return None
    raw = make_report(loaded, period, day, mode, "mime", now=now, to=to, subject=subject)
    path = queue_message(outbox, raw.encode("utf-8"), stem)
    log.info("queued %s", path)
    return path


__all__ = ["report_day", "make_report", "queue_report"]

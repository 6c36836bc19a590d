"""Renderers of a :class:`ReportData`: text (80 columns, no ANSI), markdown, html (PNG charts as data: URIs), csv
(one row per trade), json (schema in docs/report.md) and mime (RFC 5322 multipart/alternative: text, and HTML with
its PNG charts as cid: parts). Charts come from :mod:`tradesig.report.charts` (matplotlib, html and mime only).

One rendering path per format; every format says when data is synthetic or premiums are modelled, and names
missing data.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from tradesig.clock import IST
from tradesig.errors import ConfigError
from tradesig.report.charts import Chart
from tradesig.report.model import ReportData

JSON_SCHEMA_VERSION = 1
SPARK = "▁▂▃▄▅▆▇█"
WIDTH = 80


def _t(ts: datetime | None) -> str:
    return ts.astimezone(IST).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _hm(ts: datetime | None) -> str:
    return ts.astimezone(IST).strftime("%d %b %H:%M") if ts else "open"


def _money(x: float) -> str:
    return f"{x:,.2f}"


def title(data: ReportData) -> str:
    span = f"{data.start:%Y-%m-%d}" if data.start == data.end else f"{data.start:%Y-%m-%d} to {data.end:%Y-%m-%d}"
    return f"tradesig {data.period} report, {span} ({data.mode})"


def labels(data: ReportData) -> list[str]:
    out = []
    if data.synthetic:
        out.append("SYNTHETIC market data: not a real session")
    if data.modelled:
        out.append("premiums MODELLED (Black-Scholes) where no real option quotes exist")
        out += [f"prices {source}" for source in data.modelled_sources]  # each names its IV source
    return out


def sparkline(values: list[float]) -> str:
    """One character per value on an eight-step scale (min → ▁, max → █); empty for no values."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        return SPARK[3] * len(values)
    return "".join(SPARK[round((v - lo) / (hi - lo) * (len(SPARK) - 1))] for v in values)


def summary_rows(data: ReportData) -> list[tuple[str, str]]:
    win = data.win_rate
    return [
        ("trades closed", str(len(data.closed))),
        ("trades open", str(len(data.trades) - len(data.closed))),
        ("win rate", f"{win:.0%}" if win is not None else "-"),
        ("gross P&L (Rs)", _money(data.gross_pnl)),
        ("charges (Rs)", _money(data.charges)),
        ("net P&L (Rs)", _money(data.net_pnl)),
        ("max drawdown (Rs)", _money(data.max_drawdown)),
        ("signals fired", str(len(data.signals))),
    ] + ([  # open baskets marked to market: realised above, unrealised here (never a silent 0.00)
        ("unrealised P&L (Rs)", _money(data.unrealised_pnl) + (" (unmarked: " + ", ".join(data.unmarked) + ")"
                                                               if data.unmarked else "")),
        ("charges on open (Rs)", _money(data.open_charges)),
        ("MTM P&L (Rs)", _money(data.total_pnl)),  # realised + unrealised - charges: mark to market
    ] if data.open_trades else [])


def feed_rows(data: ReportData) -> list[tuple[str, str]]:
    f = data.feed
    if f is None:
        return []
    return [("ticks received", f"{f.ticks:,}"), ("gaps", str(f.gaps_total)), ("reconnects", str(f.reconnects)),
            ("polled ticks", str(f.polled)),
            ("token events", ", ".join(f.token_events) if f.token_events else "none")]


# ------------------------------------------------------------------------------------------------------- text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_text(data: ReportData) -> str:
    """Plain text, at most 80 columns, no ANSI codes."""
    lines = [title(data), "=" * min(WIDTH, len(title(data)))]
    lines += [f"NOTE: {label}" for label in labels(data)]
    lines.append("")
    if not data.trades:
        lines.append("No trades in this period.")
    lines += [f"{k:<20} {v:>16}" for k, v in summary_rows(data)]
    curve = [v for _, v in data.equity_curve()]
    if curve:
        lines.append(f"{'equity curve':<20} {sparkline(curve[-(WIDTH - 21):])}")
    if data.trades:
        lines += ["", "Trades", "------"]
        lines.append(f"{'id':<10} {'sig':<3} {'sym':<9} {'entry':<12} {'exit':<12} {'reason':<14} {'net Rs':>13}")
        for t in data.trades:
            lines.append(_fit(f"{t.trade_id[:10]:<10} {t.signal:<3} {t.symbol[:9]:<9} {_hm(t.entry_ts):<12} "
                              f"{_hm(t.exit_ts):<12} {(t.exit_reason or '-')[:14]:<14} {_money(t.net_pnl):>13}", WIDTH))
            for leg in t.legs:
                exit_price = f"{leg.exit_price:.2f}" if leg.exit_price is not None else "-"
                lines.append(_fit(f"  {leg.role:<5} {leg.side:<4} {leg.quantity:>5} x {leg.tradingsymbol:<24} "
                                  f"{leg.entry_price:>9.2f} -> {exit_price:>9}", WIDTH))
    stats = data.per_signal()
    if stats:
        lines += ["", "Per signal", "----------", f"{'signal':<8} {'fired':>6} {'trades':>7} {'win':>6} {'net Rs':>14}"]
        for s in stats:
            win = f"{s.win_rate:.0%}" if s.win_rate is not None else "-"
            lines.append(f"{s.signal:<8} {s.fired:>6} {s.trades:>7} {win:>6} {_money(s.net_pnl):>14}")
    if data.signals:
        lines += ["", "Signals fired", "-------------"]
        for s in data.signals:
            lines.append(_fit(f"{_t(s.ts)}  {s.symbol:<9} {s.signal:<3} {s.side:<8} entry {s.entry_price:.2f}  "
                              f"SL {s.stop_loss:.2f}", WIDTH))
    if data.feed is not None:
        lines += ["", "Feed health", "-----------"] + [f"{k:<20} {v}" for k, v in feed_rows(data)]
        for gap in data.feed.gaps[:10]:
            lines.append(_fit(f"  gap {gap.get('instrument')} {gap.get('from')} -> {gap.get('to')} "
                              f"({gap.get('cause')})", WIDTH))
    if data.missing:
        lines += ["", "Missing data", "------------"] + [_fit(f"- {m}", WIDTH) for m in data.missing]
    return "\n".join(_fit(line, WIDTH) for line in lines) + "\n"


# --------------------------------------------------------------------------------------------------- markdown


def render_markdown(data: ReportData) -> str:
    out = [f"# {title(data)}", ""]
    out += [f"> **{label}**" for label in labels(data)]
    if labels(data):
        out.append("")
    if not data.trades:
        out += ["No trades in this period.", ""]
    out += ["| measure | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in summary_rows(data)] + [""]
    if data.trades:
        out += ["## Trades", "", "| id | signal | symbol | entry | exit | reason | legs | net (Rs) |",
                "|---|---|---|---|---|---|---|---:|"]
        for t in data.trades:
            legs = "<br>".join(f"{leg.role} {leg.side} {leg.quantity} {leg.tradingsymbol} {leg.entry_price:.2f}"
                               for leg in t.legs)
            out.append(f"| {t.trade_id} | {t.signal} | {t.symbol} | {_t(t.entry_ts)} | {_t(t.exit_ts)} | "
                       f"{t.exit_reason or '-'} | {legs} | {_money(t.net_pnl)} |")
        out.append("")
    stats = data.per_signal()
    if stats:
        out += ["## Per signal", "", "| signal | fired | trades | win rate | net (Rs) |", "|---|---:|---:|---:|---:|"]
        for s in stats:
            win = f"{s.win_rate:.0%}" if s.win_rate is not None else "-"
            out.append(f"| {s.signal} | {s.fired} | {s.trades} | {win} | {_money(s.net_pnl)} |")
        out.append("")
    if data.feed is not None:
        out += ["## Feed health", "", "| measure | value |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in feed_rows(data)] + [""]
    if data.missing:
        out += ["## Missing data", ""] + [f"- {m}" for m in data.missing] + [""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------------- html


def _img_src(chart: Chart, cid: bool) -> str:
    if cid:
        return f"cid:{chart_cid(chart)}"
    return "data:image/png;base64," + base64.b64encode(chart.png or b"").decode("ascii")


def charts_html(charts: Sequence[Chart], *, cid: bool = False) -> str:
    """The charts as ``<figure>`` elements: PNGs as ``data:`` URIs (a standalone page) or ``cid:`` references
    (the HTML part of the MIME message, images in the same multipart/related); a note where one was not drawn."""
    e = html.escape
    out = []
    for chart in charts:
        if chart.png is None:
            out.append(f'<p class="chart-note">{e(chart.note)}</p>')
            continue
        out.append(f'<figure><img src="{_img_src(chart, cid)}" alt="{e(chart.alt)}" width="800" '
                   f'style="max-width:100%;height:auto"></figure>')
    return "\n".join(out)


def chart_cid(chart: Chart) -> str:
    """The Content-ID (without angle brackets) of a chart's MIME part."""
    return f"{chart.name}.png@tradesig"


def render_html(data: ReportData, charts: Sequence[Chart] | None = None, *, cid: bool = False) -> str:
    """A standalone HTML page. ``charts`` as :func:`tradesig.report.charts.draw_charts` returns them (None: drawn
    here without index bars); ``cid``: reference the PNGs as ``cid:`` parts (see :func:`render_mime`)."""
    if charts is None:
        from tradesig.report.charts import draw_charts

        charts = draw_charts(data, {})
    e = html.escape
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in summary_rows(data))
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title(data))}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.note{color:#b00;font-weight:bold}"
             "figure{margin:1em 0}"
             "</style></head><body>", f"<h1>{e(title(data))}</h1>"]
    parts += [f'<p class="note">{e(label)}</p>' for label in labels(data)]
    if not data.trades:
        parts.append("<p>No trades in this period.</p>")
    parts += [f"<table>{rows}</table>", "<h2>Charts</h2>", charts_html(charts, cid=cid)]
    if data.trades:
        parts.append("<h2>Trades</h2><table><tr><th>id</th><th>signal</th><th>symbol</th><th>entry</th><th>exit</th>"
                     "<th>reason</th><th>legs</th><th>net (Rs)</th></tr>")
        for t in data.trades:
            legs = "<br>".join(e(f"{leg.role} {leg.side} {leg.quantity} {leg.tradingsymbol} @ {leg.entry_price:.2f}")
                               for leg in t.legs)
            parts.append(f"<tr><td>{e(t.trade_id)}</td><td>{e(t.signal)}</td><td>{e(t.symbol)}</td>"
                         f"<td>{_t(t.entry_ts)}</td><td>{_t(t.exit_ts)}</td><td>{e(t.exit_reason or '-')}</td>"
                         f"<td>{legs}</td><td>{_money(t.net_pnl)}</td></tr>")
        parts.append("</table>")
    stats = data.per_signal()
    if stats:
        parts.append("<h2>Per signal</h2><table><tr><th>signal</th><th>fired</th><th>trades</th><th>win rate</th>"
                     "<th>net (Rs)</th></tr>")
        for s in stats:
            win = f"{s.win_rate:.0%}" if s.win_rate is not None else "-"
            parts.append(f"<tr><td>{e(s.signal)}</td><td>{s.fired}</td><td>{s.trades}</td><td>{win}</td>"
                         f"<td>{_money(s.net_pnl)}</td></tr>")
        parts.append("</table>")
    if data.feed is not None:
        parts.append("<h2>Feed health</h2><table>"
                     + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in feed_rows(data)) + "</table>")
    if data.missing:
        parts.append("<h2>Missing data</h2><ul>" + "".join(f"<li>{e(m)}</li>" for m in data.missing) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# -------------------------------------------------------------------------------------------------------- csv

CSV_COLUMNS = ["trade_id", "symbol", "signal", "side", "entry_ts", "exit_ts", "exit_reason", "legs", "gross_pnl",
               "charges", "net_pnl", "modelled"]


def render_csv(data: ReportData) -> str:
    """One row per trade (header always present, so an empty day is a header only); times ISO 8601 IST."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in data.trades:
        legs = ";".join(f"{leg.role}:{leg.side}:{leg.quantity}:{leg.tradingsymbol}:{leg.entry_price:.2f}:"
                        f"{'' if leg.exit_price is None else f'{leg.exit_price:.2f}'}" for leg in t.legs)
        writer.writerow([t.trade_id, t.symbol, t.signal, t.side, t.entry_ts.astimezone(IST).isoformat(),
                         t.exit_ts.astimezone(IST).isoformat() if t.exit_ts else "", t.exit_reason or "", legs,
                         f"{t.gross_pnl:.2f}", f"{t.charges:.2f}", f"{t.net_pnl:.2f}", str(t.modelled).lower()])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------------- json


def to_json_dict(data: ReportData) -> dict:
    """The JSON document (schema_version 1, documented in docs/report.md). Money in rupees, times ISO 8601 UTC."""

    def iso(ts: datetime | None) -> str | None:
        return ts.isoformat() if ts else None

    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "period": data.period, "start": data.start.isoformat(), "end": data.end.isoformat(), "mode": data.mode,
        "synthetic": data.synthetic, "modelled": data.modelled,
        "summary": {"trades_closed": len(data.closed), "trades_open": len(data.trades) - len(data.closed),
                    "win_rate": data.win_rate, "gross_pnl": data.gross_pnl, "charges": data.charges,
                    "net_pnl": data.net_pnl, "max_drawdown": data.max_drawdown, "signals_fired": len(data.signals),
                    "realised_pnl": data.realised_pnl, "unrealised_pnl": data.unrealised_pnl,
                    "open_charges": data.open_charges, "total_pnl": data.total_pnl},
        "trades": [{"trade_id": t.trade_id, "symbol": t.symbol, "signal": t.signal, "side": t.side,
                    "entry_ts": iso(t.entry_ts), "exit_ts": iso(t.exit_ts), "exit_reason": t.exit_reason,
                    "gross_pnl": round(t.gross_pnl, 2), "charges": round(t.charges, 2), "net_pnl": round(t.net_pnl, 2),
                    "modelled": t.modelled, "price_source": t.price_source,
                    "unrealised_pnl": None if t.unrealised_pnl is None else round(t.unrealised_pnl, 2),
                    "marked_at": iso(t.marked_at),
                    "legs": [{"tradingsymbol": leg.tradingsymbol, "role": leg.role, "side": leg.side,
                              "quantity": leg.quantity, "entry_price": leg.entry_price, "exit_price": leg.exit_price,
                              "last_price": leg.last_price}
                             for leg in t.legs]} for t in data.trades],
        "per_signal": [{"signal": s.signal, "fired": s.fired, "trades": s.trades, "wins": s.wins,
                        "win_rate": s.win_rate, "net_pnl": s.net_pnl} for s in data.per_signal()],
        "equity_curve": [{"ts": iso(ts), "net_pnl": v} for ts, v in data.equity_curve()],
        "signals": [{"ts": iso(s.ts), "symbol": s.symbol, "signal": s.signal, "side": s.side,
                     "entry_price": s.entry_price, "stop_loss": s.stop_loss} for s in data.signals],
        "feed": None if data.feed is None else {
            "ticks": data.feed.ticks, "gaps": list(data.feed.gaps), "gap_count": data.feed.gaps_total,
            "reconnects": data.feed.reconnects, "token_events": list(data.feed.token_events),
            "polled": data.feed.polled},
        "missing": list(data.missing),
    }


def render_json(data: ReportData) -> str:
    return json.dumps(to_json_dict(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------------------- mime


def mail_subject(data: ReportData) -> str:
    """The default subject: the dated title and the period's net P&L in rupees (closed trades), with the open
    trades' unrealised P&L where the report model carries it, and a SYNTHETIC tag for a synthetic session."""
    subject = f"{title(data)}: net P&L Rs {_money(data.net_pnl)}"
    unrealised = getattr(data, "unrealised_pnl", None)
    if unrealised:
        subject += f", open Rs {_money(unrealised)} unrealised"
    return ("[SYNTHETIC] " if data.synthetic else "") + subject


def message_id(data: ReportData, *, home: str, domain: str) -> str:
    """A Message-ID stable for the same report (period, dates, mode) of the same data home on the same host, so a
    re-sent report is recognisable as the same message (mail clients and ``sendmail`` deduplicate on it)."""
    digest = hashlib.sha256(str(home).encode("utf-8")).hexdigest()[:12]
    return f"<report-{data.period}-{data.start:%Y%m%d}-{data.end:%Y%m%d}-{data.mode}-{digest}@{domain}>"


def render_mime(data: ReportData, *, to: str, sender: str, subject: str | None, now: datetime, home: str,
                domain: str = "tradesig.local", charts: Sequence[Chart] | None = None) -> str:
    """A complete RFC 5322 message for ``sendmail -t``: multipart/alternative of text/plain and a
    multipart/related holding the HTML and its charts as image/png parts referenced by ``cid:``.

    Headers: ``To`` (required: :class:`ConfigError`, exit 2, when empty), ``From``, ``Subject`` (default
    :func:`mail_subject`), ``Date`` (aware ``now``), ``Message-ID`` (:func:`message_id`: stable per report,
    home and ``domain``) and ``Auto-Submitted: auto-generated`` (RFC 3834: no auto-replies to it)."""
    if not to or not to.strip():
        raise ConfigError("the report mail has no recipient",
                          "pass --to ADDRESS or set report.mail_to, i.e. mail_to in the [report] section of the config")
    if charts is None:
        from tradesig.report.charts import draw_charts

        charts = draw_charts(data, {})
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to.strip()
    msg["Subject"] = subject or mail_subject(data)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(data, home=home, domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(render_text(data))
    msg.add_alternative(render_html(data, charts, cid=True), subtype="html")
    html_part = msg.get_payload()[1]
    for chart in charts:
        if chart.png is not None:
            html_part.add_related(chart.png, "image", "png", cid=f"<{chart_cid(chart)}>",
                                  filename=f"{chart.name}.png", disposition="inline")
    return msg.as_string()


RENDERERS = {"text": render_text, "markdown": render_markdown, "html": render_html, "csv": render_csv,
             "json": render_json}

"""Renderers: every format from one ReportData; text fits 80 columns; mime parses; an empty day is valid."""

from __future__ import annotations

import csv
import email
import io
import json
from datetime import UTC, date, datetime

from tradesig.report.model import FeedHealth, Leg, ReportData, SignalFiredRow, TradeRow
from tradesig.report.render import (
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_mime,
    render_text,
    sparkline,
)


def sample() -> ReportData:
    t0 = datetime(2024, 6, 4, 4, 45, tzinfo=UTC)
    legs = (
        Leg("NIFTY2460622500CE", "main", "SELL", 25, 120.0, 80.5),
        Leg("NIFTY2460622700CE", "hedge", "BUY", 25, 60.0, 41.0),
    )
    trades = [
        TradeRow(
            "T1",
            "NIFTY",
            "S8",
            "bearish",
            t0,
            datetime(2024, 6, 4, 9, 45, tzinfo=UTC),
            legs,
            512.5,
            101.3,
            "hourly_close",
        ),
        TradeRow(
            "T2", "NIFTY", "S3", "bearish", t0, datetime(2024, 6, 4, 9, 50, tzinfo=UTC), legs, -800.0, 99.0, "stop"
        ),
        TradeRow("T3", "BANKNIFTY", "S7", "bullish", t0, None, legs, 0.0, 0.0, None, modelled=True),
    ]
    sigs = [SignalFiredRow(t0, "NIFTY", "S8", "bearish", 22500.0, 22610.0)]
    feed = FeedHealth(
        1234, ({"instrument": 256265, "from": "10:00", "to": "10:02", "cause": "disconnect"},), 1, ("token_expired",), 2
    )
    return ReportData(
        "daily", date(2024, 6, 4), date(2024, 6, 4), "paper", trades, sigs, feed, ["option chain for BANKNIFTY"]
    )


def test_totals_and_drawdown():
    d = sample()
    assert d.gross_pnl == -287.5 and d.charges == 200.3 and d.net_pnl == -487.8
    assert d.win_rate == 0.5
    assert d.equity_curve()[-1][1] == -487.8
    assert d.max_drawdown == 899.0  # peak 411.2 after T1, then -487.8


def test_text_fits_80_columns_without_ansi():
    text = render_text(sample())
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "\x1b" not in text
    assert "MODELLED" in text and "option chain for BANKNIFTY" in text and "equity curve" in text


def test_empty_day_is_a_valid_report():
    d = ReportData("daily", date(2024, 6, 5), date(2024, 6, 5), "paper")
    assert "No trades in this period." in render_text(d)
    assert json.loads(render_json(d))["summary"]["trades_closed"] == 0
    assert render_csv(d).strip().split(",")[0] == "trade_id"
    assert "No closed trades" in render_html(d)


def test_json_schema_fields():
    doc = json.loads(render_json(sample()))
    assert doc["schema_version"] == 1
    assert set(doc) >= {"summary", "trades", "per_signal", "equity_curve", "signals", "feed", "missing", "modelled"}
    assert doc["trades"][0]["legs"][0]["quantity"] == 25
    assert doc["summary"]["net_pnl"] == -487.8


def test_csv_round_trips():
    rows = list(csv.DictReader(io.StringIO(render_csv(sample()))))
    assert [r["trade_id"] for r in rows] == ["T1", "T2", "T3"]
    assert rows[0]["net_pnl"] == "411.20" and rows[2]["exit_ts"] == ""


def test_html_embeds_png_charts_and_no_script():
    out = render_html(sample())
    assert out.count('<img src="data:image/png;base64,') == 2 and "<script" not in out
    assert "No stored bars for BANKNIFTY, NIFTY in this period: no index chart." in out  # named, not faked


def test_markdown_tables():
    out = render_markdown(sample())
    assert out.startswith("# tradesig daily report") and "| S8 | 1 | 1 | 100% |" in out


def test_mime_parses_with_text_html_and_png_parts():
    raw = render_mime(sample(), to="ops@example.com", sender="t@localhost", subject=None,
                      now=datetime(2024, 6, 4, 10, 30, tzinfo=UTC), home="/var/lib/tradesig")
    msg = email.message_from_string(raw)
    assert msg["To"] == "ops@example.com" and msg["Subject"].startswith("tradesig daily report, 2024-06-04")
    assert msg.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in msg.walk() if not part.is_multipart()]
    assert types == ["text/plain", "text/html", "image/png", "image/png"]


def test_sparkline():
    assert sparkline([]) == ""
    assert sparkline([1, 2, 3]) == "▁▅█"
    assert sparkline([5, 5]) == "▄▄"

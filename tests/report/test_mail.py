"""The report mail: recipients required, RFC 3834 Auto-Submitted, a stable Message-ID, the net P&L in the subject,
charts as PNG parts referenced by cid: from the HTML, which renders in headless Chromium with the charts visible."""

from __future__ import annotations

import base64
import email
import re
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

from tests.report.test_render import sample
from tradesig.errors import ConfigError
from tradesig.report.charts import draw_charts
from tradesig.report.render import render_html, render_mime

CHROMIUM = Path("/usr/bin/chromium")
NOW = datetime(2024, 6, 4, 10, 45, tzinfo=UTC)


def index_series() -> dict:
    """A made-up NIFTY path for the chart test only (the picture's input, not a market fact)."""
    t0 = datetime(2024, 6, 4, 3, 45, tzinfo=UTC)
    return {"NIFTY": [(t0 + timedelta(minutes=i), 22500.0 + (i % 40) * 3.5 - i * 0.8) for i in range(375)],
            "BANKNIFTY": []}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def mime(**overrides) -> email.message.EmailMessage:
    kwargs = {"to": "ops@example.com", "sender": "tradesig@box", "subject": None, "now": NOW,
              "home": "/var/lib/tradesig", "domain": "box", "charts": draw_charts(sample(), index_series())}
    kwargs.update(overrides)
    return email.message_from_string(render_mime(sample(), **kwargs), policy=policy.default)


def test_headers_recipient_auto_submitted_date_and_subject():
    msg = mime()
    assert msg["To"] == "ops@example.com" and msg["From"] == "tradesig@box"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"].datetime == NOW
    assert msg["Subject"] == "tradesig daily report, 2024-06-04 (paper): net P&L Rs -487.80"


def test_message_id_is_stable_per_report_and_home():
    first, again = mime()["Message-ID"], mime(now=NOW + timedelta(hours=3))["Message-ID"]
    assert first == again and re.fullmatch(r"<report-daily-20240604-20240604-paper-[0-9a-f]{12}@box>", first)
    assert mime(home="/srv/other")["Message-ID"] != first


def test_no_recipient_is_refused():
    for to in ("", "  "):
        with pytest.raises(ConfigError, match="no recipient"):
            render_mime(sample(), to=to, sender="a@b", subject=None, now=NOW, home="/h")


def test_png_parts_are_referenced_by_cid_from_the_html():
    msg = mime()
    html_part = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    page = html_part.get_content()
    pngs = {p["Content-ID"].strip("<>"): p.get_content() for p in msg.walk() if p.get_content_type() == "image/png"}
    assert set(pngs) == {"equity.png@tradesig", "signals.png@tradesig", "index.png@tradesig"}
    assert set(re.findall(r'src="cid:([^"]+)"', page)) == set(pngs)
    assert all(png_size(data)[0] == 800 for data in pngs.values())
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html"] + ["image/png"] * 3


def test_html_embeds_the_same_charts_as_data_uris():
    charts = draw_charts(sample(), index_series())
    page = render_html(sample(), charts)
    embedded = [base64.b64decode(s) for s in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    assert embedded == [c.png for c in charts]


def test_report_cli_refuses_mime_without_recipient(run_cli, home):
    code, out, err = run_cli("report", "daily", "--date", "2024-06-04", "--format", "mime")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--to" in err and "report.mail_to" in err


def test_text_report_does_not_import_matplotlib(tmp_path):
    code = ("import sys\nfrom tradesig.cli.main import main\n"
            "try:\n    main(['--home', sys.argv[1], 'report', 'daily', '--date', '2024-06-04'])\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print('matplotlib' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"


def _inline_cids(msg: email.message.EmailMessage) -> str:
    """The HTML part with each cid: reference replaced by its part's data (what a mail client does)."""
    page = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    for part in msg.walk():
        if part.get_content_type() == "image/png":
            uri = "data:image/png;base64," + base64.b64encode(part.get_content()).decode("ascii")
            page = page.replace(f"cid:{part['Content-ID'].strip('<>')}", uri)
    return page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed")
def test_mail_html_renders_in_chromium_with_the_charts_visible(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    page_file = tmp_path / "report.html"
    page_file.write_text(_inline_cids(mime()), encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(page_file.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({complete: e.complete, w: e.naturalWidth, h: e.naturalHeight,"
                       " shown: e.getBoundingClientRect().width, alt: e.alt}))")
        finally:
            browser.close()
    assert len(images) == 3
    for img in images:
        assert img["complete"] and img["w"] == 800 and img["h"] > 0 and img["shown"] > 0, img

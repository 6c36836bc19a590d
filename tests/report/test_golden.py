"""Golden files: the monthly report of a backtest over real NIFTY 1m bars (June 2024, the election month) in every
format. Regenerate after an intended change with TRADESIG_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import shared_file

GOLDEN = Path(__file__).parent / "golden"
FORMATS = ["text", "markdown", "html", "csv", "json"]


@pytest.fixture(scope="module")
def backtest_home(tmp_path_factory):
    from tradesig.cli.main import main

    data = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    home = tmp_path_factory.mktemp("golden") / "home"
    env_keys = ("TRADESIG_CONFIG", "TRADESIG_KITE_ROOT", "TRADESIG_HOME")
    saved = {k: os.environ.pop(k, None) for k in env_keys}
    try:
        for argv in (["--home", str(home), "history", "import", str(data)],
                     ["--home", str(home), "trade", "backtest", "--from", "2024-06-01", "--to", "2024-06-30",
                      "--symbol", "NIFTY", "--format", "json"]):
            with pytest.raises(SystemExit) as done:
                main(argv)
            assert done.value.code in (0, None), argv
    finally:
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v
    return home


def report(run_cli, home: Path, fmt: str, *extra: str) -> str:
    code, out, err = run_cli("--home", str(home), "report", "monthly", "--date", "2024-06-15", "--mode", "backtest",
                             "--format", fmt, *extra)
    assert code == 0, err
    return out


IMG_SRC = re.compile(r'src="(data:image/png;base64,[A-Za-z0-9+/=]+|cid:[^"]+)"')


def without_images(text: str) -> str:
    """The HTML with each chart's src replaced by a placeholder: PNG bytes depend on matplotlib's version and
    fonts, so the golden file pins the page and the charts' alt text; the pictures are checked by decoding."""
    return IMG_SRC.sub('src="(chart)"', text)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRADESIG_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with TRADESIG_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


@pytest.mark.parametrize("fmt", FORMATS)
def test_backtest_report_matches_golden(run_cli, backtest_home, fmt):
    out = report(run_cli, backtest_home, fmt)
    suffix = {"text": "txt", "markdown": "md"}.get(fmt, fmt)
    if fmt == "html":
        sources = IMG_SRC.findall(out)
        assert len(sources) == 3  # equity + drawdown, per signal, the index with entries and exits
        for src in sources:
            assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
        out = without_images(out)
    check_golden(f"backtest-2024-06.{suffix}", out)


def test_golden_content_is_the_real_backtest(run_cli, backtest_home):
    doc = json.loads(report(run_cli, backtest_home, "json"))
    assert doc["mode"] == "backtest" and doc["modelled"] is True
    assert doc["summary"]["trades_closed"] == len(doc["trades"]) >= 1
    election = [t for t in doc["trades"] if t["entry_ts"].startswith("2024-06-04")]
    assert election and election[0]["signal"] == "S8" and election[0]["side"] == "bearish"
    assert round(sum(t["net_pnl"] for t in doc["trades"]), 2) == doc["summary"]["net_pnl"]


def test_mime_parses_and_carries_the_text_and_html_reports(run_cli, backtest_home):
    raw = report(run_cli, backtest_home, "mime", "--to", "ops@example.com")
    msg = email.message_from_string(raw, policy=email.policy.default)
    assert msg["To"] == "ops@example.com" and "2024-06-01 to 2024-06-30" in msg["Subject"]
    net = json.loads(report(run_cli, backtest_home, "json"))["summary"]["net_pnl"]
    assert msg["Subject"].endswith(f"net P&L Rs {net:,.2f}") and msg["Auto-Submitted"] == "auto-generated"
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in msg.walk() if not p.is_multipart()}
    assert set(parts) == {"text/plain", "text/html", "image/png"}
    text, page = (parts[k].decode("utf-8").replace("\r\n", "\n") for k in ("text/plain", "text/html"))
    assert text == (GOLDEN / "backtest-2024-06.txt").read_text(encoding="utf-8")
    assert without_images(page) == (GOLDEN / "backtest-2024-06.html").read_text(encoding="utf-8")
    cids = {p["Content-ID"].strip("<>") for p in msg.walk() if p.get_content_type() == "image/png"}
    assert cids == set(re.findall(r'src="cid:([^"]+)"', page)) and len(cids) == 3

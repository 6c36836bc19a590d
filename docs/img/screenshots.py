"""Make docs/img/page-desktop.png and docs/img/page-phone.png: the trader's page during a real replay.

Runs ``tradesig demo`` on the recorded 2024-06-04 NIFTY and NIFTY BANK session (../shared/data), opens the page
address it prints in headless Chromium (Playwright's Python package driving Debian's /usr/bin/chromium; nothing is
downloaded) and photographs it late in the replayed afternoon: desktop 1366×768 in the light theme, a 390-px-wide
phone in the dark theme.

    .venv/bin/python docs/img/screenshots.py [--speed 120] [--at 14:50]
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "intraday"
sys.path.insert(0, str(ROOT))


def main() -> int:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from tests.e2e.page_helpers import launch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--at", default="14:50", help="replayed IST time HH:MM of the photographs")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tradesig-shots-")) / "home"
    cmd = [sys.executable, "-m", "tradesig", "--home", str(home), "demo", "--date", "2024-06-04", "--speed",
           f"{args.speed:g}", "--data", str(DATA / "nifty50_1min_2024-01-01_2024-08-23.parquet"), "--data",
           str(DATA / "niftybank_1min_2024-01-01_2024-08-23.parquet")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="")
            found = re.search(r"page\s+(http://127\.0\.0\.1:\d+/)", line)
            if found and not url:
                url.append(found.group(1))
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(120)
    out = Path(__file__).resolve().parent
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            desk = browser.new_page(viewport={"width": 1366, "height": 768}, color_scheme="light")
            phone = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme="dark",
                                     device_scale_factor=2, is_mobile=True, has_touch=True)
            for page, query in ((desk, "?symbol=NIFTY&interval=5m"), (phone, "?symbol=NIFTY&interval=15m")):
                for _ in range(600):
                    try:
                        page.goto(url[0] + query, timeout=5_000)
                        break
                    except PlaywrightError:
                        time.sleep(0.5)
            desk.wait_for_function(f"() => document.getElementById('conn').textContent === 'connected' && "
                                   f"document.getElementById('mtime').textContent >= '{args.at}'", timeout=900_000,
                                   polling=500)  # rAF polling stalls in a background tab
            desk.wait_for_timeout(1500)
            desk.screenshot(path=str(out / "page-desktop.png"))
            phone.screenshot(path=str(out / "page-phone.png"), full_page=True)
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)  # the demo stops its children (sim, feed, signals, trade) on Ctrl-C
        proc.wait(60)
    print(f"wrote {out / 'page-desktop.png'} and {out / 'page-phone.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

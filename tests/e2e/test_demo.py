"""`tradesig demo` on the real 2024-06-04 session (election-day fall), run once for the module:

- while it replays, headless Chromium (Playwright, Debian's chromium) opens the page address the demo prints at
  the start and sees NIFTY's LTP change and the day's candles grow;
- when it ends: stored 1m bars equal the recording, the board and a report are printed, exit 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tests.e2e.page_helpers import chromium_missing, launch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class DemoRun:
    def __init__(self, home: Path, data: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESIG_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tradesig", "--home", str(home), "demo", "--data", str(data), "--date",
             "2024-06-04"],  # the default speed, as README's command runs it
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, stdin=subprocess.DEVNULL)
        self.lines: list[str] = []
        self.hub_ready = threading.Event()
        self.hub_url: str | None = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            found = re.search(r"page\s+(http://127\.0\.0\.1:\d+/)", line)
            if found and not self.hub_ready.is_set():
                self.hub_url = found.group(1)
                self.hub_ready.set()
        self.hub_ready.set()

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    data = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    run = DemoRun(tmp_path_factory.mktemp("demo") / "home", data)
    yield run
    if run.proc.poll() is None:  # SIGTERM first: the demo forwards it to its children (each in its own session,
        run.proc.terminate()     # which a SIGKILL of the demo alone would leave running) and waits for them
        try:
            run.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()


def test_browser_sees_prices_change_on_the_hub_page(demo_run):
    why = chromium_missing()
    if why:
        pytest.skip(why)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    assert demo_run.hub_ready.wait(timeout=180)
    assert demo_run.hub_url, f"the demo printed no page address:\n{demo_run.output}"
    assert demo_run.lines.index(next(x for x in demo_run.lines if "page " in x)) <= 2  # printed at the start
    seen: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            # the page is served once the feed runs (after login and the history backfill): retry until it is
            for _ in range(240):
                try:
                    page.goto(demo_run.hub_url, timeout=5_000)
                    break
                except PlaywrightError:  # connection refused until the feed's hub listens
                    page.wait_for_timeout(500)
            page.wait_for_function("() => document.getElementById('conn').textContent === 'connected'",
                                   timeout=20_000, polling=250)
            while len(seen) < 4:
                handle = page.wait_for_function(
                    f"() => {{ const p = document.querySelector('#tab-NIFTY .px').textContent; "
                    f"return p && !{seen!r}.includes(p) && p; }}", timeout=20_000, polling=250)
                seen.append(handle.json_value())
            page.wait_for_function("() => document.getElementById('phase').textContent === 'OPEN'",
                                   timeout=20_000, polling=250)
            page.wait_for_function("() => tradesigPage.view('NIFTY', '5m').bars.size >= 3", timeout=60_000, polling=250)
        finally:
            browser.close()
    assert all(re.fullmatch(r"[\d,]+\.\d\d", p) for p in seen), seen


def test_demo_runs_the_day_to_its_report(demo_run):
    code = demo_run.finish()
    out = demo_run.output
    assert code == 0, out
    assert "replaying 2024-06-04" in out and "recorded nifty50_1min" in out
    assert "token-check: valid" in out
    assert "stored 1m bars equal to the recording, NIFTY: 375/375" in out
    board = re.search(r"NIFTY 15m\s+bar 2024-06-04 15:15 IST\s+close ([\d.]+)\s+score (-?[\d.]+)\s+(\w+)", out)
    assert board, out
    assert float(board.group(1)) < 22_100  # the election-day fall: NIFTY opened near 23,180
    assert board.group(3) in ("SELL", "STRONG_SELL")
    assert "tradesig daily report, 2024-06-04 (paper)" in out

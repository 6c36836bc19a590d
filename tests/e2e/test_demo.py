"""`tradesig demo` on the real 2024-06-04 session (election-day fall), run once for the module:

- while it replays, headless Chromium opens the hub page it prints and sees NIFTY's LTP change;
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
from tests.e2e.chromium import Browser, chromium_binary, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class DemoRun:
    def __init__(self, home: Path, data: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESIG_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tradesig", "--home", str(home), "demo", "--data", str(data), "--date",
             "2024-06-04", "--speed", "500"],
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
            found = re.search(r"hub (http://127\.0\.0\.1:\d+/)", line)
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
    if run.proc.poll() is None:
        run.proc.kill()
        run.proc.wait()


def test_browser_sees_prices_change_on_the_hub_page(demo_run):
    if chromium_binary() is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    assert demo_run.hub_ready.wait(timeout=180)
    assert demo_run.hub_url, f"the demo printed no hub URL:\n{demo_run.output}"
    ltp = ("(() => { const r = [...document.querySelectorAll('#rows tr')].find(x => x.cells[0].textContent === "
           "'NIFTY'); return r ? r.cells[1].textContent : ''; })()")
    seen: set[str] = set()
    with Browser(demo_run.hub_url) as browser:
        wait_for(browser, "document.getElementById('conn').textContent === 'connected'", timeout=20)
        for _ in range(4):
            fresh = f"(() => {{ const p = {ltp}; return p && !{sorted(seen)!r}.includes(p) && p; }})()"
            price = wait_for(browser, fresh, timeout=20)
            seen.add(price)
        assert wait_for(browser, "document.getElementById('phase').textContent === 'OPEN'", timeout=20)
    assert len(seen) == 4
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

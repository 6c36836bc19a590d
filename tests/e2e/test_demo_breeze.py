"""`tradesig demo --data-source breeze` on the real 2024-06-04 session: market data from the sim's ICICI Breeze side
through breeze_connect, orders through its Kite side; the whole day stored equal to the recording, exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import shared_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_with_breeze_data_and_kite_orders_runs_the_whole_day(tmp_path):
    data = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESIG_")}
    proc = subprocess.run([sys.executable, "-m", "tradesig", "--home", str(tmp_path / "home"), "demo", "--data",
                           str(data), "--date", "2024-06-04", "--speed", "500", "--data-source", "breeze"],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=400)
    out = proc.stdout
    assert proc.returncode == 0, out[-2000:] + proc.stderr[-2000:]
    assert "breeze Logged in to breeze as tradesig sim (SIM001)" in out  # login --broker breeze at the sim
    assert "stored 1m bars equal to the recording, NIFTY: 375/375" in out
    assert "tradesig daily report, 2024-06-04 (paper)" in out
    wall = re.search(r"demo finished in (\d+) s", out)
    assert wall is not None  # the wall time is printed (machine-dependent: not asserted)
    feed = (tmp_path / "home" / "logs" / "feed.log").read_text()
    assert '"source": "breeze"' in feed  # the feed streamed from Breeze

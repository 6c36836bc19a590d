"""`tradesig demo` killed mid-run: its children (each in its own process group) get the signal, are waited for,
and the temporary data home goes with them — no orphan process, no /tmp/tradesig-demo-* left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import shared_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append((int(entry.name), cmdline))
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killed_demo_leaves_no_orphan_and_no_temporary_home(tmp_path, signum):
    data = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESIG_")}
    env.update({"PYTHONUNBUFFERED": "1", "TMPDIR": str(tmpdir), "XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    demo = subprocess.Popen([sys.executable, "-m", "tradesig", "demo", "--data", str(data), "--date", "2024-06-04",
                             "--speed", "50"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    lines: list[str] = []
    following = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
            if any(x.startswith("[5/7]") for x in lines) and " IST " in line:  # a progress line after step 5
                following.set()
        following.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    home = str(tmpdir / "tradesig-demo-")
    try:
        assert following.wait(timeout=240) and demo.poll() is None, "\n".join(lines)
        home = next(line.split(None, 2)[2] for line in lines if line.startswith("data home"))
        assert Path(home).parent == tmpdir and Path(home).name.startswith("tradesig-demo-")
        assert any(line.startswith("hub page    http://127.0.0.1:") for line in lines[:3]), lines[:3]
        children = _processes_mentioning(home)
        names = {word for _, cmd in children for word in ("sim serve", "feed --sim-url", "signals board",
                                                          "trade start") if word in cmd}
        logs = {p.name: p.read_text(errors="replace")[-400:] for p in (Path(home) / "logs").glob("*.log")}
        assert len(names) == 4, (children, logs)  # sim, feed, signals and trade are running

        demo.send_signal(signum)  # the demo alone, as `kill PID` or systemd's stop would
        code = demo.wait(timeout=90)
        reader.join(timeout=10)
        assert code == 128 + signum, (code, demo.stderr.read() if demo.stderr else "")
        err = demo.stderr.read() if demo.stderr else ""
        assert f"stopped by {signal.Signals(signum).name}" in err, err
        assert _processes_mentioning(home) == []
        assert not Path(home).exists()
        assert list(tmpdir.glob("tradesig-demo-*")) == []
    finally:  # after a failure, leave nothing running on the machine either
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        for pid, _ in _processes_mentioning(home):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

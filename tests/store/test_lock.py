"""One writer per data home: two real `tradesig feed` processes on one home — the second exits 2 with one line
naming the first's PID; readers never lock; a killed holder leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tradesig.store.lock import HomeLock, HomeLocked, hold


def _feed(home, *extra):
    return subprocess.Popen([sys.executable, "-m", "tradesig", "--home", str(home), "feed", "--sim-url",
                             "http://127.0.0.1:9", "--until", "none", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_locked(home, proc, timeout=60.0):
    import time

    path = home / "locks" / "feed.lock"
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if path.exists() and path.read_text().strip() == str(proc.pid):
            return True
        time.sleep(0.05)
    return False


def test_second_feed_on_one_home_exits_2_naming_the_holder(home):
    first = _feed(home)
    try:
        assert _wait_locked(home, first), first.stderr.read() if first.poll() is not None else "no lock"
        second = subprocess.run([sys.executable, "-m", "tradesig", "--home", str(home), "feed", "--sim-url",
                                 "http://127.0.0.1:9", "--until", "none"], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert second.stderr.count("\n") == 1 and f"PID {first.pid}" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        reader = subprocess.run([sys.executable, "-m", "tradesig", "--home", str(home), "history", "list"],
                                capture_output=True, text=True, timeout=60)
        assert reader.returncode == 0  # readers never lock
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    # the kernel released the dead holder's lock: no stale lock file blocks the next writer
    with hold(home, "feed") as lock:
        assert lock.path.read_text().strip() == str(os.getpid())


def test_roles_are_separate_and_an_unwritable_home_is_one_line(tmp_path):
    home = tmp_path / "home"
    with hold(home, "feed"), hold(home, "trade"):
        with pytest.raises(HomeLocked) as info:
            HomeLock(home, "trade").acquire()
        assert f"PID {os.getpid()}" in info.value.message and info.value.exit_code == 2
    (tmp_path / "file").write_text("x")
    from tradesig.errors import ConfigError

    with pytest.raises(ConfigError):
        HomeLock(tmp_path / "file" / "home", "feed").acquire()

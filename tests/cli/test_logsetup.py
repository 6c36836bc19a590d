"""Logging: ``<N>`` syslog priorities without a timestamp when stderr is the journal, today's format elsewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tradesig.logsetup import stream_is_journal, syslog_priority

SCRIPT = """
import logging, sys
from tradesig.logsetup import configure_logging
configure_logging(int(sys.argv[1]))
log = logging.getLogger("tradesig.test")
log.debug("dbg")
log.info("inf")
log.warning("careful")
log.error("broken")
try:
    1 / 0
except ZeroDivisionError:
    log.critical("crashed", exc_info=True)
"""


def _run(tmp_path: Path, verbose: int, journal: str | None) -> list[str]:
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    with err.open("w") as fh:
        if journal == "match":
            st = os.fstat(fh.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        elif journal is not None:
            env["JOURNAL_STREAM"] = journal
        subprocess.run([sys.executable, "-c", SCRIPT, str(verbose)], stderr=fh, env=env, check=True)
    return err.read_text().splitlines()


def test_journal_stream_gets_priorities_and_no_timestamp(tmp_path):
    lines = _run(tmp_path, 2, "match")
    assert lines[:4] == ["<7>DEBUG tradesig.test: dbg", "<6>INFO tradesig.test: inf",
                         "<4>WARNING tradesig.test: careful", "<3>ERROR tradesig.test: broken"]
    assert lines[4] == "<2>CRITICAL tradesig.test: crashed"
    assert len(lines) > 6 and all(line.startswith("<2>") for line in lines[4:])  # the traceback too
    assert lines[-1] == "<2>ZeroDivisionError: division by zero"


def test_terminal_or_other_stream_keeps_the_timestamped_format(tmp_path):
    stamped = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} WARNING tradesig.test: careful$")
    for journal in (None, "1:2", "garbage"):  # unset, another stream's device:inode, malformed
        lines = _run(tmp_path, 0, journal)
        assert stamped.match(lines[0]), (journal, lines)
        assert not any(line.startswith("<") for line in lines)
        assert not any("inf" in line for line in lines)  # WARNING and worse without -v


def test_stream_is_journal_and_priorities(tmp_path):
    with (tmp_path / "f").open("w") as fh:
        st = os.fstat(fh.fileno())
        assert stream_is_journal(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not stream_is_journal(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not stream_is_journal(fh, {})
    assert [syslog_priority(n) for n in (50, 40, 35, 30, 20, 15, 10, 5)] == [2, 3, 4, 4, 6, 7, 7, 7]

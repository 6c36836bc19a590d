"""save_backtest_events: one JSONL file per IST date of the run's range, replaced whole; dates without events lose
their file; a file already holding the exact bytes is left as it is; dates outside the range are never touched."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

from tradesig.trade.service import save_backtest_events


def _event(kind: str, ts: datetime, **payload) -> dict:
    return {"kind": kind, "ts": ts.isoformat(), **payload}


def _result(*events: dict) -> SimpleNamespace:
    return SimpleNamespace(events=list(events))


def test_files_per_ist_date_rerun_keeps_identical_files_and_removes_stale_ones(tmp_path):
    # 2024-01-02 20:00 UTC is 2024-01-03 01:30 IST: the file of the IST date
    first = [_event("signal", datetime(2024, 1, 2, 4, 0, tzinfo=UTC), z=1, a=datetime(2024, 1, 2, tzinfo=UTC)),
             _event("decision", datetime(2024, 1, 2, 4, 0, tzinfo=UTC), action="enter"),
             _event("basket_marked", datetime(2024, 1, 2, 20, 0, tzinfo=UTC), legs=[{"role": "main"}])]
    directory = save_backtest_events(tmp_path, _result(*first), date(2024, 1, 1), date(2024, 1, 5))
    day2, day3 = directory / "2024-01-02.jsonl", directory / "2024-01-03.jsonl"
    assert sorted(p.name for p in directory.iterdir()) == [day2.name, day3.name]
    # the lines are json.dumps(event, sort_keys=True, default=str), one per event, in emission order
    assert day2.read_text(encoding="utf-8") == "".join(json.dumps(e, sort_keys=True, default=str) + "\n"
                                                        for e in first[:2])
    assert json.loads(day3.read_text(encoding="utf-8"))["kind"] == "basket_marked"

    outside = directory / "2023-12-31.jsonl"
    outside.write_text("kept\n", encoding="utf-8")
    before = day2.stat()
    # a re-run: 01-02 unchanged (left as it is), 01-03 without events (removed), 01-04 new
    second = [*first[:2], _event("decision", datetime(2024, 1, 4, 5, 0, tzinfo=UTC), action="skip")]
    save_backtest_events(tmp_path, _result(*second), date(2024, 1, 1), date(2024, 1, 5))
    after = day2.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not day3.exists()
    assert json.loads((directory / "2024-01-04.jsonl").read_text(encoding="utf-8"))["action"] == "skip"
    assert outside.read_text(encoding="utf-8") == "kept\n"  # outside the range: never touched
    assert not list(directory.glob("*.tmp"))

    # changed content of the same length is still replaced (the bytes are compared, not only the size)
    third = [first[0], _event("decision", datetime(2024, 1, 2, 4, 0, tzinfo=UTC), action="blk..")]
    assert len(json.dumps(third[1], sort_keys=True)) == len(json.dumps(first[1], sort_keys=True))
    save_backtest_events(tmp_path, _result(*third), date(2024, 1, 2), date(2024, 1, 2))
    assert json.loads(day2.read_text(encoding="utf-8").splitlines()[1])["action"] == "blk.."
    assert (directory / "2024-01-04.jsonl").exists()  # outside this run's range

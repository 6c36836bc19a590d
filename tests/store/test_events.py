"""EventLog: append-only, fsync'd JSONL per IST date; read by range and kinds; torn tail tolerated."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from tradesig.store.events import EventLog


def test_append_and_read_by_ist_date_and_kind(tmp_path):
    log = EventLog(tmp_path)
    log.append("signal", {"signal": "S1", "price": 22000.5}, datetime(2024, 6, 3, 4, 0, tzinfo=UTC))
    log.append("order", {"id": "A1", "day": date(2024, 6, 3)}, datetime(2024, 6, 3, 19, 0, tzinfo=UTC))  # 00:30 IST
    log.append("fill", {"id": "A1"}, datetime(2024, 6, 4, 5, 0, tzinfo=UTC))
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["2024-06-03.jsonl", "2024-06-04.jsonl"]
    first = json.loads((tmp_path / "events" / "2024-06-03.jsonl").read_text().splitlines()[0])
    assert first == {"kind": "signal", "ts": "2024-06-03T04:00:00.000000+00:00", "signal": "S1", "price": 22000.5}
    assert [e["kind"] for e in log.read(date(2024, 6, 3))] == ["signal"]
    assert [e["kind"] for e in log.read(date(2024, 6, 3), date(2024, 6, 4))] == ["signal", "order", "fill"]
    assert [e["id"] for e in log.read(date(2024, 6, 1), date(2024, 6, 30), kinds=["order", "fill"])] == ["A1", "A1"]
    assert log.read(date(2024, 6, 3), date(2024, 6, 4), kinds=["order"])[0]["day"] == "2024-06-03"


def test_torn_last_line_is_skipped(tmp_path, caplog):
    log = EventLog(tmp_path)
    ts = datetime(2024, 6, 3, 4, 0, tzinfo=UTC)
    log.append("a", {}, ts)
    with open(tmp_path / "events" / "2024-06-03.jsonl", "ab") as fh:
        fh.write(b'{"kind":"b","ts":"2024')
    assert [e["kind"] for e in log.read(date(2024, 6, 3))] == ["a"]
    assert "torn" in caplog.text


def test_bad_input_is_refused(tmp_path):
    log = EventLog(tmp_path)
    with pytest.raises(ValueError):
        log.append("a", {}, datetime(2024, 6, 3, 9, 0))
    with pytest.raises(ValueError):
        log.append("a", {"kind": "x"}, datetime(2024, 6, 3, tzinfo=UTC))
    with pytest.raises(TypeError):
        log.append("a", {"x": object()}, datetime(2024, 6, 3, tzinfo=UTC))


def test_keyed_events_are_recorded_once_across_processes(tmp_path):
    """One signal, one event: many processes appending the same keyed event leave exactly one line."""
    import multiprocessing as mp

    ts = datetime(2024, 6, 4, 6, 45, tzinfo=UTC)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_keyed, args=(str(tmp_path), ts)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    rows = EventLog(tmp_path).read(date(2024, 6, 4))
    keyed = [r for r in rows if r["kind"] == "signal"]
    assert len(keyed) == 1 and keyed[0]["key"] == "NIFTY|S8|2024-06-04T05:45:00+00:00"
    # another kind with the same key, and the same kind with another key, are separate events
    log = EventLog(tmp_path)
    assert log.append("decision", {"key": keyed[0]["key"]}, ts) is True
    assert log.append("signal", {"key": "NIFTY|S8|2024-06-04T06:45:00+00:00"}, ts) is True
    assert log.append("signal", {"key": keyed[0]["key"], "extra": 1}, ts) is False
    assert len(EventLog(tmp_path).read(date(2024, 6, 4))) == 3


def _append_keyed(home: str, ts: datetime) -> None:
    for _ in range(20):
        EventLog(home).append("signal", {"key": "NIFTY|S8|2024-06-04T05:45:00+00:00", "signal": "S8"}, ts)

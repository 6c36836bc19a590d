"""Journal: length-prefixed raw frames with receive time; torn tail ignored and reported; exact resume."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradesig.store.journal import Journal

T0 = datetime(2024, 6, 3, 4, 0, tzinfo=UTC)


def test_roundtrip_and_positions(tmp_path):
    frames = [b"\x00", b"abc" * 100, b"", bytes(range(256))]
    with Journal(tmp_path) as j:
        positions = [j.append(f, T0 + timedelta(milliseconds=i)) for i, f in enumerate(frames)]
        j.flush()
    got = list(Journal(tmp_path).records(date(2024, 6, 3)))
    assert [r.data for r in got] == frames
    assert [r.recv_ts for r in got] == [T0 + timedelta(milliseconds=i) for i in range(4)]
    assert [r.position for r in got] == positions
    assert list(Journal(tmp_path).read(date(2024, 6, 3)))[1] == (T0 + timedelta(milliseconds=1), b"abc" * 100)


def test_unflushed_records_are_not_visible_until_flush(tmp_path):
    j = Journal(tmp_path)
    j.append(b"x", T0)
    assert list(Journal(tmp_path).read(date(2024, 6, 3))) == []
    j.flush()
    assert [d for _, d in Journal(tmp_path).read(date(2024, 6, 3))] == [b"x"]
    j.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=8), st.integers(1, 200))
def test_torn_tail_ignored_and_reported(tmp_path_factory, frames, cut):
    home = tmp_path_factory.mktemp("j")
    j = Journal(home)
    for i, f in enumerate(frames):
        j.append(f, T0 + timedelta(seconds=i))
    j.close()
    seg = j.segments(date(2024, 6, 3))[0]
    size = seg.stat().st_size
    cut = min(cut, size)
    os.truncate(seg, size - cut)
    reader = Journal(home)
    scan = reader.scan(date(2024, 6, 3))
    intact = [r.data for r in scan.records]
    assert intact == frames[: len(intact)]  # a prefix, nothing invented
    ends = [r.position.next_offset for r in scan.records]
    assert (ends[-1] if ends else 0) <= size - cut
    if (ends[-1] if ends else 0) < size - cut:
        assert len(scan.torn) == 1 and scan.torn[0].offset == (ends[-1] if ends else 0)
    else:
        assert scan.torn == []


def test_resume_after_position_is_exactly_once_across_restart(tmp_path):
    j = Journal(tmp_path)
    for i in range(5):
        j.append(f"f{i}".encode(), T0 + timedelta(seconds=i))
    j.close()
    seg = j.segments(date(2024, 6, 3))[0]
    with open(seg, "ab") as fh:  # a crash mid-record
        fh.write(b"\x00\x00\x00\x10partial")
    done = list(Journal(tmp_path).records(date(2024, 6, 3)))[:3]
    j2 = Journal(tmp_path)  # restart: a new segment, the torn one is left alone
    j2.append(b"f5", T0 + timedelta(seconds=10))
    j2.close()
    rest = [r.data for r in Journal(tmp_path).records(date(2024, 6, 3), after=done[-1].position)]
    assert rest == [b"f3", b"f4", b"f5"]
    assert len(j2.segments(date(2024, 6, 3))) == 2


def test_date_rollover_and_naive_time(tmp_path):
    j = Journal(tmp_path)
    j.append(b"a", datetime(2024, 6, 3, 18, 29, tzinfo=UTC))  # 23:59 IST
    j.append(b"b", datetime(2024, 6, 3, 18, 31, tzinfo=UTC))  # 00:01 IST next day
    j.close()
    assert j.dates() == [date(2024, 6, 3), date(2024, 6, 4)]
    assert [d for _, d in j.read(date(2024, 6, 4))] == [b"b"]
    with pytest.raises(ValueError):
        j.append(b"c", datetime(2024, 6, 3))

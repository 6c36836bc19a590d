"""A bar's state is a promise (docs/feed.md "Bar states"): a 1m bar is ``complete`` only if the feed was connected
and streaming for all of that minute; a minute touched by a gap, a reconnect or polling is ``partial`` until a
backfill replaces it with the broker's bar (``backfilled``); a minute whose backfill failed stays owed."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import shared_file
from tests.feed.frames import NIFTY_FILE, frames_from_bars, recorded_bars
from tradesig.clock import ManualClock
from tradesig.errors import BrokerError
from tradesig.feed.barbuilder import GRACE
from tradesig.feed.ingest import Ingestor
from tradesig.feed.kite_protocol import decode_frame
from tradesig.store.bars import empty_bars, resample
from tradesig.store.datasets import Store

DAY = date(2024, 6, 4)
MINUTES = 6
TICKS = 12  # per minute (frames_from_bars)
_TRUTH: dict[str, pl.DataFrame] = {}


def _truth(lead: bool = False) -> pl.DataFrame:
    """The recorded minutes the checks cover (10:00-10:05 IST); ``lead``: with the minute before (always live:
    the feed has been streaming NIFTY before the window)."""
    if "nifty" not in _TRUTH:
        _TRUTH["nifty"] = recorded_bars(shared_file(NIFTY_FILE), DAY, "NIFTY", 44, MINUTES + 1)
    return _TRUTH["nifty"] if lead else _TRUTH["nifty"].slice(1)


def _history(truth: pl.DataFrame) -> pl.DataFrame:
    """The broker's historical 1m bars (what Kite's /minute answers): the recording."""
    return truth.with_columns(pl.lit(None, dtype=pl.Int64).alias("volume"), pl.lit(None, dtype=pl.Int64).alias("oi"),
                              pl.lit("backfilled").alias("status"))


def _polled(frame: bytes, when: datetime) -> dict:
    price = float(decode_frame(frame).ticks.to_polars()["last_price"][0])
    return {"kind": "polled", "tokens": {"NSE:NIFTY 50": 256265},
            "quotes": {"NSE:NIFTY 50": {"instrument_token": 256265, "last_price": price,
                                        "timestamp": when.isoformat()}}}


def _replay(home: Path, modes: list[str]) -> tuple[Ingestor, list[bool]]:
    """Feed one tick per frame as ``modes`` say (live / lost / polled); returns the ingestor and, per minute,
    whether the feed was connected and streaming for all of it."""
    frames = frames_from_bars({256265: _truth(lead=True)}, n=TICKS)
    ing = Ingestor(home, ManualClock(datetime(2024, 6, 4, 5, tzinfo=UTC)), source="sim", flush_ticks=10**9)
    ing.bars.backfill_from_open = False  # the feed has been streaming since before the open
    ing.bars.stream_started(frames[0][0] - timedelta(minutes=1))
    up = True
    for i, ((when, frame), mode) in enumerate(zip(frames, ["live"] * TICKS + modes, strict=True)):
        if mode != "live" and up:
            ing.mark_disconnect("network")
            up = False
        if mode == "live" and not up:
            ing.bars.stream_started(when - GRACE)  # reconnected just before this tick
            up = True
        if mode == "live":
            ing.on_frame(frame, when)
        elif mode == "polled":
            ing.on_json(_polled(frame, when), when)
        if i % 6 == 5:
            ing.flush()
    ing.flush()
    watched = []
    for m in range(MINUTES):
        # a gap runs from the last live tick before it to the first live tick after it: the minute is watched
        # whole when its ticks, the tick before it and the tick after it all came live
        span = (["live"] + modes)[m * TICKS:(m + 1) * TICKS + 2]
        watched.append(all(x == "live" for x in span))
    return ing, watched


def _stored(home: Path, interval: str = "1m") -> pl.DataFrame:
    return Store(home).read_bars("NIFTY", interval, DAY)


def _check(home: Path, ing: Ingestor, watched: list[bool], backfill: str) -> None:
    truth = _truth()
    got = _stored(home)
    assert got["ts"].is_duplicated().sum() == 0, "a minute stored twice"
    owed = ing.bars.owed.get("NIFTY", set())
    rows = {r["ts"]: r for r in got.iter_rows(named=True)}
    for m, want in enumerate(truth.iter_rows(named=True)):
        row = rows.get(want["ts"])
        label = f"minute {m} ({want['ts']:%H:%M} UTC), watched={watched[m]}, backfill={backfill}"
        if row is None:
            assert not watched[m] and want["ts"] in owed, f"{label}: missing and not owed a backfill"
            continue
        same = all(round(row[c], 2) == round(want[c], 2) for c in ("open", "high", "low", "close"))
        if row["status"] == "complete":
            assert watched[m] and same, f"{label}: stored complete but {'wrong' if not same else 'not watched'}"
        elif row["status"] == "backfilled":
            assert same, f"{label}: backfilled row is not the broker's bar"
        else:
            assert not watched[m] and want["ts"] in owed, f"{label}: partial but not owed a backfill"
        if backfill == "ok" and not watched[m]:
            assert row["status"] == "backfilled", f"{label}: {row['status']} after a successful backfill"
    five = _stored(home, "5m")
    for row in five.iter_rows(named=True):
        inside = got.filter((pl.col("ts") >= row["ts"]) & (pl.col("ts") < row["ts"] + timedelta(minutes=5)))
        if row["status"] == "complete":
            assert inside.height == 5 and set(inside["status"]) == {"complete"}, f"5m {row['ts']} complete"
        want = resample(got.filter(pl.col("ts").is_in(inside["ts"].to_list())), "5m")
        assert want.height == 1 and want["status"][0] == row["status"], f"5m {row['ts']} not rebuilt"


def _finish(ing: Ingestor, backfill: str) -> None:
    truth = _truth(lead=True)
    end = truth["ts"].max() + timedelta(minutes=1)
    ing.end_gaps(end)  # as the service does at shutdown: gaps still open end now (their minutes are dirty)
    if backfill != "none":
        ing.flush()
        for symbol, first, last in ing.bars.backfill_requests(end):
            if backfill == "ok":
                ing.bars.apply_backfill(symbol, _history(truth), first, last)
            else:
                ing.bars.defer_backfill(symbol, first, last)
    ing.close(now=end)


segments = st.lists(st.tuples(st.sampled_from(["live", "live", "lost", "polled"]), st.integers(1, 20)),
                    min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], report_multiple_bugs=False)
@given(plan=segments, backfill=st.sampled_from(["none", "ok", "fail"]))
def test_every_stored_minute_keeps_its_promise(plan, backfill):
    modes = [mode for mode, n in plan for _ in range(n)][:MINUTES * TICKS]
    modes += ["live"] * (MINUTES * TICKS - len(modes))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        ing, watched = _replay(home, modes)
        _finish(ing, backfill)
        _check(home, ing, watched, backfill)


def test_a_minute_cut_short_by_a_drop_then_closed_by_polled_ticks_is_not_complete(tmp_path):
    """Issue 15 item 1: 13 s of live ticks, a drop, then REST-polled ticks of later minutes close the minute
    before the gap is closed: the minute must not be stored complete from its first ticks."""
    home = tmp_path / "home"
    modes = ["live"] * (TICKS + 3) + ["lost"] * 15 + ["polled"] * 20
    modes += ["live"] * (MINUTES * TICKS - len(modes))
    ing, watched = _replay(home, modes)
    assert watched[:3] == [True, False, False]
    minute = _truth()["ts"][1]
    ing.flush()
    stored = _stored(home)
    assert minute not in stored.filter(pl.col("status") == "complete")["ts"].to_list()
    _finish(ing, "ok")
    _check(home, ing, watched, "ok")


def test_backfill_replaces_a_stored_wrong_row_and_rebuilds_the_higher_bars(tmp_path):
    """Issue 15 item 1: "backfilled 2 bars" must mean the stored parts read back as the broker's rows."""
    home = tmp_path / "home"
    truth = _truth()
    wrong = _history(truth).with_columns(pl.lit("complete").alias("status"), (pl.col("low") + 50).alias("low"))
    store = Store(home)
    store.write_bars(wrong, "1m", "sim")
    store.write_bars(resample(wrong, "5m"), "5m", "sim")
    ing = Ingestor(home, ManualClock(datetime(2024, 6, 4, 5, tzinfo=UTC)), source="sim")
    ing.bars.owed["NIFTY"] = set(truth["ts"].to_list()[1:3])
    (sym, first, last), = ing.bars.backfill_requests(truth["ts"].max() + timedelta(minutes=1))
    assert ing.bars.apply_backfill(sym, _history(truth), first, last) == 2
    got = _stored(home)
    assert got["status"].to_list() == ["complete", "backfilled", "backfilled", "complete", "complete", "complete"]
    assert got["low"].to_list()[1:3] == truth["low"].to_list()[1:3]
    assert got["ts"].is_duplicated().sum() == 0
    five = Store(home).read_bars("NIFTY", "5m", DAY)
    assert five["status"][0] == "backfilled" and five["low"][0] == min(truth["low"][1:3].min(), wrong["low"][0],
                                                                         wrong["low"][3:5].min())


def test_a_failed_backfill_is_retried_with_backoff_then_at_the_next_start(tmp_path):
    """Issue 15 item 4: three 429s: the minutes are stored partial and owed; a later attempt (after the backoff)
    replaces them; a new run owes the stored partial minutes again."""
    import asyncio
    from types import SimpleNamespace

    from tradesig.feed.backfill import DEFER_AFTER, Backfiller
    from tradesig.feed.backoff import Backoff

    home = tmp_path / "home"
    modes = ["live"] * TICKS + ["lost"] * TICKS * 2 + ["live"] * TICKS * 3
    ing, watched = _replay(home, modes)
    truth = _truth()
    clock = ManualClock(datetime(2024, 6, 4, 5, tzinfo=UTC))
    calls: list[str] = []

    class Rest:
        fail = True

        def historical_1m(self, token, symbol, first, last):
            calls.append(symbol)
            if self.fail:
                raise BrokerError("Kite answered 429: Too many requests")
            return _history(truth)

    rest = Rest()
    source = SimpleNamespace(backfills=True, rest=rest, universe=SimpleNamespace(tokens={256265: "NIFTY"}))

    async def prepare():
        return None

    source.prepare_backfill = prepare
    filler = Backfiller(source, ing, Backoff(base=1.0, cap=4.0), clock)
    ing.flush()
    for _ in range(DEFER_AFTER):
        asyncio.run(filler.run(connected=True))
        asyncio.run(filler.run(connected=True))  # within the backoff: no second call
        clock.advance(5.0)
    assert calls == ["NIFTY"] * DEFER_AFTER
    owed = set(ing.bars.owed["NIFTY"])
    assert owed and not ing.bars.dirty.get("NIFTY")
    assert set(_stored(home).filter(pl.col("ts").is_in(list(owed)))["status"]) <= {"partial"}
    # a new run on the same home owes the stored partial minutes again
    again = Ingestor(home, ManualClock(datetime(2024, 6, 4, 5, tzinfo=UTC)), source="sim")
    again.bars.owe_stored_partial(DAY)
    assert again.bars.owed["NIFTY"] == {m for m in owed if m in _stored(home)["ts"].to_list()}
    rest.fail = False
    asyncio.run(filler.run(connected=True))
    _finish(ing, "none")
    _check(home, ing, watched, "ok")
    assert not ing.bars.owed["NIFTY"]


def test_empty_history_answer_writes_partial_and_is_not_owed(tmp_path):
    home = tmp_path / "home"
    modes = ["live"] * TICKS + ["polled"] * TICKS + ["live"] * TICKS * 4
    ing, watched = _replay(home, modes)
    ing.flush()
    for symbol, first, last in ing.bars.backfill_requests():
        ing.bars.apply_backfill(symbol, empty_bars(), first, last)
    assert not ing.bars.owed.get("NIFTY")
    assert "partial" in _stored(home)["status"].to_list()

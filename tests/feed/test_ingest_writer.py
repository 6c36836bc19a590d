"""The ingestor's writer thread (``write_behind``): a flush's Parquet write runs off the event loop, in order;
stop waits for it; a failed write is raised, and nothing is stored after it. Bar steps and the higher intervals'
shortcut store what the plain path stores."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from tests.conftest import shared_file
from tests.feed.frames import BANK_FILE, NIFTY_FILE, frames_from_bars, recorded_bars
from tradesig.clock import ManualClock
from tradesig.feed.barbuilder import BarBuilder
from tradesig.feed.ingest import Ingestor
from tradesig.store.datasets import Store

DAY = date(2024, 6, 4)
RECV = datetime(2026, 1, 1, tzinfo=UTC)
INTERVALS = ("1m", "5m", "15m", "1h", "4h")


def _clock():
    return ManualClock(datetime(2024, 6, 4, 10, tzinfo=UTC))


def _frames(minutes: int = 20) -> tuple[pl.DataFrame, list[tuple[datetime, bytes]]]:
    nifty = recorded_bars(shared_file(NIFTY_FILE), DAY, "NIFTY", 0, minutes)
    bank = recorded_bars(shared_file(BANK_FILE), DAY, "BANKNIFTY", 0, minutes)
    return nifty, frames_from_bars({256265: nifty, 260105: bank})


class _HeldWrites:
    """Wraps ``Store.write_ticks``: each call says where it runs and waits until released."""

    def __init__(self, store: Store, *, fail: BaseException | None = None) -> None:
        self.real = store.write_ticks
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []
        self.calls = 0

    def __call__(self, df: pl.DataFrame) -> int:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        self.release.wait()
        if self.fail is not None:
            raise self.fail
        return self.real(df)


def test_the_loop_keeps_running_while_a_flush_is_written(tmp_path):
    nifty, frames = _frames(5)
    ing = Ingestor(tmp_path, _clock(), source="sim", flush_ticks=10**9, write_behind=True)
    held = _HeldWrites(ing.store)
    ing.store.write_ticks = held  # type: ignore[method-assign]

    async def scenario() -> int:
        beats = 0
        beating = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal beats
            while True:
                beats += 1
                if beats >= 5:
                    beating.set()
                await asyncio.sleep(0)

        for i, (_, frame) in enumerate(frames):
            ing.on_frame(frame, RECV + timedelta(milliseconds=i))
        assert ing.flush() == len(frames) * 2  # handed over: the write is held on the writer thread
        task = asyncio.create_task(heartbeat())
        await asyncio.to_thread(held.entered.wait)
        await beating.wait()  # the loop turned again and again while the write was blocked
        assert not held.release.is_set() and ing.writer is not None and ing.writer.pending >= 1
        held.release.set()
        await asyncio.to_thread(ing.drain)
        task.cancel()
        return beats

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) >= 5
    assert held.threads and all(name.startswith("ingest-writer") for name in held.threads)
    assert threading.current_thread().name not in held.threads
    ing.close(now=nifty["ts"].max() + timedelta(minutes=1))
    assert Store(tmp_path).read_ticks(date=RECV.date()).height == len(frames) * 2 == ing.stats.ticks_written


def test_stop_waits_for_pending_writes(tmp_path):
    nifty, frames = _frames(5)
    ing = Ingestor(tmp_path, _clock(), source="sim", flush_ticks=40, write_behind=True)
    held = _HeldWrites(ing.store)
    ing.store.write_ticks = held  # type: ignore[method-assign]
    for i, (_, frame) in enumerate(frames):
        ing.on_frame(frame, RECV + timedelta(milliseconds=i))
    releaser = threading.Thread(target=lambda: (held.entered.wait(), held.release.set()))
    releaser.start()
    ing.close(now=nifty["ts"].max() + timedelta(minutes=1))  # returns only once every part is written
    releaser.join()
    assert held.calls >= 2 and ing.writer is not None and ing.writer.pending == 0
    store = Store(tmp_path)
    assert store.read_ticks(date=RECV.date()).height == len(frames) * 2 == ing.stats.ticks_written
    assert store.read_bars("NIFTY", "1m", DAY)["close"].to_list() == nifty["close"].to_list()
    assert ing.stats.bars_written["1m"] == 2 * nifty.height


def test_a_failed_write_is_raised_and_nothing_is_stored_after_it(tmp_path):
    _, frames = _frames(5)
    ing = Ingestor(tmp_path, _clock(), source="sim", flush_ticks=10**9, write_behind=True)
    held = _HeldWrites(ing.store, fail=OSError(28, "No space left on device"))
    ing.store.write_ticks = held  # type: ignore[method-assign]
    held.release.set()
    half = len(frames) // 2
    for i, (_, frame) in enumerate(frames[:half]):
        ing.on_frame(frame, RECV + timedelta(milliseconds=i))
    ing.flush()
    with pytest.raises(OSError, match="No space left"):
        ing.drain()
    with pytest.raises(OSError, match="No space left"):  # every later flush says so too: the feed stops
        ing.flush()
    with pytest.raises(OSError, match="No space left"):
        ing.close()
    assert held.calls == 1
    assert Store(tmp_path).read_ticks(date=RECV.date()).is_empty()
    # the journal has every frame: a restart recovers them all
    again = Ingestor(tmp_path, _clock(), source="sim")
    assert again.recover() == half * 2


def _stored(home) -> dict[str, pl.DataFrame]:
    store = Store(home)
    return {f"{s} {i}": store.read_bars(s, i, DAY).drop("source", strict=False)
            for s in ("NIFTY", "BANKNIFTY") for i in INTERVALS}


def test_bar_steps_and_the_writer_store_what_one_flush_stores(tmp_path, monkeypatch):
    """Flushing at the end only, bar steps every 50 ticks with the writer thread, and the same with the higher
    intervals' shortcut turned off (every resample over the whole window): the same ticks and bars, and every bar
    the single flush publishes is published alike."""
    nifty, frames = _frames(40)
    runs = {}
    for name, kwargs, shortcut in (("one flush", {"flush_ticks": 10**9, "bar_ticks": 10**9}, True),
                                   ("steps", {"flush_ticks": 300, "bar_ticks": 50, "write_behind": True}, True),
                                   ("steps, no shortcut", {"flush_ticks": 300, "bar_ticks": 50}, False)):
        home = tmp_path / name.replace(" ", "_").replace(",", "")
        published: list[dict] = []
        if not shortcut:
            real = BarBuilder._write_higher

            def full(self, *, final, real=real):
                self._higher_mark = None
                return real(self, final=final)

            monkeypatch.setattr(BarBuilder, "_write_higher", full)
        ing = Ingestor(home, _clock(), source="sim", on_bar=published.append, **kwargs)
        for i, (_, frame) in enumerate(frames):
            ing.on_frame(frame, RECV + timedelta(milliseconds=i))
        ing.close(now=nifty["ts"].max() + timedelta(minutes=1))
        monkeypatch.undo()
        ticks = Store(home).read_ticks(date=RECV.date()).drop("journal_segment")
        bars = {(b["interval"], b["symbol"], b["ts"]): b for b in published}
        runs[name] = (ticks, _stored(home), bars, dict(ing.stats.bars_written))
    base_ticks, base_bars, base_published, base_written = runs["one flush"]
    assert base_bars["NIFTY 1h"].height == 1 and base_bars["NIFTY 4h"].height == 1
    for name, (ticks, bars, published, written) in runs.items():
        assert ticks.equals(base_ticks), name
        for key, want in base_bars.items():
            assert bars[key].equals(want), (name, key)
        # one flush publishes only each write's newest bars per symbol (a catch-up); steps publish more of them
        assert all(published.get(k) == bar for k, bar in base_published.items()), name
        assert written == base_written, name


def test_every_published_bar_is_readable_after_commit_bars_and_a_barrier_from_another_thread(tmp_path):
    """The page's reads (a hub worker thread) must see every bar viewers were sent: with the writer thread a bar
    step publishes bars that are only collected (written at the next flush). ``commit_bars`` (on the loop) then
    ``writer.barrier()`` (from the reader's thread) make them readable through a plain Store."""
    nifty, frames = _frames(8)
    published: list[datetime] = []
    ing = Ingestor(tmp_path, _clock(), source="sim", flush_ticks=10**9, bar_ticks=12, write_behind=True,
                   on_bar=lambda bar: published.append(bar["ts"]) if bar["interval"] == "1m" else None)
    for recv, frame in frames:
        ing.on_frame(frame, recv)
    assert len(published) >= 5  # bar steps closed and published minutes without any flush

    def stored() -> set[datetime]:
        return set(Store(tmp_path).read_bars("NIFTY", "1m", DAY, DAY)["ts"].to_list())

    nifty_published = {ts for ts in published if ts in set(nifty["ts"].to_list())}
    assert not nifty_published <= stored()  # collected, not yet written: the race the page met
    ing.commit_bars()
    reader = threading.Thread(target=ing.writer.barrier)
    reader.start()
    reader.join(30)
    assert not reader.is_alive() and nifty_published <= stored()
    ing.close()

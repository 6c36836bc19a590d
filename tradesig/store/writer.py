"""Write-behind for the store: one background thread runs the store's writes in the order they were handed over.

The feed's event loop must not wait for a Parquet part to be encoded, fsync'd and renamed (0.2–2 s for 100,000
ticks on a loaded machine, docs/benchmarks.md "## fanout"). polars' ``write_parquet`` and ``os.fsync`` release the
GIL, so one writer thread lets the loop keep serving viewers meanwhile.

Promises (DESIGN.md "Storage", docs/feed.md "Crashes"):

* **Order.** One worker thread: jobs run one at a time, in submission order — parts appear on disk in the order
  the ticks arrived, so "the largest stored journal position" stays a prefix of the journal.
* **Whole parts.** Each job is an ordinary store write (temp name, fsync, rename); a crash leaves a part whole or
  absent, as before.
* **Errors are not lost.** The first job that raises stops the writer: every later job is skipped (no part may be
  stored after a missing one, or recovery would skip the missing one's ticks), and the exception is raised again
  on the caller's thread by the next :meth:`WriteBehind.submit`, :meth:`WriteBehind.drain` or read through
  :class:`DeferredStore`.
* **Nothing left behind.** :meth:`WriteBehind.drain` waits for every job handed over so far (the feed's stop and
  every store read through :class:`DeferredStore`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tradesig.store.datasets import Store


class WriteBehind:
    """One background writer thread (created on the first job) running jobs in submission order.

    ``name``: the thread's name prefix (shown by py-spy and in thread dumps).
    """

    def __init__(self, name: str = "store-writer") -> None:
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[Any]] = []
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Jobs handed over and not finished yet."""
        self._pending = [f for f in self._pending if not f.done()]
        return len(self._pending)

    @property
    def error(self) -> BaseException | None:
        """The first job's exception, if one failed (the writer then runs nothing more)."""
        return self._error

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` after every job handed over before it; returns its future. Raises the first failed
        job's exception instead (the job is not queued)."""
        self.raise_if_failed()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        future = self._pool.submit(self._run, fn, args)
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(future)
        return future

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        with self._lock:
            if self._error is not None:
                raise RuntimeError("store writer stopped by an earlier failed write") from self._error
        try:
            return fn(*args)
        except BaseException as exc:
            with self._lock:
                if self._error is None:
                    self._error = exc
            raise

    def raise_if_failed(self) -> None:
        """Raise the first failed job's exception (once a write failed, the feed must stop: exit as for a write
        error on the loop)."""
        if self._error is not None:
            raise self._error

    def barrier(self) -> None:
        """From any thread: wait until every job handed over before this call has run (done or failed; the
        failure is the feed's to report). A reader in another thread calls it to see what was written so far."""
        pool = self._pool
        if pool is not None:
            with contextlib.suppress(RuntimeError):  # the pool was shut down: every job has run
                pool.submit(lambda: None).result()

    def drain(self) -> None:
        """Wait for every job handed over so far; raise the first failed job's exception."""
        for future in list(self._pending):
            try:
                future.result()
            except BaseException:  # noqa: BLE001 - reported below as the first failure, not per job
                pass
        self._pending = []
        self.raise_if_failed()

    def close(self) -> None:
        """:meth:`drain`, then stop the thread (raises the first failed job's exception, after stopping)."""
        try:
            self.drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


class DeferredStore:
    """A :class:`Store` whose bar and tick writes go through a :class:`WriteBehind`.

    :meth:`write_bars` only collects: the bars of one interval and source are written as one store write (one part
    per date, one dedup scan of the stored parts) by :meth:`commit` — a store write per bar step would leave a part
    per step and make every later write scan them all. Collected rows keep their order, so the store's rule (a
    repeated (symbol, ts) keeps the first) gives what the separate writes would have. :meth:`replace_bars` and
    :meth:`write_ticks` commit the collected bars first, then queue their own write. Every other attribute —
    reads above all — commits and waits for every write handed over so far, so a read sees them.

    A write returns a :class:`~concurrent.futures.Future` of the rows written instead of the count (for a
    collected write: the first call of the batch gets the batch's future, the others 0).
    """

    def __init__(self, store: Store, writer: WriteBehind) -> None:
        self.store = store
        self.writer = writer
        self._bars: dict[tuple[str, str], tuple[list[Any], Future[int]]] = {}

    def write_bars(self, df: Any, interval: str, source: str) -> Future[int] | int:
        self.writer.raise_if_failed()
        batch = self._bars.get((interval, source))
        if batch is not None:
            batch[0].append(df)
            return 0
        future: Future[int] = Future()
        self._bars[(interval, source)] = ([df], future)
        return future

    def commit(self) -> None:
        """Hand the collected bar writes to the writer thread (one store write per interval and source)."""
        batches, self._bars = self._bars, {}
        for (interval, source), (frames, future) in batches.items():
            self.writer.submit(self._write_batch, frames, interval, source, future)

    def _write_batch(self, frames: list[Any], interval: str, source: str, future: Future[int]) -> int:
        import polars as pl

        try:
            rows = self.store.write_bars(pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1
                                         else frames[0], interval, source)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(rows)
        return rows

    def replace_bars(self, df: Any, interval: str, source: str) -> Future[int]:
        self.commit()
        return self.writer.submit(self.store.replace_bars, df, interval, source)

    def write_ticks(self, df: Any) -> Future[int]:
        self.commit()
        return self.writer.submit(self.store.write_ticks, df)

    def bars_dir(self, interval: str, extended: bool = False) -> Any:
        return self.store.bars_dir(interval, extended)

    def drain(self) -> None:
        """:meth:`commit`, then wait for every write handed over; raises the first failed write's exception."""
        self.commit()
        self.writer.drain()

    def __getattr__(self, name: str) -> Any:
        self.drain()
        return getattr(self.store, name)


__all__ = ["WriteBehind", "DeferredStore"]

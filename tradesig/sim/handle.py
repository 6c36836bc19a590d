"""A sim exchange running on its own event loop in a daemon thread (tests, ``tradesig demo``)."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradesig.sim.exchange import SimExchange


class SimHandle:
    """A sim running on its own event loop in a daemon thread (context manager; ``stop()`` ends it).

    ``port``, ``rest_url`` (for ``KiteConnect(root=...)``), ``ws_url`` (for ``KiteTicker(root=...)``),
    ``breeze_url`` (the Breeze side's root, when served),
    ``api_key``/``api_secret``; ``fault(spec)`` and ``state()`` run on the sim's loop and return its answer.
    """

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="tradesig-sim", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._host = "127.0.0.1"
        self._port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.exchange.start(self._host, self._port))
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.exchange.stop())
        self.loop.close()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SimHandle:
        self._host, self._port = host, port
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the sim's loop and return its result."""
        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.call(self.exchange.apply_fault, spec)

    def state(self) -> dict[str, Any]:
        return self.call(self.exchange.state)

    def wait_session_over(self, timeout: float | None = None) -> bool:
        fut = asyncio.run_coroutine_threadsafe(self.exchange.session_over.wait(), self.loop)
        try:
            fut.result(timeout=timeout)
            return True
        except TimeoutError:
            fut.cancel()
            return False

    @property
    def port(self) -> int:
        return self.exchange.port

    @property
    def rest_url(self) -> str:
        return self.exchange.rest_url

    @property
    def ws_url(self) -> str:
        return self.exchange.ws_url

    @property
    def breeze_url(self) -> str | None:
        """The Breeze side's root (``breeze.root`` / ``--sim-url`` for Breeze), None when it is not served."""
        return self.exchange.breeze.url if self.exchange.breeze is not None else None

    @property
    def api_key(self) -> str:
        return self.exchange.config.api_key

    @property
    def api_secret(self) -> str:
        return self.exchange.config.api_secret

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["SimHandle"]

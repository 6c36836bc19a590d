"""What ``tradesig feed`` was asked to do (:class:`FeedOptions`), what a run did (:class:`FeedSummary`), and the
broker roots it talks to (:func:`resolve_roots`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import time
from typing import Literal

from tradesig.config import LoadedConfig

SourceName = Literal["kite", "sim", "breeze"]
SOURCES: tuple[SourceName, ...] = ("kite", "sim", "breeze")


@dataclass
class FeedOptions:
    """What ``tradesig feed`` was asked to do (CLI flags over config).

    ``source`` kite|sim|breeze; ``symbols`` index keys; ``until`` IST time to stop (None: run until stopped);
    ``serve`` ``[HOST:]PORT`` of the hub (None: no hub); ``hub_token``/``publish_token`` the viewer and publisher
    tokens (text); ``rest_root``/``ws_root`` Kite roots (None: config / env / ``sim_url``); ``sim_url`` the sim's
    REST URL (its ticker is the same host and port); ``chain_strikes`` option strikes each side of spot (0: none);
    ``idle_outside_session``: idle when the calendar says the market is shut (False for the sim's replays).
    Seconds: ``stall_seconds``, ``backoff_base``/``backoff_cap``, ``poll_after_seconds``, ``token_reload_seconds``,
    ``status_seconds``; ``sim_gone_seconds``: a followed sim unreachable this long (wall) is gone for good.
    """

    source: str = "kite"
    symbols: list[str] = field(default_factory=lambda: ["NIFTY", "BANKNIFTY", "SENSEX"])
    until: time | None = None
    serve: str | None = None
    hub_token: str | None = None
    publish_token: str | None = None
    rest_root: str | None = None
    ws_root: str | None = None
    sim_url: str | None = None
    api_key: str | None = None
    chain_strikes: int = 0
    stall_seconds: float = 15.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    poll_after_seconds: float = 10.0
    token_reload_seconds: float = 1.0
    client_queue: int = 1000
    hub_send_buffer: int | None = 2**16
    status_seconds: float = 1.0
    idle_outside_session: bool = True
    flush_ticks: int = 100_000
    sim_gone_seconds: float = 30.0


@dataclass
class FeedSummary:
    """What a run did (returned by :meth:`FeedService.run`; rendered by the CLI)."""

    source: str
    ticks: int
    polled_ticks: int
    ticks_written: int
    bars_written: dict[str, int]
    gaps: int
    reconnects: int
    token_waits: int
    recovered_ticks: int
    connect_attempts: int
    stopped_by: str


def options_from_settings(loaded: LoadedConfig, **overrides: object) -> FeedOptions:
    """:class:`FeedOptions` from the config's ``feed``/``hub``/``kite`` sections, then ``overrides`` (non-None)."""
    s = loaded.settings
    opts = FeedOptions(symbols=list(s.feed.symbols), chain_strikes=s.feed.chain_strikes,
                       stall_seconds=s.feed.stall_seconds, backoff_cap=s.feed.backoff_cap_seconds,
                       poll_after_seconds=s.feed.poll_after_seconds,
                       token_reload_seconds=min(s.feed.token_reload_seconds, 1.0),
                       client_queue=s.hub.client_queue)
    for key, value in overrides.items():
        if value is not None:
            setattr(opts, key, value)
    return opts


def resolve_roots(loaded: LoadedConfig, options: FeedOptions, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(REST root, ticker root): ``--sim-url`` (same host for both; ws:// for the ticker), else explicit options,
    else ``TRADESIG_KITE_ROOT``/``TRADESIG_KITE_WS_ROOT``, else config ``kite.root``/``kite.ws_root``."""
    env = dict(os.environ) if env is None else env
    if options.sim_url:
        rest = options.sim_url.rstrip("/")
        ws = "ws" + rest[len("http"):] if rest.startswith("http") else rest
        return rest, ws
    rest = options.rest_root or env.get("TRADESIG_KITE_ROOT") or loaded.settings.kite.root
    ws = options.ws_root or env.get("TRADESIG_KITE_WS_ROOT") or loaded.settings.kite.ws_root
    return rest.rstrip("/"), ws.rstrip("/")


__all__ = ["FeedOptions", "FeedSummary", "SOURCES", "SourceName", "options_from_settings", "resolve_roots"]

"""ICICI Breeze streaming (socket.io, through the official ``breeze_connect`` client) into the same storage.

``breeze_connect`` downloads ICICI's security master when it is *imported* and writes ``./logs``: it is imported
lazily through :func:`tradesig.broker.breeze.import_breeze` (which contains both), only when ``--source breeze``
runs — never at module import, never in tests without a patched network.

Breeze ticks arrive on a socket.io thread as dicts (``BreezeConnect.parse_data``; equity/index quotes:
``symbol`` like ``"4.1!NIFTY"``, ``last``, ``open``, ``high``, ``low``, ``close``, ``change``, ``ttq`` (total
traded quantity), ``ltq``, ``avgPrice``, ``totalBuyQt``, ``totalSellQ``, ``ltt`` formatted with ``%c`` in the
process's local time zone, ``stock_name``). :class:`BreezeStream` hands each batch to the asyncio loop, which
journals it as a JSON record ``{"kind": "breeze", "ticks": [...]}`` and stores ticks with the index's Kite token
(so bars and readers see one symbol space).

ICICI stock codes of the indices (breeze_connect ``config.AGGRESSIVE_LIMIT_INDICES``): NIFTY 50 ``NIFTY``,
NIFTY BANK ``CNXBAN`` (NSE), SENSEX ``BSESEN`` (BSE).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tradesig.market import INDICES

log = logging.getLogger(__name__)

#: tradesig key → (Breeze exchange_code, ICICI stock_code).
BREEZE_CODES: dict[str, tuple[str, str]] = {"NIFTY": ("NSE", "NIFTY"), "BANKNIFTY": ("NSE", "CNXBAN"),
                                            "SENSEX": ("BSE", "BSESEN")}
_CODE_TO_SYMBOL = {code: sym for sym, (_, code) in BREEZE_CODES.items()}
_NAME_TO_SYMBOL = {"NIFTY 50": "NIFTY", "NIFTY BANK": "BANKNIFTY", "SENSEX": "SENSEX", "BSE SENSEX": "SENSEX"}


def _symbol_of(tick: dict[str, Any]) -> str | None:
    for key in ("stock_name", "stock_code"):
        name = str(tick.get(key) or "").upper()
        if name in _NAME_TO_SYMBOL:
            return _NAME_TO_SYMBOL[name]
        if name in _CODE_TO_SYMBOL:
            return _CODE_TO_SYMBOL[name]
    raw = str(tick.get("symbol") or "")
    code = raw.split("!", 1)[-1].upper()
    return _CODE_TO_SYMBOL.get(code) or _NAME_TO_SYMBOL.get(code)


def _ltt(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    try:
        return datetime.strptime(str(value), "%c").astimezone(UTC)  # naive local time, as breeze formats it
    except ValueError:
        try:
            return datetime.fromisoformat(str(value)).astimezone(UTC)
        except ValueError:
            return None


def _num(value: Any, kind=float) -> Any:
    if value in (None, ""):
        return None
    try:
        return kind(float(value))
    except (TypeError, ValueError):
        return None


def breeze_ticks(ticks: list[dict[str, Any]], recv_ts: datetime) -> pl.DataFrame:
    """Tick rows (codec columns, mode "quote") for the Breeze ticks of the three indices; other ticks are
    dropped. ``instrument_token`` is the index's Kite token; prices rupees; ``volume_traded`` from ``ttq``; the
    best bid/ask (``bPrice``/``bQty``/``sPrice``/``sQty``) in depth level 1; ``oi`` from ``OI``. A field the tick
    does not carry (or carries as null) stays null: nothing is computed (docs/feed.md lists every source)."""
    from tradesig.feed.kite_protocol import tick_schema

    rows = []
    for t in ticks:
        symbol = _symbol_of(t)
        if symbol is None or _num(t.get("last")) is None:
            continue
        rows.append({
            "instrument_token": INDICES[symbol].token, "mode": "quote", "tradable": False,
            "last_price": _num(t.get("last")), "last_traded_quantity": _num(t.get("ltq"), int),
            "average_traded_price": _num(t.get("avgPrice")), "volume_traded": _num(t.get("ttq"), int),
            "total_buy_quantity": _num(t.get("totalBuyQt"), int), "total_sell_quantity": _num(t.get("totalSellQ"), int),
            "open": _num(t.get("open")), "high": _num(t.get("high")), "low": _num(t.get("low")),
            "close": _num(t.get("close")), "change": _num(t.get("change")),
            "exchange_timestamp": _ltt(t.get("ltt")), "last_trade_time": _ltt(t.get("ltt")),
            "oi": _num(t.get("OI"), int),
            "bid_price_1": _num(t.get("bPrice")), "bid_qty_1": _num(t.get("bQty"), int),
            "ask_price_1": _num(t.get("sPrice")), "ask_qty_1": _num(t.get("sQty"), int),
        })
    schema = tick_schema()
    if not rows:
        return pl.DataFrame()
    df = pl.DataFrame(rows, schema={k: schema[k] for k in rows[0]})
    df = df.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in df.columns])
    return df.select([pl.col(c).cast(t) for c, t in schema.items()]).with_columns(
        pl.lit(recv_ts).cast(pl.Datetime("us", "UTC")).alias("recv_ts"))


class BreezeStream:
    """Streams the indices' quotes through breeze_connect.

    ``api_key``/``api_secret``/``session_token``: Breeze credentials (the stored Breeze token record);
    ``home``: data home (breeze_connect's logs go under ``home/logs/breeze``); ``on_ticks(list[dict])`` runs on
    the asyncio ``loop`` for every tick batch. ``module``: an already imported breeze_connect (tests); ``root``:
    where every Breeze endpoint is served (None: ICICI's hosts; :func:`tradesig.broker.breeze.import_breeze`).
    :attr:`lost` is set (on the socket.io thread) when the quote stream disconnects: breeze_connect itself does not
    say so, the feed's pump watches it and reconnects with a new session.
    Raises :class:`BrokerError` when breeze_connect cannot be imported or ICICI fails, TokenError for a rejected
    session (as ``tradesig login --broker breeze`` classifies them; no secret in the message).
    """

    def __init__(self, api_key: str, api_secret: str, session_token: str, *, home: Path,
                 loop: asyncio.AbstractEventLoop, on_ticks: Callable[[list[dict[str, Any]]], None],
                 module: Any = None, root: str | None = None) -> None:
        self._key, self._secret, self._session = api_key, api_secret, session_token
        self._home = home
        self._loop = loop
        self._on_ticks = on_ticks
        self._module = module
        self._root = root
        self.client: Any = None
        self.lost = threading.Event()

    def start(self, symbols: list[str]) -> None:
        """Blocking: create the client, open the session and socket.io stream, subscribe ``symbols``.
        Run it in a thread (``asyncio.to_thread``)."""
        module = self._module
        if module is None:
            from tradesig.broker.breeze import import_breeze

            module = import_breeze(self._home / "logs" / "breeze", self._root)
        try:
            client = module.BreezeConnect(api_key=self._key)
            self.client = client
            client.generate_session(api_secret=self._secret, session_token=self._session)
            client.on_ticks = self._tick
            client.ws_connect()
            handler = getattr(client, "sio_rate_refresh_handler", None)
            if handler is not None and hasattr(handler, "sio"):  # python-socketio's client inside breeze_connect
                handler.sio.on("disconnect", self._disconnected)
            for symbol in symbols:
                exchange, code = BREEZE_CODES[symbol]
                client.subscribe_feeds(exchange_code=exchange, stock_code=code, product_type="cash",
                                       get_exchange_quotes=True, get_market_depth=False)
        except Exception as exc:  # breeze_connect raises only bare Exception; classified as the login does it
            from tradesig.broker.breeze import _classify

            self.stop()
            raise _classify(exc, (self._session, self._secret)) from None
        log.info("breeze stream subscribed %s", ", ".join(symbols))

    def _tick(self, tick: dict[str, Any] | list[dict[str, Any]]) -> None:
        batch = tick if isinstance(tick, list) else [tick]
        self._loop.call_soon_threadsafe(self._on_ticks, batch)

    def _disconnected(self, *reason: Any) -> None:
        self.lost.set()

    def session_refused(self) -> str | None:
        """After a lost stream: ICICI's error text when it no longer accepts this session (one ``customerdetails``
        call with the API session), None when it does or cannot say (unreachable). Blocking."""
        client = self.client
        if client is None:
            return None
        try:
            answer = client.get_customer_details(api_session=self._session)
        except Exception:  # noqa: BLE001 - breeze_connect raises bare Exception; unreachable says nothing here
            return None
        if isinstance(answer, dict) and answer.get("Success") is None and answer.get("Error"):
            return str(answer["Error"])
        return None

    def stop(self) -> None:
        """Close the client's socket.io connections for good: breeze_connect's ``ws_disconnect`` (which only
        emits an event named "disconnect", and raises when the connection is already gone), then the
        python-socketio clients it held are disconnected directly, which also ends their automatic reconnection."""
        from socketio.exceptions import SocketIOError

        client, self.client = self.client, None
        if client is None:
            return
        sios = [getattr(getattr(client, name, None), "sio", None) for name in
                ("sio_rate_refresh_handler", "sio_ohlcv_stream_handler", "sio_order_refresh_handler")]
        try:
            client.ws_disconnect()
        except (OSError, RuntimeError, SocketIOError) as exc:
            log.debug("breeze ws_disconnect: %s", exc)
        for sio in sios:
            if sio is not None:
                try:
                    sio.disconnect()
                except (OSError, RuntimeError, SocketIOError) as exc:
                    log.warning("breeze disconnect: %s", exc)


__all__ = ["BreezeStream", "breeze_ticks", "BREEZE_CODES"]

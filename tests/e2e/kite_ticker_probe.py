"""Run the official ``kiteconnect.KiteTicker`` against a sim and record what it receives (a subprocess helper).

Twisted's reactor runs once per process, so the e2e tests run the official ticker here, in its own process:

    python kite_ticker_probe.py REST_ROOT WS_ROOT API_KEY ACCESS_TOKEN OUT.pickle --tokens 256265 --mode full
        [--place-order EXCHANGE:TRADINGSYMBOL] [--max-seconds 60]

It records every binary frame as received (``frames``), the official parser's ticks (``ticks``), order updates
(``orders``) and text messages, until the sim's ``/_sim/state`` says the session is over (or ``--max-seconds``).
With ``--place-order`` it places a 1-lot MARKET BUY through the official ``KiteConnect`` once ticks flow, and keeps
going until that order's COMPLETE postback has arrived as well.
"""

from __future__ import annotations

import argparse
import pickle
import threading
import time

import requests
from kiteconnect import KiteConnect, KiteTicker
from twisted.internet import reactor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rest")
    ap.add_argument("ws")
    ap.add_argument("api_key")
    ap.add_argument("access_token")
    ap.add_argument("out")
    ap.add_argument("--tokens", default="256265")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--place-order", default="")
    ap.add_argument("--max-seconds", type=float, default=60.0)
    args = ap.parse_args()
    tokens = [int(t) for t in args.tokens.split(",")]
    rec: dict = {"frames": [], "ticks": [], "orders": [], "texts": [], "order_id": None, "errors": [],
                 "connected": False}
    lock = threading.Lock()
    started = time.monotonic()
    kws = KiteTicker(args.api_key, args.access_token, root=args.ws, reconnect=False)

    def on_connect(ws, response):
        rec["connected"] = True
        ws.subscribe(tokens)
        ws.set_mode(args.mode, tokens)

    def on_message(ws, payload, is_binary):
        with lock:
            if is_binary:
                rec["frames"].append(bytes(payload))
            else:
                rec["texts"].append(payload.decode() if isinstance(payload, bytes) else payload)

    def on_ticks(ws, ticks):
        with lock:
            rec["ticks"].extend(ticks)
            want_order = args.place_order and rec["order_id"] is None and len(rec["ticks"]) >= 3
            if want_order:
                rec["order_id"] = "pending"
        if want_order:
            reactor.callInThread(place)

    def place():
        exchange, symbol = args.place_order.split(":", 1)
        kite = KiteConnect(args.api_key, access_token=args.access_token, root=args.rest)
        try:
            rec["order_id"] = kite.place_order("regular", exchange, symbol, "BUY", lot_size(kite, exchange, symbol),
                                               "MIS", "MARKET", market_protection=-1)
        except Exception as exc:  # noqa: BLE001 - recorded for the test to report
            rec["errors"].append(repr(exc))

    def on_order_update(ws, data):
        with lock:
            rec["orders"].append(data)

    def on_error(ws, code, reason):
        rec["errors"].append(f"{code}: {reason}")

    kws.on_connect = on_connect
    kws.on_message = on_message
    kws.on_ticks = on_ticks
    kws.on_order_update = on_order_update
    kws.on_error = on_error

    def done() -> bool:
        if time.monotonic() - started > args.max_seconds:
            return True
        try:
            over = requests.get(args.rest + "/_sim/state", timeout=5).json()["data"]["session_over"]
        except requests.RequestException:
            return True
        if not over:
            return False
        if args.place_order:
            return any(o.get("status") == "COMPLETE" for o in rec["orders"]) or bool(rec["errors"])
        return True

    def poll():
        if done():
            kws.close()
            reactor.callLater(0.2, reactor.stop)
        else:
            reactor.callLater(0.2, poll)

    reactor.callLater(0.5, poll)
    kws.connect(threaded=False)
    with open(args.out, "wb") as fh:
        pickle.dump(rec, fh)


def lot_size(kite: KiteConnect, exchange: str, symbol: str) -> int:
    for row in kite.instruments(exchange):
        if row["tradingsymbol"] == symbol:
            return int(row["lot_size"])
    raise SystemExit(f"{exchange}:{symbol} not in the sim's instruments")


if __name__ == "__main__":
    main()

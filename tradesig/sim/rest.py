"""The sim's REST API: Kite Connect v3's routes in one table (method, path pattern → handler), and their handlers.

Every response has Kite's envelope: ``{"status": "success", "data": ...}`` or ``{"status": "error", "message",
"data": null, "error_type"}`` (https://kite.trade/docs/connect/v3/exceptions/). A route's ``access`` says what is
checked before its handler runs, in this order:

* ``control`` — the sim's own ``/_sim/…`` endpoints: nothing (loopback only);
* ``login`` — ``/connect/login``, ``POST /session/token``: not even the ``rate_limit`` fault;
* ``public`` — the instruments CSV: the ``rate_limit`` fault (429), no token (as Kite's);
* ``kite`` — everything else: the fault, the ``Authorization: token api_key:access_token`` header (403
  TokenException), ``X-Kite-Version: 3`` (400), then Kite's per-second rate limits (429).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from tradesig.clock import parse_datetime_ist
from tradesig.sim.auth import Session
from tradesig.sim.market import INTERVAL_MINUTES
from tradesig.sim.ratelimit import rate_class
from tradesig.sim.server import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from tradesig.sim.exchange import SimExchange

Access = Literal["control", "login", "public", "kite"]
#: A handler: (exchange, request, path parameters, sim time) → response.
Handler = Callable[["SimExchange", HttpRequest, dict[str, str], datetime], HttpResponse]


def ok(data: Any, status: int = 200) -> HttpResponse:
    """Kite's success envelope."""
    return HttpResponse(status, json.dumps({"status": "success", "data": data}).encode())


def error(status: int, message: str, error_type: str) -> HttpResponse:
    """Kite's error envelope (``error_type``: TokenException, InputException, NetworkException, …)."""
    return HttpResponse(status, json.dumps({"status": "error", "message": message, "data": None,
                                            "error_type": error_type}).encode())


@dataclass(frozen=True)
class Route:
    """``method`` (None: any), ``pattern`` (``/orders/{variety}``: one path segment per ``{name}``)."""

    method: str | None
    pattern: str
    access: Access
    handler: Handler

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
    return _CACHE[pattern]


def match(path: str, method: str) -> tuple[Route, dict[str, str]] | None:
    """The first route of :data:`ROUTES` for ``method`` and ``path`` (trailing slash ignored) and its parameters."""
    for route in ROUTES:
        if route.method is not None and route.method != method:
            continue
        m = route.regex.match(path)
        if m:
            return route, m.groupdict()
    return None


def not_found(req: HttpRequest, path: str) -> HttpResponse:
    if path.startswith("/_sim"):
        return error(404, "Route not found", "GeneralException")
    return error(404, f"Route not found: {req.method} {path}", "GeneralException")


def handle(ex: SimExchange, req: HttpRequest) -> HttpResponse:
    """Route one request through the checks of its access level (module doc) to its handler."""
    path = req.path.rstrip("/") or "/"
    found = match(path, req.method)
    if found is None:
        return not_found(req, path)
    route, params = found
    mono = ex.wall.monotonic()
    if route.access in ("public", "kite") and ex.faults.active("rate_limit", mono):
        return error(429, "Too many requests", "NetworkException")
    if route.access == "kite":
        problem, token = ex.auth.header_problem(req.headers.get("authorization", ""))
        if problem:
            return error(403, problem, "TokenException")
        if req.headers.get("x-kite-version") != "3":
            return error(400, "Missing or unsupported `X-Kite-Version` header (send 3).", "InputException")
        parts = [p for p in path.split("/") if p]
        if ex.limits.limited(rate_class(parts, req.method), token, mono, ex.clock.sync().timestamp()):
            return error(429, "Too many requests", "NetworkException")
        params = {**params, "_access_token": token}
    now = ex.clock.sync() if route.access == "kite" else ex.wall.now()
    return route.handler(ex, req, params, now)


# ----------------------------------------------------------------------------------------------------- control


def _sim_state(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.state())


def _sim_fault(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    try:
        spec = req.json()
    except ValueError:
        spec = None
    if not isinstance(spec, dict):
        return error(400, "Body must be a JSON object with a `kind`.", "InputException")
    return ok(ex.apply_fault(spec))


def _sim_clear(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.apply_fault({"kind": "clear"}))


# ------------------------------------------------------------------------------------------------------ login


def _login(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    if not ex.auth.key_accepted((req.query.get("api_key") or [""])[0]):
        return HttpResponse(400, b"Invalid api_key", "text/plain")
    return HttpResponse(302, b"", "text/plain", [("location", ex.auth.login_redirect())])


def _session_token(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    form = req.form()
    api_key = (form.get("api_key") or [""])[0]
    session = ex.auth.create_session(api_key, (form.get("request_token") or [""])[0],
                                     (form.get("checksum") or [""])[0])
    if not isinstance(session, Session):
        return error(403, session, "TokenException")
    return ok({**ex.profile(), "api_key": api_key, "access_token": session.access_token,
               "public_token": secrets.token_hex(8), "enctoken": "", "refresh_token": "", "silo": "",
               "login_time": session.login_time.strftime("%Y-%m-%d %H:%M:%S")})


def _instruments(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return HttpResponse(200, ex.catalog.csv_bytes(p.get("exchange")), "text/csv")


# ------------------------------------------------------------------------------------------------------- kite


def _logout(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    ex.auth.revoke((req.query.get("access_token") or [p["_access_token"]])[0])
    return ok(True)


def _profile(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.profile())


def _margins(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    margins = ex.orders.margins(now)
    segment = p.get("segment")
    return ok(margins[segment] if segment in margins else margins)


def _quote(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    kind = p.get("kind", "full")
    if kind not in ("full", "ltp", "ohlc"):
        return error(404, f"Route not found: /quote/{kind}", "GeneralException")
    out = {}
    for ident in req.query.get("i", []):
        ins = ex.catalog.lookup(ident)
        q = None if ins is None else ex.market.quote(ins, now)
        if q is None:
            continue
        if kind == "ltp":
            out[ident] = {"instrument_token": q["instrument_token"], "last_price": q["last_price"]}
        elif kind == "ohlc":
            out[ident] = {"instrument_token": q["instrument_token"], "last_price": q["last_price"],
                          "ohlc": q["ohlc"]}
        else:
            out[ident] = q
    return ok(out)


def _historical(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    token_text, interval = p["token"], p["interval"]
    if not token_text.isdigit() or int(token_text) not in ex.catalog.by_token:
        return error(400, "Invalid token.", "InputException")
    if interval not in INTERVAL_MINUTES:
        return error(400, f"Invalid interval {interval!r}.", "InputException")
    q = req.query
    try:
        start = parse_datetime_ist((q.get("from") or [""])[0])
        end_text = (q.get("to") or [""])[0]
        end = parse_datetime_ist(end_text)
    except ValueError:
        return error(400, "Invalid `from` or `to` date (yyyy-mm-dd hh:mm:ss).", "InputException")
    if len(end_text.strip()) == 10:
        end = end + timedelta(days=1) - timedelta(seconds=1)
    if start > end:
        return error(400, "`from` date is after `to` date.", "InputException")
    with_oi = (q.get("oi") or ["0"])[0] == "1"
    ins = ex.catalog.by_token[int(token_text)]
    return ok({"candles": ex.market.candles(ins, interval, start, end, now, with_oi=with_oi)})


def _order_list(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.orders.order_list())


def _place(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    resp = ok(ex.orders.place(p["variety"], req.form(), now))
    hold = ex.faults.take_order_timeout()
    if hold:
        resp.delay = hold
    ex.flush_postbacks(ex.orders.step(now), now)
    return resp


def _modify(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    ex.flush_postbacks(ex.orders.modify(p["variety"], p["order_id"], req.form(), now), now)
    return ok({"order_id": p["order_id"]})


def _cancel(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    ex.flush_postbacks(ex.orders.cancel(p["variety"], p["order_id"], now), now)
    return ok({"order_id": p["order_id"]})


def _order_history(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.orders.order_history(p["order_id"]))


def _order_trades(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.orders.order_trades(p["order_id"]))


def _trades(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.orders.trades)


def _positions(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok(ex.orders.position_rows(now))


def _holdings(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    return ok([])


def _basket_orders(req: HttpRequest) -> list | HttpResponse:
    orders = req.json()
    if not isinstance(orders, list):
        return error(400, "Expected a JSON list of orders.", "InputException")
    return orders


def _margins_basket(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    orders = _basket_orders(req)
    return orders if isinstance(orders, HttpResponse) else ok(ex.orders.basket(orders, now))


def _margins_orders(ex: SimExchange, req: HttpRequest, p: dict[str, str], now: datetime) -> HttpResponse:
    orders = _basket_orders(req)
    return orders if isinstance(orders, HttpResponse) else ok(ex.orders.basket(orders, now)["orders"])


#: Kite Connect v3's routes the sim serves (first match wins), and the sim's control endpoints.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/_sim/state", "control", _sim_state),
    Route("POST", "/_sim/fault", "control", _sim_fault),
    Route("DELETE", "/_sim/fault", "control", _sim_clear),
    Route("GET", "/connect/login", "login", _login),
    Route("POST", "/session/token", "login", _session_token),
    Route(None, "/instruments", "public", _instruments),
    Route("GET", "/instruments/{exchange}", "public", _instruments),
    Route("DELETE", "/session/token", "kite", _logout),
    Route(None, "/user/profile", "kite", _profile),
    Route(None, "/user/margins", "kite", _margins),
    Route(None, "/user/margins/{segment}", "kite", _margins),
    Route("GET", "/quote", "kite", _quote),
    Route("GET", "/quote/{kind}", "kite", _quote),
    Route(None, "/instruments/historical/{token}/{interval}", "kite", _historical),
    Route("GET", "/orders", "kite", _order_list),
    Route("POST", "/orders/{variety}", "kite", _place),
    Route("PUT", "/orders/{variety}/{order_id}", "kite", _modify),
    Route("DELETE", "/orders/{variety}/{order_id}", "kite", _cancel),
    Route("GET", "/orders/{order_id}", "kite", _order_history),
    Route("GET", "/orders/{order_id}/trades", "kite", _order_trades),
    Route(None, "/trades", "kite", _trades),
    Route("GET", "/portfolio/positions", "kite", _positions),
    Route(None, "/portfolio/holdings", "kite", _holdings),
    Route("POST", "/margins/basket", "kite", _margins_basket),
    Route("POST", "/margins/orders", "kite", _margins_orders),
)

__all__ = ["ROUTES", "Route", "error", "handle", "match", "ok"]

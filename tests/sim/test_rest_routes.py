"""The sim's REST route table: Kite's paths reach the right handler with their parameters; the rest are 404."""

from __future__ import annotations

import pytest

from tradesig.sim import rest


@pytest.mark.parametrize("method, path, handler, params", [
    ("GET", "/connect/login", "_login", {}),
    ("POST", "/session/token", "_session_token", {}),
    ("DELETE", "/session/token", "_logout", {}),
    ("GET", "/instruments", "_instruments", {}),
    ("GET", "/instruments/NFO", "_instruments", {"exchange": "NFO"}),
    ("GET", "/instruments/historical/256265/minute", "_historical", {"token": "256265", "interval": "minute"}),
    ("GET", "/quote/ltp", "_quote", {"kind": "ltp"}),
    ("POST", "/orders/regular", "_place", {"variety": "regular"}),
    ("PUT", "/orders/regular/2406040001", "_modify", {"variety": "regular", "order_id": "2406040001"}),
    ("DELETE", "/orders/iceberg/7", "_cancel", {"variety": "iceberg", "order_id": "7"}),
    ("GET", "/orders/7", "_order_history", {"order_id": "7"}),
    ("GET", "/orders/7/trades", "_order_trades", {"order_id": "7"}),
    ("GET", "/user/margins/equity", "_margins", {"segment": "equity"}),
    ("POST", "/margins/basket", "_margins_basket", {}),
    ("GET", "/_sim/state", "_sim_state", {}),
    ("DELETE", "/_sim/fault", "_sim_clear", {}),
])
def test_kite_paths_reach_their_handler(method, path, handler, params):
    route, got = rest.match(path, method)
    assert route.handler.__name__ == handler and got == params


@pytest.mark.parametrize("method, path", [
    ("GET", "/orders/regular/7"),     # history takes an order id only; modify/cancel are PUT/DELETE
    ("POST", "/quote"),               # quotes are GET
    ("GET", "/portfolio/nothing"),
    ("GET", "/_sim/fault"),
])
def test_other_paths_match_nothing(method, path):
    assert rest.match(path, method) is None


def test_access_levels_guard_kite_routes():
    by_access = {r.access for r in rest.ROUTES if r.pattern.startswith("/_sim")}
    assert by_access == {"control"}
    assert {(r.method, r.pattern) for r in rest.ROUTES if r.access == "login"} == {
        ("GET", "/connect/login"), ("POST", "/session/token")}
    # everything that trades or reads an account needs a token
    assert all(r.access == "kite" for r in rest.ROUTES if r.pattern.startswith(("/orders", "/portfolio", "/user",
                                                                                  "/quote", "/margins")))

"""make_kite and the Kite error mapping (TokenException → TokenError, transport → BrokerError, …)."""

from __future__ import annotations

import kiteconnect.exceptions as kex
import pytest
import requests

from tradesig.broker.kite import KITE_ERRORS, kite_call, kite_login_url, make_kite, map_kite_error
from tradesig.config import Settings
from tradesig.errors import BrokerError, ConfigError, DataError, OrderRejected, TokenError

TOKEN = "tok-abcdefghijklmnopqrstuvwxyz"


def test_make_kite_uses_settings_root_key_and_timeout():
    import dataclasses

    s = Settings()
    s = dataclasses.replace(s, kite=dataclasses.replace(s.kite, api_key="k1", root="http://127.0.0.1:9/",
                                                        timeout_seconds=3.0))
    kite = make_kite(s, TOKEN)
    assert (kite.api_key, kite.access_token, kite.root, kite.timeout) == ("k1", TOKEN, "http://127.0.0.1:9", 3.0)
    assert kite.debug is False
    other = make_kite(s, api_key="k2", root="http://x")
    assert (other.api_key, other.access_token, other.root) == ("k2", None, "http://x")


def test_login_url():
    assert kite_login_url("https://kite.zerodha.com/connect/login", "ab c") == \
        "https://kite.zerodha.com/connect/login?api_key=ab+c&v=3"


@pytest.mark.parametrize("exc,context,cls,code", [
    (kex.TokenException("Incorrect `api_key` or `access_token`."), "data", TokenError, 1),
    (kex.InputException("Invalid quantity"), "order", OrderRejected, 1),
    (kex.InputException("Invalid date"), "data", DataError, 2),
    (kex.OrderException("Insufficient funds"), "order", OrderRejected, 1),
    (kex.PermissionException("Not allowed"), "data", ConfigError, 2),
    (kex.PermissionException("Not allowed"), "order", OrderRejected, 1),
    (kex.NetworkException("Too many requests", code=429), "data", BrokerError, 3),
    (kex.DataException("bad gateway"), "data", BrokerError, 3),
    (kex.GeneralException("boom"), "data", BrokerError, 3),
    (requests.ConnectionError("refused"), "data", BrokerError, 3),
    (requests.Timeout("slow"), "data", BrokerError, 3),
    (requests.exceptions.InvalidURL("bad"), "data", BrokerError, 3),
])
def test_map_kite_error(exc, context, cls, code):
    err = map_kite_error(exc, context=context, root="http://127.0.0.1:1")
    assert type(err) is cls and err.exit_code == code


def test_rate_limit_hint_and_unreachable_names_root():
    assert "rate limited" in map_kite_error(kex.NetworkException("x", code=429)).hint
    err = map_kite_error(requests.ConnectionError("x"), root="http://127.0.0.1:1")
    assert "cannot reach Kite at http://127.0.0.1:1" in err.message


def test_messages_are_scrubbed():
    exc = kex.DataException(f"Couldn't parse: token key:{TOKEN} access_token={TOKEN}")
    err = map_kite_error(exc, secrets=(TOKEN,))
    assert TOKEN not in str(err)


def test_unknown_exception_is_a_bug():
    with pytest.raises(TypeError):
        map_kite_error(ValueError("x"))


def test_kite_call_context_manager():
    with pytest.raises(TokenError) as info:
        with kite_call(root="http://r"):
            raise kex.TokenException("expired")
    assert isinstance(info.value.__cause__, kex.TokenException)
    with pytest.raises(ValueError):  # not a broker error: untouched
        with kite_call():
            raise ValueError("bug")
    assert kex.KiteException in KITE_ERRORS

"""The Kite Connect REST client, built from settings, and the one place Kite errors become tradesig errors.

``make_kite`` returns the official :class:`kiteconnect.KiteConnect` pointed at ``settings.kite.root`` (Kite, or
``tradesig sim`` via config, ``TRADESIG_KITE_ROOT`` or ``--sim-url``). Wrap calls in :func:`kite_call` (or catch
:data:`KITE_ERRORS` and call :func:`map_kite_error`) so every broker failure reaches the CLI as one of:

===========================================  ===================================================  ====
Kite / transport failure                     tradesig error                                        exit
===========================================  ===================================================  ====
TokenException (403: expired, logged out)    TokenError, hint ``tradesig login``                   1
InputException (400)                         OrderRejected (context "order"), else DataError       1/2
OrderException                               OrderRejected                                         1
PermissionException (403: not allowed)       OrderRejected (context "order"), else ConfigError     1/2
NetworkException, DataException, General     BrokerError (incl. 429 rate limit and 5xx)            3
requests ConnectionError / Timeout / other   BrokerError "cannot reach Kite at ROOT"               3
===========================================  ===================================================  ====

Messages pass through :func:`tradesig.broker.tokens.scrub`: tokens and secrets never appear in them. Never build
the client with ``debug=True``: kiteconnect then logs the Authorization header.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import kiteconnect
import kiteconnect.exceptions as kex
import requests

from tradesig.broker.tokens import scrub
from tradesig.errors import (
    BrokerError,
    ConfigError,
    DataError,
    OrderRejected,
    TokenError,
    TradesigError,
)

if TYPE_CHECKING:
    from tradesig.config import Settings

KITE_API_VERSION = "3"

#: Exceptions a kiteconnect call can raise for broker/transport reasons (catch these, not ``Exception``).
KITE_ERRORS: tuple[type[BaseException], ...] = (kex.KiteException, requests.RequestException)


def make_kite(settings: Settings, access_token: str | None = None, *, api_key: str | None = None,
              root: str | None = None) -> kiteconnect.KiteConnect:
    """An official ``KiteConnect`` client.

    ``api_key`` defaults to ``settings.kite.api_key``, ``root`` to ``settings.kite.root`` (trailing "/" removed),
    timeout ``settings.kite.timeout_seconds`` (seconds). ``access_token`` None: a pre-login client (for
    ``generate_session``). SSL verification stays on. No I/O happens here.
    """
    return kiteconnect.KiteConnect(
        api_key=api_key or settings.kite.api_key,
        access_token=access_token,
        root=(root or settings.kite.root).rstrip("/"),
        timeout=settings.kite.timeout_seconds,
    )


def kite_login_url(login_url: str, api_key: str) -> str:
    """The login page URL for ``api_key``: ``<login_url>?api_key=<key>&v=3`` (what ``KiteConnect.login_url()``
    builds, but with a configurable base so the sim's ``/connect/login`` works)."""
    return f"{login_url}?{urlencode({'api_key': api_key, 'v': KITE_API_VERSION})}"


def map_kite_error(exc: BaseException, *, context: str = "data", root: str | None = None,
                   secrets: tuple[str | None, ...] = ()) -> TradesigError:
    """The :class:`TradesigError` for a kiteconnect / requests exception (table in the module docstring).

    ``context``: "order" for order placement/modification (input and permission errors are rejections), anything
    else for data/session calls. ``root``: the REST root, named in "unreachable" messages. ``secrets``: values to
    redact from the message in addition to the generic token patterns. An exception of any other type is a bug in
    the caller: ``TypeError`` is raised.
    """
    where = f" at {root}" if root else ""
    message = scrub(str(exc) or type(exc).__name__, secrets)
    login = "run 'tradesig login' (Kite tokens expire at 06:00 IST daily)"
    if isinstance(exc, kex.TokenException):
        return TokenError(f"Kite rejected the access token: {message}", login)
    if isinstance(exc, kex.InputException):
        if context == "order":
            return OrderRejected(f"Kite rejected the order: {message}")
        return DataError(f"Kite refused the request: {message}")
    if isinstance(exc, kex.OrderException):
        return OrderRejected(f"Kite rejected the order: {message}")
    if isinstance(exc, kex.PermissionException):
        if context == "order":
            return OrderRejected(f"Kite refused the order (permission): {message}")
        return ConfigError(f"Kite refused the call (permission): {message}",
                           "check the app's subscription and permissions on developers.kite.trade")
    if isinstance(exc, kex.KiteException):
        code = getattr(exc, "code", None)
        hint = "rate limited: slow down" if code == 429 else "retry later; check the broker's status"
        return BrokerError(f"Kite{where} failed (HTTP {code}, {type(exc).__name__}): {message}", hint)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
        return BrokerError(f"cannot reach Kite{where}: {kind}",
                           "check the network, or that 'tradesig sim serve' runs when using the sim")
    if isinstance(exc, requests.RequestException):
        return BrokerError(f"request to Kite{where} failed: {type(exc).__name__}: {message}")
    raise TypeError(f"map_kite_error: not a Kite/requests exception: {type(exc).__name__}")


@contextlib.contextmanager
def kite_call(context: str = "data", *, root: str | None = None,
              secrets: tuple[str | None, ...] = ()) -> Iterator[None]:
    """``with kite_call("order", root=...): kite.place_order(...)`` — re-raises :data:`KITE_ERRORS` as the
    mapped :class:`TradesigError` (chained, message scrubbed)."""
    try:
        yield
    except KITE_ERRORS as exc:
        raise map_kite_error(exc, context=context, root=root, secrets=secrets) from exc


__all__ = ["KITE_ERRORS", "make_kite", "kite_login_url", "map_kite_error", "kite_call"]

"""The daily token lifecycle: log in (print/open the login URL, catch the redirect on a loopback listener or take a
pasted request token / redirect URL, exchange it, store it) and check the stored token.

Targets. Kite settings come from the config (``kite.api_key``, ``kite.api_secret`` = ``secret:NAME``,
``kite.root`` — overridden by ``TRADESIG_KITE_ROOT`` —, ``kite.login_url``, ``kite.redirect_url``). ``sim_url``
(``--sim-url``) points both the REST root and the login page at ``tradesig sim`` (``<sim>/connect/login``); the API
key and secret then default to the sim's documented ones (:data:`SIM_API_KEY`, :data:`SIM_API_SECRET`) unless the
config names a real (non-placeholder) API key, whose secret is resolved as usual.

Exit codes (through the exception classes): login succeeded 0; redirect timeout, login refused by the broker, bad
or expired request token 1; configuration or usage problem (placeholder API key, missing secret, redirect URL not on
loopback, port busy, unparseable pasted URL) 2; broker unreachable 3.

Nothing here prints or logs a token or secret; broker messages are scrubbed (:func:`tradesig.broker.tokens.scrub`).
"""

from __future__ import annotations

import html
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from tradesig.broker.tokens import TokenRecord, TokenStore, format_remaining, kite_expiry, scrub
from tradesig.clock import Clock, SystemClock, to_ist
from tradesig.config import PLACEHOLDER_PREFIX, resolve_secret
from tradesig.errors import (
    EXIT_NO,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    BrokerError,
    ConfigError,
    DataError,
    TokenError,
    TradesigError,
)

if TYPE_CHECKING:
    from tradesig.config import LoadedConfig

log = logging.getLogger(__name__)

#: The sim's documented defaults (``tradesig sim serve --help``, docs/sim.md).
SIM_API_KEY = "tradesig-sim"
SIM_API_SECRET = "tradesig-sim-secret"
DEFAULT_LOGIN_TIMEOUT = 300.0


# ------------------------------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class BrokerTarget:
    """Where and as whom to log in / check. ``login_url`` is complete (api_key and v=3 included)."""

    broker: str
    api_key: str
    root: str
    login_url: str
    redirect_url: str
    sim: bool
    secret_ref: str | None  # "secret:NAME" to resolve; None: the sim's default secret

    def secret(self, loaded: LoadedConfig) -> str:
        """The API secret (ConfigError naming the sources tried when it cannot be found)."""
        if self.secret_ref is None:
            return SIM_API_SECRET
        return resolve_secret(loaded, self.secret_ref)


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} {url!r} is not an http(s) URL")
    return url.rstrip("/")


def resolve_target(loaded: LoadedConfig, broker: str = "kite", *, sim_url: str | None = None) -> BrokerTarget:
    """The :class:`BrokerTarget` for ``broker`` from the config (rules in the module docstring).

    Raises ConfigError (exit 2) for a placeholder API key (without ``sim_url``), a malformed URL or an unknown
    broker. Breeze with ``sim_url`` (the sim's Breeze port) or ``breeze.root`` logs in there (login page
    ``<root>/apiuser/login``). Resolves no secret and does no I/O.
    """
    s = loaded.settings
    if broker == "kite":
        from tradesig.broker.kite import kite_login_url

        key = s.kite.api_key
        placeholder = not key or key.startswith(PLACEHOLDER_PREFIX)
        if sim_url:
            root = _check_url(sim_url, "--sim-url")
            api_key, secret_ref = (SIM_API_KEY, None) if placeholder else (key, s.kite.api_secret)
            login_base = f"{root}/connect/login"
        else:
            if placeholder:
                raise ConfigError(f"kite.api_key is not set (placeholder {key!r})",
                                  "set kite.api_key in the config ('tradesig config init' writes one), "
                                  "or use --sim-url URL to log in to 'tradesig sim'")
            root = _check_url(s.kite.root, "kite.root")
            api_key, secret_ref = key, s.kite.api_secret
            login_base = _check_url(s.kite.login_url, "kite.login_url")
        return BrokerTarget("kite", api_key, root, kite_login_url(login_base, api_key),
                            s.kite.redirect_url, sim=bool(sim_url), secret_ref=secret_ref)
    if broker == "breeze":
        from tradesig.broker.breeze import BREEZE_ROOT, breeze_login_url

        key = s.breeze.api_key
        placeholder = not key or key.startswith(PLACEHOLDER_PREFIX)
        root = sim_url or s.breeze.root
        if sim_url and placeholder:
            api_key, secret_ref = SIM_API_KEY, None
        elif placeholder:
            raise ConfigError(f"breeze.api_key is not set (placeholder {key!r})", "set breeze.api_key in the config, "
                              "or use --sim-url URL (the Breeze port of 'tradesig sim serve')")
        else:
            api_key, secret_ref = key, s.breeze.api_secret
        if root:
            root = _check_url(root, "--sim-url" if sim_url else "breeze.root")
            login_url = f"{root}/apiuser/login?{urlencode({'api_key': api_key})}"
        else:
            login_url = breeze_login_url(api_key)
        return BrokerTarget("breeze", api_key, root or BREEZE_ROOT, login_url, s.kite.redirect_url,
                            sim=bool(sim_url), secret_ref=secret_ref)
    raise ConfigError(f"unknown broker {broker!r}", "use --broker kite or --broker breeze")


# ----------------------------------------------------------------------------------------- redirect handling

#: Query/form parameter carrying the token in each broker's redirect.
TOKEN_PARAMS = {"kite": ("request_token",), "breeze": ("apisession", "API_Session", "api_session")}


@dataclass(frozen=True)
class RedirectOutcome:
    """What one redirect request said: ``token`` (the request token / session key) or ``error`` (the status)."""

    token: str | None
    error: str | None = None


def parse_redirect_params(params: dict[str, list[str]], broker: str) -> RedirectOutcome | None:
    """Interpret redirect parameters: None when they carry no login result at all (e.g. ``/favicon.ico``)."""
    status = (params.get("status") or [""])[0]
    for name in TOKEN_PARAMS[broker]:
        values = params.get(name)
        if values and values[0]:
            if status and status != "success":
                return RedirectOutcome(None, f"status={status}")
            return RedirectOutcome(values[0])
    if status:
        return RedirectOutcome(None, f"status={status}" if status != "success" else "no token in the redirect")
    return None


def parse_redirect(text: str, broker: str = "kite") -> str:
    """The request token (Kite) / session key (Breeze) from a redirect URL or its query string, as pasted from a
    browser's address bar. Raises DataError (exit 2) when none is in it, TokenError (exit 1) when the redirect
    reports a failed login (``status`` other than ``success``)."""
    raw = text.strip()
    query = urlsplit(raw).query if "://" in raw or raw.startswith("/") else raw.lstrip("?")
    outcome = parse_redirect_params(parse_qs(query), broker)
    names = "/".join(TOKEN_PARAMS[broker])
    if outcome is None or (outcome.token is None and outcome.error == "no token in the redirect"):
        raise DataError(f"no {names} in the pasted redirect URL",
                        "paste the whole address the browser shows after logging in")
    if outcome.token is None:
        raise TokenError(f"the broker reports the login failed ({outcome.error})", "log in again")
    return outcome.token


_SUCCESS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tradesig login</title></head>
<body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{body}</p></body></html>"""


class _OneShotServer(ThreadingHTTPServer):
    """One thread per connection, so an idle speculative connection (browsers pre-connect) cannot hold up the
    redirect request behind it."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class RedirectListener:
    """A one-shot loopback HTTP server on the redirect URL's host and port that waits for the broker's redirect.

    ``start()`` binds (port 0 in the redirect URL: any free port; :attr:`redirect_url` then tells which).
    ``wait(timeout)`` serves requests (a thread per connection) until one carries a login result on the redirect
    path, answers it with a small page, closes the socket and returns the token. Other requests (``/favicon.ico``)
    get 404 and waiting continues. Raises ConfigError (host not loopback, port busy), TokenError (timeout, or the
    redirect reports a failure). The request line is never logged (it holds the token).
    """

    def __init__(self, redirect_url: str, broker: str = "kite", clock: Clock | None = None) -> None:
        parts = urlsplit(redirect_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"redirect URL {redirect_url!r}: the loopback listener needs an http:// URL",
                              "set kite.redirect_url to e.g. http://127.0.0.1:5005/callback, or use "
                              "--request-token / --redirect-url")
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(f"redirect URL host {host!r} is not a loopback address; tradesig cannot listen there",
                              "paste the redirect with --redirect-url URL, or the token with --request-token")
        self.broker = broker
        self._parts = parts
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = 80 if parts.port is None else parts.port  # port 0: any free port
        self._path = parts.path or "/"
        self._clock = clock
        self._server: _OneShotServer | None = None
        self._outcome: RedirectOutcome | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    @property
    def redirect_url(self) -> str:
        """The URL actually listened on (with the bound port)."""
        port = self._server.server_address[1] if self._server else self._port
        host = self._parts.hostname or self._host
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return urlunsplit(("http", netloc, self._path, "", ""))

    def start(self) -> RedirectListener:
        listener = self
        path = self._path

        class Handler(BaseHTTPRequestHandler):
            server_version = "tradesig-login"
            timeout = 15  # seconds a connected client may take to send its request

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                return  # the request line carries the token: never logged

            def _reply(self, code: int, title: str, body: str) -> None:
                page = _SUCCESS_PAGE.format(title=html.escape(title), body=html.escape(body)).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(page)

            def _handle(self, params: dict[str, list[str]]) -> None:
                parts = urlsplit(self.path)
                outcome = parse_redirect_params(params, listener.broker) if parts.path == path else None
                if outcome is None:
                    self._reply(404, "Not found", "tradesig is waiting for the login redirect.")
                    return
                with listener._lock:
                    if listener._done.is_set():  # one redirect only: a later one is not served
                        self._reply(409, "Already done", "tradesig already received a login redirect.")
                        return
                    listener._outcome = outcome
                    listener._done.set()
                if outcome.token:
                    self._reply(200, "tradesig: login received",
                                "tradesig is completing the login; see the terminal. You can close this tab.")
                else:
                    self._reply(400, "tradesig: login failed", f"The broker reported {outcome.error}.")

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                self._handle(parse_qs(urlsplit(self.path).query))

            def do_POST(self) -> None:  # noqa: N802 - Breeze posts API_Session as a form
                length = min(int(self.headers.get("Content-Length") or 0), 65536)
                body = self.rfile.read(length).decode("utf-8", "replace")
                params = parse_qs(urlsplit(self.path).query)
                params.update(parse_qs(body))
                self._handle(params)

        try:
            self._server = _OneShotServer((self._host, self._port), Handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self._host}:{self._port} for the login redirect: "
                              f"{exc.strerror or exc}",
                              "free the port, change kite.redirect_url (and the app's registered redirect), "
                              "or use --request-token / --redirect-url") from None
        return self

    def wait(self, timeout: float) -> str:
        """Serve until a redirect arrives or ``timeout`` seconds pass (the budget is kept on the clock's monotonic
        time; each wait for a request is a real-time wait for the rest of it); returns the token. The listening
        socket is closed in all cases."""
        if self._server is None:
            self.start()
        server = self._server
        assert server is not None
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="tradesig-login-listener", daemon=True)
        thread.start()
        clock = self._clock or SystemClock()
        start = clock.monotonic()
        try:
            while not self._done.is_set():
                left = timeout - (clock.monotonic() - start)
                if left <= 0 or not self._done.wait(left):
                    break
        finally:
            server.shutdown()
            thread.join()
            self.close()
        outcome = self._outcome
        if outcome is None:
            raise TokenError(f"no login redirect reached {self.redirect_url} within {timeout:g}s",
                             "log in again (tradesig login), or paste the redirect with --redirect-url URL")
        if outcome.token is None:
            raise TokenError(f"the broker reports the login failed ({outcome.error})", "log in again")
        return outcome.token

    def close(self) -> None:
        if self._server is not None:
            self._server.server_close()

    def __enter__(self) -> RedirectListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_loopback_port() -> int:
    """A currently free TCP port on 127.0.0.1 (for tests and the sim's redirect URL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------------------- login


def exchange_kite(target: BrokerTarget, api_secret: str, request_token: str, *, timeout: float,
                  clock: Clock) -> TokenRecord:
    """``generate_session`` (checksum = SHA-256 of api_key + request_token + api_secret, computed by kiteconnect)
    against ``target.root``; the record has ``login_time = clock.now()`` and ``expires_at = kite_expiry(...)``.
    Raises TokenError (request token invalid or expired: they live a few minutes and work once), DataError
    (e.g. wrong checksum, i.e. the wrong secret), BrokerError (unreachable)."""
    import kiteconnect

    from tradesig.broker.kite import kite_call

    kite = kiteconnect.KiteConnect(api_key=target.api_key, root=target.root, timeout=timeout)
    try:
        with kite_call("session", root=target.root, secrets=(request_token, api_secret)):
            session = kite.generate_session(request_token, api_secret=api_secret)
    finally:
        kite.reqsession.close()
    access_token = session.get("access_token")
    if not access_token:
        raise BrokerError(f"Kite at {target.root} answered the session exchange without an access token")
    now = clock.now()
    return TokenRecord(broker="kite", api_key=target.api_key, access_token=str(access_token),
                       user_id=str(session.get("user_id") or ""),
                       user_name=str(session.get("user_name") or session.get("user_shortname") or ""),
                       login_time=now, expires_at=kite_expiry(now), root=target.root)


@dataclass(frozen=True)
class LoginResult:
    """A completed login: the stored ``record`` (token hidden from repr), its ``path``, and the ``target``."""

    record: TokenRecord
    path: Path
    target: BrokerTarget


def login(loaded: LoadedConfig, broker: str = "kite", *, clock: Clock, request_token: str | None = None,
          redirect: str | None = None, sim_url: str | None = None, timeout: float = DEFAULT_LOGIN_TIMEOUT,
          on_login_url: Callable[[str, str], None] | None = None) -> LoginResult:
    """Log in to ``broker`` and store the token in ``loaded.home``.

    Token source, first that applies: ``request_token`` (pasted token), ``redirect`` (pasted redirect URL), else a
    :class:`RedirectListener` on the configured redirect URL, bound *before* ``on_login_url(login_url,
    redirect_url)`` is called (so a browser opened there cannot beat the listener), waiting ``timeout`` seconds.
    The secret is resolved first, so a configuration problem shows before anyone logs in.
    Raises ConfigError (2), DataError (2), TokenError (1), BrokerError (3).
    """
    target = resolve_target(loaded, broker, sim_url=sim_url)
    secret = target.secret(loaded)
    if request_token:
        token = request_token.strip()
    elif redirect:
        token = parse_redirect(redirect, broker)
    else:
        listener = RedirectListener(target.redirect_url, broker, clock).start()
        try:
            if on_login_url is not None:
                on_login_url(target.login_url, listener.redirect_url)
            token = listener.wait(timeout)
        finally:
            listener.close()
    if broker == "kite":
        record = exchange_kite(target, secret, token, timeout=loaded.settings.kite.timeout_seconds, clock=clock)
    else:
        from tradesig.broker.breeze import BREEZE_ROOT, breeze_session

        record = breeze_session(target.api_key, secret, token, home=loaded.home, clock=clock,
                                root=None if target.root == BREEZE_ROOT else target.root)
    path = TokenStore(loaded.home, clock).save(record)
    log.info("%s login: %s (%s), token valid until %s", broker, record.user_id, record.user_name,
             to_ist(record.expires_at).strftime("%Y-%m-%d %H:%M IST"))
    return LoginResult(record, path, target)


# ------------------------------------------------------------------------------------------------- token check

STATUS_EXIT = {
    "valid": EXIT_OK,
    "missing": EXIT_NO, "expired": EXIT_NO, "expiring": EXIT_NO, "rejected": EXIT_NO, "mismatch": EXIT_NO,
    "unreadable": EXIT_NO,
    "insecure": EXIT_USAGE, "config_error": EXIT_USAGE,
    "unreachable": EXIT_UNREACHABLE,
}


@dataclass(frozen=True)
class TokenCheck:
    """The answer of :func:`check_token`.

    ``status``: one of :data:`STATUS_EXIT` (its exit code is ``exit_code``). ``verified``: the broker accepted the
    token just now (False offline or on failure). ``remaining``: time to expiry (negative once expired), None
    without a token. ``fix``: the command (or action) that repairs a non-valid status. ``error``: the
    underlying TradesigError for non-valid statuses.
    """

    broker: str
    status: str
    message: str
    checked_at: datetime
    fix: str | None = None
    verified: bool = False
    user_id: str | None = None
    user_name: str | None = None
    expires_at: datetime | None = None
    remaining: timedelta | None = None
    error: TradesigError | None = field(default=None, repr=False, compare=False)

    @property
    def exit_code(self) -> int:
        return STATUS_EXIT[self.status]

    def to_json(self) -> dict[str, object]:
        """The stable ``token-check --format json`` object (schema version 1, see docs/login.md)."""
        return {
            "schema": 1,
            "broker": self.broker,
            "status": self.status,
            "exit_code": self.exit_code,
            "verified": self.verified,
            "user": None if self.user_id is None else {"id": self.user_id, "name": self.user_name or ""},
            "expiry": None if self.expires_at is None else to_ist(self.expires_at).isoformat(),
            "remaining": None if self.remaining is None else int(self.remaining.total_seconds()),
            "checked_at": to_ist(self.checked_at).isoformat(timespec="seconds"),
            "message": self.message,
            "fix": self.fix,
        }


def _status_of(exc: TradesigError, default_no: str) -> str:
    if isinstance(exc, BrokerError):
        return "unreachable"
    if isinstance(exc, TokenError):
        return default_no
    return "config_error"


def check_token(loaded: LoadedConfig, broker: str = "kite", *, clock: Clock, offline: bool = False,
                min_remaining: timedelta = timedelta(0), sim_url: str | None = None,
                login_command: str | None = None) -> TokenCheck:
    """Is the stored ``broker`` token present, unexpired with ``min_remaining`` to spare, and accepted by the broker
    (Kite ``GET /user/profile``; Breeze ``customerdetails``)? Never raises a TradesigError: every outcome is a
    :class:`TokenCheck`. Order: configuration (2), token file (missing/unreadable 1, loose permissions 2),
    API-key mismatch (1), expiry by ``clock`` (1), then — unless ``offline`` — the broker: rejected 1,
    unreachable 3. ``login_command``: the exact command to show as the fix (default ``tradesig login --broker
    BROKER``)."""
    now = clock.now()
    fix_login = login_command or f"tradesig login --broker {broker}"
    try:
        target = resolve_target(loaded, broker, sim_url=sim_url)
    except ConfigError as exc:
        return TokenCheck(broker, "config_error", exc.message, now, fix=exc.hint, error=exc)
    store = TokenStore(loaded.home, clock)
    try:
        record = store.read(broker)
    except TokenError as exc:
        status = "missing" if "does not exist" in exc.message else "unreadable"
        return TokenCheck(broker, status, exc.message, now, fix=fix_login, error=exc)
    except ConfigError as exc:
        return TokenCheck(broker, "insecure", exc.message, now, fix=exc.hint, error=exc)
    who = {"user_id": record.user_id, "user_name": record.user_name, "expires_at": record.expires_at,
           "remaining": record.remaining(now)}
    until = to_ist(record.expires_at).strftime("%Y-%m-%d %H:%M IST")
    if record.api_key != target.api_key:
        msg = (f"the stored {broker} token belongs to API key {record.api_key!r}, the configuration uses "
               f"{target.api_key!r}")
        return TokenCheck(broker, "mismatch", msg, now, fix=fix_login, error=TokenError(msg, fix_login), **who)
    if now >= record.expires_at:
        msg = f"the {broker} token of {record.user_id} expired at {until}"
        return TokenCheck(broker, "expired", msg, now, fix=fix_login, error=TokenError(msg, fix_login), **who)
    if record.remaining(now) <= min_remaining:
        msg = (f"the {broker} token of {record.user_id} expires at {until}, in "
               f"{format_remaining(record.remaining(now))} (less than the {format_remaining(min_remaining)} asked)")
        return TokenCheck(broker, "expiring", msg, now, fix=fix_login, error=TokenError(msg, fix_login), **who)
    left = format_remaining(record.remaining(now))
    if offline:
        return TokenCheck(broker, "valid", f"{broker} token of {record.user_id} present, valid until {until} "
                          f"({left} left); not verified with the broker (--offline)", now, **who)
    try:
        profile = _verify(loaded, target, record)
    except TradesigError as exc:
        status = _status_of(exc, "rejected")
        fix = fix_login if status == "rejected" else exc.hint
        return TokenCheck(broker, status, exc.message, now, fix=fix, error=exc, **who)
    if profile.get("user_id") and profile["user_id"] != record.user_id:
        msg = f"the broker says the token belongs to {profile['user_id']}, the file says {record.user_id}"
        return TokenCheck(broker, "mismatch", msg, now, fix=fix_login, error=TokenError(msg, fix_login), **who)
    who["user_name"] = profile.get("user_name") or record.user_name
    return TokenCheck(broker, "valid", f"{broker} token of {record.user_id} valid until {until} ({left} left), "
                      f"accepted by {target.root}", now, verified=True, **who)


def _verify(loaded: LoadedConfig, target: BrokerTarget, record: TokenRecord) -> dict[str, str]:
    """Ask the broker about ``record``; returns {"user_id", "user_name"}. Raises mapped TradesigErrors."""
    if target.broker == "kite":
        import kiteconnect

        from tradesig.broker.kite import kite_call

        kite = kiteconnect.KiteConnect(api_key=record.api_key, access_token=record.access_token, root=target.root,
                                       timeout=loaded.settings.kite.timeout_seconds)
        try:
            with kite_call("session", root=target.root, secrets=(record.access_token,)):
                profile = kite.profile()
        finally:
            kite.reqsession.close()
        return {"user_id": str(profile.get("user_id") or ""),
                "user_name": str(profile.get("user_name") or profile.get("user_shortname") or "")}
    from tradesig.broker.breeze import verify_breeze

    return verify_breeze(record, target.secret(loaded), home=loaded.home, root=target.root)


__all__ = [
    "SIM_API_KEY", "SIM_API_SECRET", "BrokerTarget", "resolve_target", "parse_redirect", "RedirectListener",
    "exchange_kite", "login", "LoginResult", "TokenCheck", "check_token", "STATUS_EXIT", "free_loopback_port",
    "scrub",
]

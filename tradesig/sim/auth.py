"""The sim's Kite login: request tokens, the session checksum, access tokens and their expiry.

Kite Connect v3's flow (https://kite.trade/docs/connect/v3/user/): ``GET /connect/login?api_key=…&v=3`` redirects
to the app's redirect URL with ``request_token``; ``POST /session/token`` with ``checksum = sha256(api_key +
request_token + api_secret)`` returns an ``access_token``; REST calls send ``Authorization: token
api_key:access_token``. Request tokens live :data:`REQUEST_TOKEN_TTL`; access tokens expire at 06:00 IST the next
day by the wall clock (as Kite's), or at once by the ``expire_token`` fault. With ``open_access`` any non-empty
token is accepted (and remembered, so that ``expire_token`` can revoke it).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from tradesig.clock import IST, Clock
from tradesig.errors import redact

log = logging.getLogger(__name__)

REQUEST_TOKEN_TTL = timedelta(minutes=10)
#: Kite's answers to a refused token (TokenException messages).
BAD_TOKEN = "Incorrect `api_key` or `access_token`."
EXPIRED_TOKEN = "Token is invalid or has expired."


_TOKEN_ALPHABET = string.ascii_letters + string.digits


def kite_token() -> str:
    """A random request/access token shaped like Kite's: 32 characters of [A-Za-z0-9] (Kite Connect v3 docs,
    "User / Login flow"). URL-safe base64 would also give '-' and '_', and a token starting with '-' reads as an
    option on a command line."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(32))


@dataclass(frozen=True)
class Session:
    """An issued session: ``access_token``, its wall-clock ``expiry`` and the IST ``login_time``."""

    access_token: str
    expiry: datetime
    login_time: datetime


class SimAuth:
    """Tokens the sim issued, saw and expired. ``wall``: the wall clock (expiry is wall time, not replay time)."""

    def __init__(self, api_key: str, api_secret: str, redirect_url: str, open_access: bool, wall: Clock) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.redirect_url = redirect_url
        self.open_access = open_access
        self.wall = wall
        self._request_tokens: dict[str, datetime] = {}
        self.access_tokens: dict[str, datetime] = {}  # token -> expiry (wall, aware)
        self.expired: set[str] = set()
        self._seen: set[str] = set()

    def key_accepted(self, api_key: str) -> bool:
        return api_key == self.api_key or self.open_access

    def login_redirect(self) -> str:
        """Issue a request token; the redirect URL carrying it (``status=success``, ``request_token=…``)."""
        rt = kite_token()
        self._request_tokens[rt] = self.wall.now()
        parts = urlsplit(self.redirect_url)
        extra = urlencode({"action": "login", "type": "login", "status": "success", "request_token": rt})
        query = f"{parts.query}&{extra}" if parts.query else extra
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))

    def create_session(self, api_key: str, request_token: str, checksum: str) -> Session | str:
        """Exchange a request token for an access token; the :class:`Session`, or the refusal message (an
        unknown key, an unknown/used/expired request token, a wrong checksum)."""
        if not self.key_accepted(api_key):
            return "Invalid `api_key`."
        issued = self._request_tokens.pop(request_token, None)
        if issued is None or self.wall.now() - issued > REQUEST_TOKEN_TTL:
            return EXPIRED_TOKEN
        want = hashlib.sha256((api_key + request_token + self.api_secret).encode()).hexdigest()
        if not secrets.compare_digest(want, checksum):
            return "Invalid checksum."
        token = kite_token()
        login = self.wall.now().astimezone(IST)
        expiry = datetime.combine(login.date() + timedelta(days=1), time(6, 0), IST)
        self.access_tokens[token] = expiry
        log.info("sim: session issued (token %s)", redact(token))
        return Session(token, expiry, login)

    def token_problem(self, api_key: str, token: str) -> str | None:
        """Why ``api_key``/``token`` may not call the API (Kite's message), or None when they may."""
        if token in self.expired:
            return EXPIRED_TOKEN
        if self.open_access:
            if token:
                self._seen.add(token)
                return None
            return BAD_TOKEN
        if api_key != self.api_key:
            return "Invalid `api_key`."
        expiry = self.access_tokens.get(token)
        if expiry is None:
            return BAD_TOKEN
        if self.wall.now() >= expiry:
            self.expired.add(token)
            return EXPIRED_TOKEN
        return None

    def header_problem(self, authorization: str) -> tuple[str | None, str]:
        """(refusal message or None, access token) of an ``Authorization: token api_key:access_token`` header."""
        if not authorization.startswith("token ") or ":" not in authorization:
            return BAD_TOKEN, ""
        api_key, token = (x.strip() for x in authorization[6:].split(":", 1))
        return self.token_problem(api_key, token), token

    def revoke(self, token: str) -> None:
        """``DELETE /session/token``: the token answers 403 from now on."""
        self.expired.add(token)

    def expire_all(self) -> None:
        """The ``expire_token`` fault: every token issued or seen so far answers 403."""
        self.expired.update(self.access_tokens)
        self.expired.update(self._seen)


__all__ = ["BAD_TOKEN", "EXPIRED_TOKEN", "REQUEST_TOKEN_TTL", "Session", "SimAuth"]

"""The sim's ICICI Breeze sessions: API sessions from the login page, session keys, signed-call checks.

ICICI's flow (breeze-connect 1.0.69 and ICICI's API docs): the login page
``/apiuser/login?api_key=…`` sends the user back to the app's redirect URL with ``API_Session``;
``BreezeConnect.generate_session`` sends it to ``customerdetails`` (JSON body ``{"SessionToken", "AppKey"}``) and
gets ``session_token`` = base64(``user_id:session_key``); every later call is signed: ``X-Checksum: token
sha256(X-Timestamp + body + secret)``, ``X-AppKey``, ``X-SessionToken`` (that base64 text). The stream
authenticates with ``{"user": user_id, "token": session_key}``.

The error texts are the ones breeze_connect tests for (``config.ExceptionMessage`` via ``api_util``):
``Public Key does not exist.`` (app key), ``Invalid session.`` (unknown API session), ``Resource not available.``
(expired; ICICI's answer ``{"Error": "Resource not available.", "Status": 500, "Success": null}`` is quoted in
Idirect-Tech/Breeze-Python-SDK issue #210). A wrong checksum answers ``Authentication Fail :: Invalid Checksum.``
(the text quoted in issue #30). ICICI documents no error catalogue: the HTTP status of these answers is modelled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from urllib.parse import urlencode, urlsplit, urlunsplit

USER_ID = "SIM001"
BAD_KEY = "Public Key does not exist."
BAD_SESSION = "Invalid session."
EXPIRED = "Resource not available."
INVALID_CHECKSUM = "Authentication Fail :: Invalid Checksum."


class BreezeAuth:
    """Sessions this sim issued. ``open_access``: any non-empty API session is accepted (and can be expired)."""

    def __init__(self, api_key: str, api_secret: str, redirect_url: str, open_access: bool = False) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.redirect_url = redirect_url
        self.open_access = open_access
        self.api_sessions: dict[str, str] = {}  # API_Session -> session key
        self.keys: dict[str, str] = {}  # session key -> API_Session
        self.expired: set[str] = set()  # API sessions no longer accepted

    def login_redirect(self) -> str:
        """Issue an API session; the redirect URL carrying it as ``apisession``."""
        api_session = str(10_000_000 + secrets.randbelow(90_000_000))
        self.api_sessions[api_session] = ""
        parts = urlsplit(self.redirect_url)
        query = (parts.query + "&" if parts.query else "") + urlencode({"apisession": api_session})
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    def customer(self, app_key: str, api_session: str) -> tuple[str | None, str | None]:
        """(session key, None) for an accepted API session, else (None, ICICI's error text)."""
        if app_key != self.api_key:
            return None, BAD_KEY
        if api_session in self.expired:
            return None, EXPIRED
        if api_session not in self.api_sessions:
            if not (self.open_access and api_session):
                return None, BAD_SESSION
            self.api_sessions[api_session] = ""
        if not self.api_sessions[api_session]:
            key = secrets.token_hex(12)
            self.api_sessions[api_session] = key
            self.keys[key] = api_session
        return self.api_sessions[api_session], None

    def session_problem(self, session_token_b64: str, app_key: str | None = None) -> str | None:
        """None when ``X-SessionToken`` (base64 ``user:key``) names a live session (and ``app_key`` matches)."""
        if app_key is not None and app_key != self.api_key:
            return BAD_KEY
        try:
            user, key = base64.b64decode(session_token_b64.encode("ascii"), validate=True).decode().split(":", 1)
        except (binascii.Error, UnicodeError, ValueError):
            return BAD_SESSION
        return self.key_problem(user, key)

    def key_problem(self, user: str, key: str) -> str | None:
        """None when ``user``/``key`` (the stream's auth) is a live session of this sim."""
        api_session = self.keys.get(key)
        if user != USER_ID or api_session is None:
            return BAD_SESSION
        if api_session in self.expired:
            return EXPIRED
        return None

    def signature_problem(self, headers: dict[str, str], body: str) -> str | None:
        """None when the signed headers are right: app key, live session, checksum over timestamp + body + secret."""
        problem = self.session_problem(headers.get("x-sessiontoken", ""), headers.get("x-appkey", ""))
        if problem:
            return problem
        stamp = headers.get("x-timestamp", "")
        want = "token " + hashlib.sha256((stamp + body + self.api_secret).encode("utf-8")).hexdigest()
        if not stamp or not hmac.compare_digest(want, headers.get("x-checksum", "")):
            return INVALID_CHECKSUM
        return None

    def expire_all(self) -> None:
        """Every API session issued or seen stops being accepted (the ``expire_token`` fault)."""
        self.expired.update(self.api_sessions)


__all__ = ["BreezeAuth", "USER_ID", "BAD_KEY", "BAD_SESSION", "EXPIRED", "INVALID_CHECKSUM"]

"""A tiny in-test stand-in for Kite's login and session endpoints (used until/beside the real sim).

Implements exactly what login/token-check touch, as Kite documents them: ``GET /connect/login?api_key=&v=3``
(302 to the redirect URL with ``request_token`` and ``status=success``), ``POST /session/token`` (SHA-256 checksum
of api_key + request_token + api_secret; a request token works once), ``GET /user/profile`` (``Authorization:
token key:access_token``; 403 ``TokenException`` otherwise). ``expire_all()`` makes every issued token invalid.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

API_KEY = "tradesig-sim"
API_SECRET = "tradesig-sim-secret"
USER = {"user_id": "SIM001", "user_name": "Sim Trader", "user_shortname": "Sim", "email": "sim@example.invalid",
        "user_type": "individual", "broker": "ZERODHA", "exchanges": ["NSE", "NFO", "BSE", "BFO"],
        "products": ["MIS", "NRML"], "order_types": ["MARKET", "LIMIT"]}


class FakeKite:
    def __init__(self, redirect_url: str = "http://127.0.0.1:5005/callback", api_key: str = API_KEY,
                 api_secret: str = API_SECRET) -> None:
        self.redirect_url = redirect_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.request_tokens: set[str] = set()
        self.access_tokens: set[str] = set()
        self.issued: list[str] = []
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def _json(self, code, payload, headers=()):
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _error(self, code, etype, message):
                self._json(code, {"status": "error", "message": message, "error_type": etype, "data": None})

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                fake.requests.append(parts.path)
                q = parse_qs(parts.query)
                if parts.path == "/connect/login":
                    if q.get("api_key", [""])[0] != fake.api_key or q.get("v", [""])[0] != "3":
                        return self._error(400, "InputException", "Invalid api_key")
                    rt = secrets.token_hex(16)
                    fake.request_tokens.add(rt)
                    loc = fake.redirect_url + "?" + urlencode({"action": "login", "type": "login",
                                                               "status": "success", "request_token": rt})
                    self.send_response(302)
                    self.send_header("Location", loc)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if parts.path == "/user/profile":
                    auth = self.headers.get("Authorization", "")
                    key, _, token = auth.removeprefix("token ").partition(":")
                    if key != fake.api_key or token not in fake.access_tokens:
                        return self._error(403, "TokenException", "Incorrect `api_key` or `access_token`.")
                    return self._json(200, {"status": "success", "data": USER})
                return self._error(404, "GeneralException", "Route not found")

            def do_POST(self):  # noqa: N802
                parts = urlsplit(self.path)
                fake.requests.append(parts.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if parts.path != "/session/token":
                    return self._error(404, "GeneralException", "Route not found")
                key = form.get("api_key", [""])[0]
                rt = form.get("request_token", [""])[0]
                checksum = form.get("checksum", [""])[0]
                if key != fake.api_key:
                    return self._error(403, "TokenException", "Invalid `api_key`.")
                if rt not in fake.request_tokens:
                    return self._error(403, "TokenException", "Token is invalid or has expired.")
                want = hashlib.sha256((key + rt + fake.api_secret).encode()).hexdigest()
                if checksum != want:
                    return self._error(403, "TokenException", "Invalid checksum")
                fake.request_tokens.discard(rt)
                at = secrets.token_hex(16)
                fake.access_tokens.add(at)
                fake.issued.append(at)
                data = dict(USER, api_key=key, access_token=at, public_token=secrets.token_hex(8),
                            refresh_token="", login_time="2026-11-22 09:00:00", avatar_url=None)
                return self._json(200, {"status": "success", "data": data})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> FakeKite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def expire_all(self) -> None:
        self.access_tokens.clear()

    def __enter__(self) -> FakeKite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

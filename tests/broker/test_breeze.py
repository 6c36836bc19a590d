"""Breeze sessions through the real breeze_connect client, with its import-time download and all HTTP patched:
no test here touches the network, and its ./logs lands in the data home."""

from __future__ import annotations

import base64
import io
import logging
import os
import sys
import urllib.request
import zipfile

import pytest
import requests

from tradesig.broker.tokens import TokenStore
from tradesig.clock import ManualClock, ist
from tradesig.errors import BrokerError, TokenError

SESSION = "98765432"
SECRET = "breeze-secret-value-abcdef"


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("NSEScripMaster.txt", '"Token","ShortName","Series","CompanyName"\n"2885","RELIND","EQ","RIL"\n')
    return buf.getvalue()


class _Resp:
    def __init__(self, payload=None, content=b""):
        self._payload = payload
        self.content = content
        self.status_code = 200

    def json(self):
        return self._payload

    def raise_for_status(self):
        return None


@pytest.fixture
def breeze_env(monkeypatch, tmp_path):
    """Patch the network under breeze_connect; import it fresh; undo everything afterwards."""
    state = {"valid": {SESSION}, "down": False, "calls": []}

    def fake_urlopen(url, *a, **k):
        state["calls"].append(("urlopen", url))
        return io.BytesIO(_zip_bytes())

    def fake_get(url=None, data=None, headers=None, **kw):
        state["calls"].append(("get", url))
        if state["down"]:
            raise requests.ConnectionError("connection refused")
        if "customerdetails" in url:
            import json

            body = json.loads(data)
            if body["SessionToken"] not in state["valid"]:
                return _Resp({"Success": None, "Status": 500, "Error": "Invalid session."})
            token = base64.b64encode(f"BRZ42:{body['SessionToken']}".encode()).decode()
            return _Resp({"Success": {"session_token": token, "idirect_user_name": "Breeze User",
                                      "idirect_userid": "BRZ42"}, "Status": 200, "Error": None})
        return _Resp(content=_zip_bytes())

    before = set(sys.modules)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(requests, "get", fake_get)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield state
    for name in ("APILogger", "WebsocketLogger"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
            h.close()
    for name in set(sys.modules) - before:  # only breeze's own modules (numpy & co cannot be re-imported)
        mod = sys.modules[name]
        if name.startswith("breeze_connect") or "breeze_connect" in str(getattr(mod, "__file__", "")):
            del sys.modules[name]


def test_breeze_session_stored_with_midnight_expiry(breeze_env, tmp_path, capsys, caplog):
    from tradesig.broker.breeze import breeze_session

    home = tmp_path / "home"
    clock = ManualClock(ist(2026, 11, 20, 8, 30))
    rec = breeze_session("bkey", SECRET, SESSION, home=home, clock=clock)
    assert (rec.broker, rec.user_id, rec.user_name, rec.access_token) == ("breeze", "BRZ42", "Breeze User", SESSION)
    assert rec.expires_at == ist(2026, 11, 21, 0, 0)
    assert (home / "logs" / "breeze" / "logs" / "apiLogs.log").exists()
    assert not (tmp_path / "cwd" / "logs").exists()
    assert all(not str(c[1]).startswith("https://") or "icicidirect" in c[1] for c in breeze_env["calls"])
    TokenStore(home, clock).save(rec)
    out = capsys.readouterr()
    assert SESSION not in out.out + out.err and SECRET not in caplog.text


def test_breeze_rejected_and_unreachable(breeze_env, tmp_path):
    from tradesig.broker.breeze import breeze_session, verify_breeze

    clock = ManualClock(ist(2026, 11, 20, 8, 30))
    with pytest.raises(TokenError) as info:
        breeze_session("bkey", SECRET, "11111111", home=tmp_path, clock=clock)
    assert "11111111" not in str(info.value) and info.value.exit_code == 1
    rec = breeze_session("bkey", SECRET, SESSION, home=tmp_path, clock=clock)
    assert verify_breeze(rec, SECRET, home=tmp_path)["user_id"] == "BRZ42"
    breeze_env["valid"].clear()
    with pytest.raises(TokenError):
        verify_breeze(rec, SECRET, home=tmp_path)
    breeze_env["down"] = True
    with pytest.raises(BrokerError):
        verify_breeze(rec, SECRET, home=tmp_path)


def test_breeze_cli_login_and_check(breeze_env, run_cli, home, tmp_path, monkeypatch):
    cfg = tmp_path / "xdg-config" / "tradesig" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[breeze]\nenabled = true\napi_key = "bkey"\n')
    monkeypatch.setenv("TRADESIG_BREEZE_API_SECRET", SECRET)
    monkeypatch.setattr(sys, "stdin", io.StringIO(SESSION + "\n"))
    code, out, err = run_cli("login", "--broker", "breeze", "--request-token", "-")
    assert code == 0, err
    assert "Logged in to breeze as Breeze User (BRZ42)" in out
    assert oct(os.stat(home / "tokens" / "breeze.json").st_mode & 0o777) == "0o600"
    code, out, err = run_cli("token-check", "--broker", "breeze")
    assert code == 0, err
    assert "accepted" in out
    breeze_env["valid"].clear()
    code, out, err = run_cli("token-check", "--broker", "breeze")
    assert code == 1 and "rejected" in err and "tradesig login --broker breeze" in err
    for text in (out, err):
        assert SESSION not in text and SECRET not in text

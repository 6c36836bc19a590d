"""`tradesig login` and `tradesig token-check`: exit codes, exact output per format, no token in any output."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import httpx
import pytest

from tests.broker import fake_kite


@pytest.fixture
def fake():
    with fake_kite.FakeKite() as f:
        yield f


def write_config(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "xdg-config" / "tradesig" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    return cfg


def request_token(fake) -> str:
    loc = httpx.get(f"{fake.url}/connect/login?api_key={fake.api_key}&v=3").headers["location"]
    return httpx.URL(loc).params["request_token"]


def assert_no_secret(fake, *texts):
    for token in fake.issued:
        for text in texts:
            assert token not in text


def test_help(run_cli):
    for cmd in ("login", "token-check"):
        code, out, _ = run_cli(cmd, "--help")
        assert code == 0 and "Usage:" in out and "--install-completion" not in out


def test_login_with_listener_and_open(run_cli, home, tmp_path, fake, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    from tradesig.broker.login import free_loopback_port

    port = free_loopback_port()
    fake.redirect_url = f"http://127.0.0.1:{port}/callback"
    write_config(tmp_path, f'[kite]\nredirect_url = "{fake.redirect_url}"\n')
    opened = []

    def fake_open(url):
        opened.append(url)
        threading.Thread(target=lambda: httpx.get(url, follow_redirects=True)).start()
        return True

    monkeypatch.setattr("webbrowser.open", fake_open)
    code, out, err = run_cli("-vv", "login", "--open", "--sim-url", fake.url, "--timeout", "30")
    assert code == 0, err
    assert opened == [f"{fake.url}/connect/login?api_key=tradesig-sim&v=3"]
    lines = out.splitlines()
    assert lines[0] == "Log in to kite at:"
    assert lines[1] == f"  {fake.url}/connect/login?api_key=tradesig-sim&v=3"
    assert lines[2] == f"Waiting up to 30s for the redirect on {fake.redirect_url} ..."
    assert lines[3].startswith("Logged in to kite as Sim Trader (SIM001); token valid until ")
    assert lines[3].endswith(f"stored in {home / 'tokens' / 'kite.json'}")
    assert oct(os.stat(home / "tokens" / "kite.json").st_mode & 0o777) == "0o600"
    assert_no_secret(fake, out, err, caplog.text)


def test_login_pasted_redirect_and_token_check_json(run_cli, home, fake, caplog):
    caplog.set_level(logging.DEBUG)
    loc = httpx.get(f"{fake.url}/connect/login?api_key=tradesig-sim&v=3").headers["location"]
    code, out, err = run_cli("login", "--sim-url", fake.url, "--redirect-url", loc)
    assert code == 0, err
    code, out, err = run_cli("token-check", "--sim-url", fake.url, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert sorted(data) == ["broker", "checked_at", "exit_code", "expiry", "fix", "message", "remaining", "schema",
                            "status", "user", "verified"]
    assert (data["status"], data["verified"], data["user"], data["exit_code"]) == \
        ("valid", True, {"id": "SIM001", "name": "Sim Trader"}, 0)
    assert data["expiry"].endswith("T06:00:00+05:30") and data["remaining"] > 0
    code, out, err = run_cli("token-check", "--sim-url", fake.url)
    assert code == 0 and out.startswith("kite token of SIM001 valid until ") and "accepted by" in out
    fake.expire_all()
    code, out2, err2 = run_cli("token-check", "--sim-url", fake.url)
    assert code == 1
    assert err2.strip().endswith(f"-- fix: tradesig login --broker kite --sim-url {fake.url}")
    assert err2.startswith("tradesig: rejected: Kite rejected the access token")
    code, out3, _ = run_cli("token-check", "--sim-url", fake.url, "--format", "json")
    assert code == 1 and json.loads(out3)["status"] == "rejected"
    assert_no_secret(fake, out, err, out2, err2, out3, caplog.text)


def test_token_check_exit_codes(run_cli, home, fake, tmp_path):
    # no config and no --sim-url: configuration error
    code, out, err = run_cli("token-check")
    assert code == 2 and "kite.api_key is not set" in err
    code, out, _ = run_cli("token-check", "--format", "json")
    assert code == 2 and json.loads(out)["status"] == "config_error"
    # missing token: the exact fix includes the global options given
    code, out, err = run_cli("--home", str(home), "token-check", "--sim-url", fake.url)
    assert code == 1 and "missing" in err
    assert f"fix: tradesig --home {home} login --broker kite --sim-url {fake.url}" in err
    code, _, err = run_cli("login", "--sim-url", fake.url, "--request-token", request_token(fake))
    assert code == 0, err
    code, _, err = run_cli("token-check", "--sim-url", fake.url, "--min-remaining", "30h")
    assert code == 1 and "expiring" in err
    code, _, err = run_cli("token-check", "--sim-url", fake.url, "--min-remaining", "soon")
    assert code == 2 and "not a duration" in err
    code, out, _ = run_cli("token-check", "--sim-url", fake.url, "--offline")
    assert code == 0 and "not verified" in out
    fake.stop()
    code, out, err = run_cli("token-check", "--sim-url", fake.url)
    assert code == 3 and "unreachable" in err and "cannot reach Kite" in err
    os.chmod(home / "tokens" / "kite.json", 0o640)
    code, out, err = run_cli("token-check", "--sim-url", fake.url, "--offline")
    assert code == 2 and "group/others" in err and "chmod 600" in err


def test_token_check_malformed_config_json(run_cli, tmp_path):
    write_config(tmp_path, "[kite\n")
    code, out, err = run_cli("token-check", "--format", "json")
    assert code == 2 and json.loads(out)["status"] == "config_error"
    code, out, err = run_cli("token-check")
    assert code == 2 and "not valid TOML" in err


def test_login_errors(run_cli, home, fake):
    code, _, err = run_cli("login", "--request-token", "x", "--redirect-url", "http://a/?request_token=y")
    assert code == 2
    code, _, err = run_cli("login", "--sim-url", fake.url, "--redirect-url", "http://127.0.0.1/cb?status=success")
    assert code == 2 and "no request_token" in err
    code, _, err = run_cli("login", "--sim-url", fake.url, "--request-token", "not-a-real-token")
    assert code == 1 and "Token is invalid" in err
    code, _, err = run_cli("login")
    assert code == 2 and "kite.api_key is not set" in err
    from tradesig.broker.login import free_loopback_port

    code, _, err = run_cli("login", "--sim-url", f"http://127.0.0.1:{free_loopback_port()}", "--request-token", "x")
    assert code == 3 and "cannot reach Kite" in err


def test_login_timeout(run_cli, home, tmp_path, fake):
    from tradesig.broker.login import free_loopback_port

    write_config(tmp_path, f'[kite]\nredirect_url = "http://127.0.0.1:{free_loopback_port()}/callback"\n')
    code, out, err = run_cli("login", "--sim-url", fake.url, "--timeout", "1")
    assert code == 1 and "no login redirect reached" in err

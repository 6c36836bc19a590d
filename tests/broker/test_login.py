"""The login flow library: targets, pasted redirects, the loopback listener, the exchange, token checks."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.broker.fake_kite import API_KEY, FakeKite
from tradesig.broker.login import (
    SIM_API_KEY,
    SIM_API_SECRET,
    RedirectListener,
    check_token,
    free_loopback_port,
    login,
    parse_redirect,
    resolve_target,
)
from tradesig.broker.tokens import TokenRecord, TokenStore, kite_expiry
from tradesig.clock import ManualClock, SystemClock, ist
from tradesig.config import LoadedConfig, Settings
from tradesig.errors import ConfigError, DataError, TokenError


def loaded_with(home: Path, **kite) -> LoadedConfig:
    s = Settings()
    return LoadedConfig(dataclasses.replace(s, kite=dataclasses.replace(s.kite, **kite)), None, home)


@pytest.fixture
def fake():
    with FakeKite() as f:
        yield f


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch, tmp_path):
    monkeypatch.delenv("TRADESIG_KITE_API_SECRET", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def browse(url: str) -> httpx.Response:
    """The scripted 'browser': follows the login URL through the redirect to our listener."""
    with httpx.Client(follow_redirects=True, timeout=10) as client:
        return client.get(url)


# ------------------------------------------------------------------------------------------------ targets


def test_target_requires_api_key_without_sim(tmp_path):
    with pytest.raises(ConfigError, match="kite.api_key is not set"):
        resolve_target(loaded_with(tmp_path))


def test_target_sim_defaults(tmp_path):
    t = resolve_target(loaded_with(tmp_path), sim_url="http://127.0.0.1:9999/")
    assert (t.api_key, t.root, t.sim) == (SIM_API_KEY, "http://127.0.0.1:9999", True)
    assert t.login_url == "http://127.0.0.1:9999/connect/login?api_key=tradesig-sim&v=3"
    assert t.secret(loaded_with(tmp_path)) == SIM_API_SECRET


def test_target_sim_with_real_key_resolves_secret(tmp_path, monkeypatch):
    loaded = loaded_with(tmp_path, api_key="realkey")
    t = resolve_target(loaded, sim_url="http://127.0.0.1:9")
    assert t.api_key == "realkey"
    with pytest.raises(ConfigError, match="kite_api_secret"):
        t.secret(loaded)
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", "from-env")
    assert t.secret(loaded) == "from-env"


def test_target_from_config(tmp_path):
    t = resolve_target(loaded_with(tmp_path, api_key="abc", root="http://127.0.0.1:1/"))
    assert t.root == "http://127.0.0.1:1"
    assert t.login_url == "https://kite.zerodha.com/connect/login?api_key=abc&v=3"


def test_target_bad_urls_and_brokers(tmp_path):
    with pytest.raises(ConfigError):
        resolve_target(loaded_with(tmp_path), sim_url="127.0.0.1:9")
    sim = resolve_target(loaded_with(tmp_path), "breeze", sim_url="http://127.0.0.1:9")  # the sim's Breeze port
    assert (sim.root, sim.api_key, sim.sim) == ("http://127.0.0.1:9", "tradesig-sim", True)
    assert sim.login_url == "http://127.0.0.1:9/apiuser/login?api_key=tradesig-sim"
    with pytest.raises(ConfigError, match="breeze.api_key"):
        resolve_target(loaded_with(tmp_path), "breeze")
    with pytest.raises(ConfigError, match="unknown broker"):
        resolve_target(loaded_with(tmp_path), "upstox")


# ------------------------------------------------------------------------------------------ pasted redirect


@pytest.mark.parametrize("text", [
    "http://127.0.0.1:5005/callback?action=login&type=login&status=success&request_token=RT123",
    "?request_token=RT123&status=success",
    "request_token=RT123",
    "  https://example.com/cb?request_token=RT123&status=success \n",
])
def test_parse_redirect(text):
    assert parse_redirect(text) == "RT123"


def test_parse_redirect_failures():
    with pytest.raises(DataError):
        parse_redirect("http://127.0.0.1:5005/callback?status=success")
    with pytest.raises(DataError):
        parse_redirect("nothing here")
    with pytest.raises(TokenError, match="status=cancelled"):
        parse_redirect("http://x/cb?status=cancelled&request_token=RT")
    assert parse_redirect("http://x/cb?apisession=4242", "breeze") == "4242"


# ------------------------------------------------------------------------------------------------ listener


def test_listener_catches_one_redirect_then_closes():
    listener = RedirectListener("http://127.0.0.1:0/callback").start()
    url = listener.redirect_url
    result = {}

    def browser():
        result["favicon"] = httpx.get(url.replace("/callback", "/favicon.ico")).status_code
        result["page"] = httpx.get(url + "?request_token=RT9&status=success")

    t = threading.Thread(target=browser)
    t.start()
    assert listener.wait(30) == "RT9"
    t.join()
    assert result["favicon"] == 404
    assert result["page"].status_code == 200 and "login received" in result["page"].text
    with pytest.raises(httpx.ConnectError):  # one request, then closed
        httpx.get(url)


def test_listener_timeout_is_token_error():
    listener = RedirectListener("http://127.0.0.1:0/callback", clock=SystemClock()).start()
    with pytest.raises(TokenError, match="no login redirect") as info:
        listener.wait(0.2)
    assert info.value.exit_code == 1 and "--redirect-url" in info.value.hint


def test_listener_failed_status():
    listener = RedirectListener("http://127.0.0.1:0/callback").start()
    t = threading.Thread(target=httpx.get, args=(listener.redirect_url + "?status=cancelled&request_token=x",))
    t.start()
    with pytest.raises(TokenError, match="status=cancelled"):
        listener.wait(30)
    t.join()


def test_listener_breeze_form_post():
    listener = RedirectListener("http://127.0.0.1:0/cb", broker="breeze").start()
    t = threading.Thread(target=httpx.post, args=(listener.redirect_url,), kwargs={"data": {"API_Session": "777"}})
    t.start()
    assert listener.wait(30) == "777"
    t.join()


def test_listener_refuses_non_loopback_and_busy_port():
    with pytest.raises(ConfigError, match="not a loopback"):
        RedirectListener("http://example.com:5005/callback")
    with pytest.raises(ConfigError, match="http://"):
        RedirectListener("https://127.0.0.1:5005/callback")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError, match="cannot listen"):
            RedirectListener(f"http://127.0.0.1:{port}/callback").start()


# ---------------------------------------------------------------------------------------------------- login


def test_login_via_listener_and_scripted_browser(tmp_path, fake, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_loopback_port()
    fake.redirect_url = f"http://127.0.0.1:{port}/callback"
    loaded = loaded_with(tmp_path, redirect_url=fake.redirect_url)
    clock = ManualClock(ist(2026, 11, 20, 8, 40))
    seen = {}

    def open_browser(url, listening_on):
        seen["url"], seen["on"] = url, listening_on
        threading.Thread(target=lambda: seen.setdefault("resp", browse(url))).start()

    result = login(loaded, clock=clock, sim_url=fake.url, timeout=30, on_login_url=open_browser)
    assert seen["url"] == f"{fake.url}/connect/login?api_key={API_KEY}&v=3"
    assert seen["on"] == fake.redirect_url
    rec = result.record
    assert rec.access_token == fake.issued[-1]
    assert (rec.user_id, rec.user_name, rec.api_key, rec.root) == ("SIM001", "Sim Trader", API_KEY, fake.url)
    assert rec.expires_at == ist(2026, 11, 21, 6, 0) == kite_expiry(clock.now())
    assert result.path == tmp_path / "tokens" / "kite.json"
    assert oct(os.stat(result.path).st_mode & 0o777) == "0o600"
    assert TokenStore(tmp_path, clock).load("kite") == rec
    assert fake.issued[-1] not in caplog.text


def test_login_with_pasted_request_token_and_redirect(tmp_path, fake):
    loaded = loaded_with(tmp_path)
    clock = ManualClock(ist(2026, 11, 20, 8, 40))
    redirect = httpx.get(f"{fake.url}/connect/login?api_key={API_KEY}&v=3").headers["location"]
    rec = login(loaded, clock=clock, sim_url=fake.url, redirect=redirect).record
    assert rec.access_token in fake.access_tokens
    token = parse_redirect(httpx.get(f"{fake.url}/connect/login?api_key={API_KEY}&v=3").headers["location"])
    rec2 = login(loaded, clock=clock, sim_url=fake.url, request_token=token).record
    assert rec2.access_token != rec.access_token
    # a request token works once
    with pytest.raises(TokenError) as info:
        login(loaded, clock=clock, sim_url=fake.url, request_token=token)
    assert token not in str(info.value)


def test_login_wrong_secret_is_refused_without_leaking(tmp_path, fake, monkeypatch):
    fake.api_key = "realkey"
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", "the-wrong-secret-value")
    loaded = loaded_with(tmp_path, api_key="realkey")
    token = parse_redirect(httpx.get(f"{fake.url}/connect/login?api_key=realkey&v=3").headers["location"])
    with pytest.raises(TokenError) as info:
        login(loaded, clock=SystemClock(), sim_url=fake.url, request_token=token)
    assert "the-wrong-secret-value" not in str(info.value)
    assert not (tmp_path / "tokens" / "kite.json").exists()


def test_login_unreachable(tmp_path):
    port = free_loopback_port()
    from tradesig.errors import BrokerError

    with pytest.raises(BrokerError, match="cannot reach Kite"):
        login(loaded_with(tmp_path), clock=SystemClock(), sim_url=f"http://127.0.0.1:{port}", request_token="x")


# ---------------------------------------------------------------------------------------------- token check


def _logged_in(tmp_path, fake, when=ist(2026, 11, 20, 8, 40)):
    loaded = loaded_with(tmp_path)
    clock = ManualClock(when)
    token = parse_redirect(httpx.get(f"{fake.url}/connect/login?api_key={API_KEY}&v=3").headers["location"])
    login(loaded, clock=clock, sim_url=fake.url, request_token=token)
    return loaded, clock


def test_check_valid_then_rejected(tmp_path, fake):
    loaded, clock = _logged_in(tmp_path, fake)
    res = check_token(loaded, clock=clock, sim_url=fake.url)
    assert (res.status, res.exit_code, res.verified, res.user_id, res.user_name) == \
        ("valid", 0, True, "SIM001", "Sim Trader")
    assert res.remaining == timedelta(hours=21, minutes=20)
    j = res.to_json()
    assert j["expiry"] == "2026-11-21T06:00:00+05:30" and j["remaining"] == 76800
    assert j["checked_at"] == "2026-11-20T08:40:00+05:30"
    fake.expire_all()
    res = check_token(loaded, clock=clock, sim_url=fake.url, login_command="tradesig login --sim-url X")
    assert (res.status, res.exit_code, res.fix) == ("rejected", 1, "tradesig login --sim-url X")


def test_check_expiry_and_margin_without_network(tmp_path, fake):
    loaded, clock = _logged_in(tmp_path, fake)
    fake.stop()  # nothing below may need the broker
    res = check_token(loaded, clock=clock, sim_url=fake.url, min_remaining=timedelta(hours=22))
    assert (res.status, res.exit_code) == ("expiring", 1)
    res = check_token(loaded, clock=clock, sim_url=fake.url, offline=True)
    assert (res.status, res.exit_code, res.verified) == ("valid", 0, False)
    clock.set(ist(2026, 11, 21, 6, 0))
    res = check_token(loaded, clock=clock, sim_url=fake.url)
    assert (res.status, res.exit_code) == ("expired", 1)
    assert res.to_json()["remaining"] == 0


def test_check_unreachable_is_not_invalid(tmp_path, fake):
    loaded, clock = _logged_in(tmp_path, fake)
    fake.stop()
    res = check_token(loaded, clock=clock, sim_url=fake.url)
    assert (res.status, res.exit_code) == ("unreachable", 3)


def test_check_missing_insecure_mismatch_config(tmp_path, fake):
    loaded = loaded_with(tmp_path)
    clock = ManualClock(ist(2026, 11, 20, 9, 0))
    assert check_token(loaded, clock=clock, sim_url=fake.url).status == "missing"
    assert check_token(loaded, clock=clock).status == "config_error"
    assert check_token(loaded, clock=clock).exit_code == 2
    rec = TokenRecord("kite", "otherkey", "t" * 20, "X1", "", clock.now(), kite_expiry(clock.now()))
    path = TokenStore(tmp_path).save(rec)
    res = check_token(loaded, clock=clock, sim_url=fake.url)
    assert (res.status, res.exit_code) == ("mismatch", 1)
    os.chmod(path, 0o644)
    res = check_token(loaded, clock=clock, sim_url=fake.url)
    assert (res.status, res.exit_code) == ("insecure", 2) and "chmod 600" in res.fix


def test_docs_list_every_json_key_and_status():
    from datetime import UTC, datetime

    from tradesig.broker.login import STATUS_EXIT, TokenCheck

    text = (Path(__file__).resolve().parents[2] / "docs" / "login.md").read_text(encoding="utf-8")
    keys = TokenCheck("kite", "valid", "", datetime(2026, 1, 1, tzinfo=UTC)).to_json()
    assert [k for k in keys if f"| `{k}` |" not in text] == []
    assert [s for s in STATUS_EXIT if f"`{s}`" not in text] == []


def test_listener_on_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        listener = RedirectListener("http://[::1]:0/callback").start()
    except ConfigError as exc:
        pytest.skip(f"::1 not bindable here: {exc}")
    url = listener.redirect_url
    assert url.startswith("http://[::1]:")
    t = threading.Thread(target=httpx.get, args=(url + "?request_token=V6&status=success",))
    t.start()
    assert listener.wait(30) == "V6"
    t.join()


def test_check_across_midnight_friday_and_holiday_eve(tmp_path, fake):
    # 23:30 IST login: still valid after midnight, dead at 06:00
    loaded, clock = _logged_in(tmp_path, fake, when=ist(2026, 11, 18, 23, 30))
    clock.set(ist(2026, 11, 19, 0, 30))
    assert check_token(loaded, clock=clock, sim_url=fake.url).status == "valid"
    clock.set(ist(2026, 11, 19, 5, 59))
    assert check_token(loaded, clock=clock, sim_url=fake.url, offline=True).status == "valid"
    clock.set(ist(2026, 11, 19, 6, 0))
    assert check_token(loaded, clock=clock, sim_url=fake.url).status == "expired"
    # Friday 09:00 login: the Monday 08:50 timer finds it expired (since Saturday 06:00)
    loaded, clock = _logged_in(tmp_path, fake, when=ist(2026, 11, 20, 9, 0))
    clock.set(ist(2026, 11, 23, 8, 50))
    res = check_token(loaded, clock=clock, sim_url=fake.url)
    assert (res.status, res.expires_at) == ("expired", ist(2026, 11, 21, 6, 0))
    # holiday eve (Mon 23 Nov 2026; Tue 24 is an NSE holiday): dead by the next trading morning (Wed 25)
    loaded, clock = _logged_in(tmp_path, fake, when=ist(2026, 11, 23, 15, 45))
    clock.set(ist(2026, 11, 25, 8, 50))
    assert check_token(loaded, clock=clock, sim_url=fake.url).status == "expired"


def test_listener_not_held_up_by_an_idle_preconnect():
    """Browsers open speculative connections that never send a request: the redirect must still get through.
    (A one-connection-at-a-time server would sit in the idle connection's 15 s read timeout past the budget.)"""
    listener = RedirectListener("http://127.0.0.1:0/callback").start()
    port = int(listener.redirect_url.rsplit(":", 1)[1].split("/")[0])
    idle = socket.create_connection(("127.0.0.1", port))
    try:
        t = threading.Thread(target=httpx.get, args=(listener.redirect_url + "?request_token=PC&status=success",))
        t.start()
        assert listener.wait(12) == "PC"
        t.join()
    finally:
        idle.close()

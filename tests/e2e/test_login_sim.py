"""End to end against the real sim with the official kiteconnect client: a scripted browser follows the login URL,
the sim redirects to our loopback listener, the token lands 0600; token-check answers 0, then 1 after the sim
expires the token, 3 with the sim down, 2 without configuration. No output or log line contains the token."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading

import httpx
import pytest

from tradesig.broker.login import SIM_API_KEY, SIM_API_SECRET, free_loopback_port
from tradesig.sim import DEFAULT_API_KEY, DEFAULT_API_SECRET
from tradesig.sim.control import post_fault

pytestmark = pytest.mark.e2e


@pytest.fixture
def redirect_url():
    return f"http://127.0.0.1:{free_loopback_port()}/callback"


@pytest.fixture
def config_file(tmp_path, home, redirect_url):
    cfg = tmp_path / "xdg-config" / "tradesig" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[kite]\nredirect_url = "{redirect_url}"\n')
    return cfg


class SimProcess:
    """`tradesig sim serve` in its own process (synthetic session, any free port): "down" means really gone."""

    def __init__(self, redirect_url: str, tmp) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESIG_")}
        env.update(PYTHONUNBUFFERED="1", TRADESIG_HOME=str(tmp / "sim-home"), XDG_CONFIG_HOME=str(tmp / "sim-cfg"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tradesig", "sim", "serve", "--port", "0", "--redirect-url", redirect_url,
             "--forever"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.rest_url = ""
        for line in self.proc.stdout:  # the sim announces its REST root once it listens
            if line.strip().startswith("REST"):
                self.rest_url = line.split()[1]
                break
        assert self.rest_url, "the sim did not start"

    def fault(self, spec: str) -> None:
        post_fault(self.rest_url, spec)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def sim(redirect_url, tmp_path):
    proc = SimProcess(redirect_url, tmp_path)
    yield proc
    proc.stop()


@pytest.fixture
def browser(monkeypatch):
    """`webbrowser.open` replaced by a scripted browser: httpx following the login URL's redirects."""
    visits: list[dict] = []

    def open_url(url: str) -> bool:
        def run() -> None:
            with httpx.Client(follow_redirects=True, timeout=30) as client:
                resp = client.get(url)
                visits.append({"url": url, "status": resp.status_code, "final": str(resp.url), "text": resp.text})

        thread = threading.Thread(target=run)
        thread.start()
        visits.append({"thread": thread})
        return True

    monkeypatch.setattr("webbrowser.open", open_url)
    return visits


def test_sim_defaults_are_the_documented_ones():
    assert (SIM_API_KEY, SIM_API_SECRET) == (DEFAULT_API_KEY, DEFAULT_API_SECRET)


def test_login_then_token_check_lifecycle(run_cli, home, config_file, sim, browser, redirect_url, caplog):
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []

    code, out, err = run_cli("login", "--open", "--sim-url", sim.rest_url, "--timeout", "60")
    outputs += [out, err]
    assert code == 0, err
    browser[0]["thread"].join()
    visit = browser[1]
    assert visit["url"] == f"{sim.rest_url}/connect/login?api_key=tradesig-sim&v=3"
    assert visit["status"] == 200 and visit["final"].startswith(redirect_url + "?")
    assert "login received" in visit["text"]
    assert "Logged in to kite as tradesig sim" in out

    path = home / "tokens" / "kite.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    token = stored["access_token"]
    assert stored["api_key"] == "tradesig-sim" and stored["root"] == sim.rest_url
    assert stored["expires_at_ist"].endswith("T06:00:00+05:30")

    # the official client accepts the stored token
    import kiteconnect

    assert kiteconnect.KiteConnect("tradesig-sim", access_token=token, root=sim.rest_url).profile()["user_id"]

    code, out, err = run_cli("token-check", "--sim-url", sim.rest_url)
    outputs += [out, err]
    assert code == 0, err
    assert "accepted by " + sim.rest_url in out
    code, out, err = run_cli("token-check", "--sim-url", sim.rest_url, "--format", "json")
    outputs += [out, err]
    data = json.loads(out)
    assert code == 0 and (data["status"], data["verified"]) == ("valid", True)

    sim.fault("expire_token")
    code, out, err = run_cli("token-check", "--sim-url", sim.rest_url)
    outputs += [out, err]
    assert code == 1
    assert err.startswith("tradesig: rejected: ")
    assert f"fix: tradesig login --broker kite --sim-url {sim.rest_url}" in err

    sim.stop()
    code, out, err = run_cli("token-check", "--sim-url", sim.rest_url, "--format", "json")
    outputs += [out, err]
    assert code == 3 and json.loads(out)["status"] == "unreachable", out

    for text in outputs + [caplog.text]:
        assert token not in text


def test_login_with_pasted_redirect_and_env_root(run_cli, home, config_file, sim, monkeypatch, tmp_path):
    # headless: the browser ran elsewhere; only the address it landed on is pasted
    landed = httpx.get(f"{sim.rest_url}/connect/login?api_key=tradesig-sim&v=3").headers["location"]
    code, out, err = run_cli("login", "--sim-url", sim.rest_url, "--redirect-url", landed)
    assert code == 0, err
    # roots from the environment and the config instead of --sim-url
    config_file.write_text('[kite]\napi_key = "tradesig-sim"\n')
    monkeypatch.setenv("TRADESIG_KITE_ROOT", sim.rest_url)
    monkeypatch.setenv("TRADESIG_KITE_API_SECRET", "tradesig-sim-secret")
    code, out, err = run_cli("token-check")
    assert code == 0, err
    monkeypatch.delenv("TRADESIG_KITE_ROOT")
    config_file.write_text(f'[kite]\napi_key = "tradesig-sim"\nroot = "{sim.rest_url}"\n')
    code, out, err = run_cli("token-check", "--format", "json")
    assert code == 0 and json.loads(out)["verified"] is True


def test_token_check_without_config_is_2(run_cli, home):
    code, out, err = run_cli("token-check")
    assert code == 2 and "kite.api_key is not set" in err


def test_exit_codes_of_the_real_process(tmp_path, sim, redirect_url):
    """The console entry point, in a subprocess: exit codes as the 08:50 timer sees them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESIG_")}
    env.update(TRADESIG_HOME=str(tmp_path / "h"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tradesig", *args], capture_output=True, text=True, env=env,
                              timeout=120)

    landed = httpx.get(f"{sim.rest_url}/connect/login?api_key=tradesig-sim&v=3").headers["location"]
    token = httpx.URL(landed).params["request_token"]
    proc = subprocess.run([sys.executable, "-m", "tradesig", "login", "--sim-url", sim.rest_url,
                           "--request-token", "-"], input=token + "\n", capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert run("token-check", "--sim-url", sim.rest_url).returncode == 0
    assert run("token-check").returncode == 2
    sim.stop()
    proc = run("token-check", "--sim-url", sim.rest_url)
    assert proc.returncode == 3 and "unreachable" in proc.stderr
    assert run("token-check", "--sim-url", sim.rest_url, "--offline").returncode == 0

"""Alerts over a generic webhook and a Telegram bot, against a loopback HTTP server that plays the Bot API and a
webhook receiver: delivered, retried (bounded, logged, token never logged), never blocking the caller; used by the
OnFailure handler, preflight --alert and the engine's event sink."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tradesig.alerts import Alert, AlertDispatcher, alert_for_event, alerting_sink, channels, send_alert
from tradesig.config import load_config

TOKEN = "123456:SECRET-bot-token"
CHAT = "-100777"
NOW = datetime(2026, 11, 20, 3, 35, tzinfo=UTC)


class BotAPI:
    """A loopback server: ``POST /bot<TOKEN>/sendMessage`` answers like Telegram's Bot API; ``POST /hook`` is a
    webhook receiver. ``fail_next`` requests answer 502; ``hold`` makes a handler wait until released."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.hooks: list[dict] = []
        self.attempts = 0
        self.fail_next = 0
        self.hold: threading.Event | None = None
        self.started = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.attempts += 1
                api.started.set()
                if api.hold is not None:
                    api.hold.wait(30)
                if api.fail_next > 0:
                    api.fail_next -= 1
                    return self._answer(502, {"ok": False, "description": "Bad Gateway"})
                if self.path == "/hook":
                    api.hooks.append(body)
                    return self._answer(200, {})
                if self.path != f"/bot{TOKEN}/sendMessage":
                    return self._answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                if not body.get("chat_id") or not body.get("text"):
                    return self._answer(400, {"ok": False, "description": "Bad Request: message text is empty"})
                api.messages.append(body)
                return self._answer(200, {"ok": True, "result": {"message_id": len(api.messages),
                                                                  "chat": {"id": int(body["chat_id"])},
                                                                  "text": body["text"]}})

            def _answer(self, status, doc):
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    server = BotAPI()
    yield server
    server.close()


@pytest.fixture
def loaded(home, api, monkeypatch, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[alerts]\nwebhook_url = "{api.url}/hook"\ntelegram_bot_token = "secret:telegram_bot_token"\n'
                   f'telegram_chat_id = "{CHAT}"\ntelegram_api = "{api.url}"\nretries = 3\n', encoding="utf-8")
    monkeypatch.setenv("TRADESIG_CONFIG", str(cfg))
    monkeypatch.setenv("TRADESIG_TELEGRAM_BOT_TOKEN", TOKEN)
    return load_config(None, None)


def no_pause(seconds: float) -> None:
    pass


def test_both_channels_deliver(loaded, api):
    assert send_alert(loaded, "tradesig-feed.service failed", "what it means", kind="unit_failed", now=NOW,
                      host="box") == {"webhook": True, "telegram": True}
    (msg,) = api.messages
    assert msg["chat_id"] == CHAT and msg["text"].startswith("[tradesig box] tradesig-feed.service failed\n")
    (hook,) = api.hooks
    assert hook["text"] == msg["text"] and hook["content"] == msg["text"]  # Slack, Discord
    assert hook["message"] == "what it means" and hook["kind"] == "unit_failed"  # ntfy, scripts
    assert hook["ts"] == "2026-11-20T03:35:00+00:00" and "topic" not in hook


def test_failed_alert_is_retried_logged_and_bounded(loaded, api, caplog):
    caplog.set_level(logging.WARNING, "tradesig.alerts")
    pauses: list[float] = []
    api.fail_next = 2
    sender = AlertDispatcher([c for c in channels(loaded) if c.name == "telegram"], retries=3,
                             pause=pauses.append)
    assert sender.deliver(Alert("kill switch", "x", "kill_switch", "box", NOW)) == {"telegram": True}
    assert api.attempts == 3 and pauses == [1.0, 2.0] and len(api.messages) == 1
    api.fail_next = 10
    assert sender.deliver(Alert("fill", "y", "fill", "box", NOW)) == {"telegram": False}
    assert api.attempts == 6 and sender.failures == 1
    assert "not delivered via telegram after 3 attempts" in caplog.text and "HTTP 502" in caplog.text
    assert TOKEN not in caplog.text and "SECRET" not in caplog.text


def test_wrong_token_is_a_failure_not_a_crash(loaded, api, monkeypatch, caplog):
    monkeypatch.setenv("TRADESIG_TELEGRAM_BOT_TOKEN", "999:wrong")
    result = send_alert(loaded, "t", "x", kind="risk", now=NOW, pause=no_pause)
    assert result == {"webhook": True, "telegram": False} and "999:wrong" not in caplog.text


def test_missing_token_leaves_telegram_out(loaded, monkeypatch, caplog):
    monkeypatch.delenv("TRADESIG_TELEGRAM_BOT_TOKEN")
    assert [c.name for c in channels(loaded)] == ["webhook"]
    assert "telegram alerts off" in caplog.text


def test_submit_never_blocks_the_caller(loaded, api):
    api.hold = threading.Event()
    sender = AlertDispatcher(channels(loaded), pause=no_pause)
    sender.submit(Alert("fill", "x", "fill", "box", NOW))  # returns while the server still holds the request
    assert api.started.wait(10) and api.messages == [] and api.hooks == []
    api.hold.set()
    assert sender.flush(30)
    assert len(api.hooks) == 1 and len(api.messages) == 1
    sender.close()


def test_engine_events_become_alerts(loaded, api):
    logged: list[tuple[str, dict]] = []
    emit = alerting_sink(loaded, lambda k, p: logged.append((k, p)), mode="live", now=lambda: NOW)
    emit("order_update", {"order_id": "1", "tag": "t1", "tradingsymbol": "NIFTY2460622500CE", "status": "COMPLETE",
                          "transaction_type": "SELL", "filled_quantity": 25, "average_price": 120.5})
    emit("decision", {"x": 1})
    emit("kill_switch", {"action": "engage", "reason": "manual flatten"})
    assert [k for k, _ in logged] == ["order_update", "decision", "kill_switch"]  # the log first, every event
    sender = emit.dispatcher
    assert sender.flush(30)
    texts = [m["text"] for m in api.messages]
    assert texts == ["[tradesig " + texts[0].split(" ", 2)[1] + " live: filled SELL 25 NIFTY2460622500CE @ 120.50\n"
                     "order 1 (t1)", texts[1]] and "KILL SWITCH engaged" in texts[1]
    sender.close()


def test_alert_for_event_selects_what_a_person_needs():
    assert alert_for_event("order_update", {"status": "OPEN"}, mode="paper") is None
    assert alert_for_event("order_rejected", {"quantity": 25, "tradingsymbol": "X", "message": "margin"},
                           mode="paper") == ("rejection", "paper: order refused: 25 X", "margin")
    assert alert_for_event("order_update", {"status": "REJECTED", "transaction_type": "BUY", "quantity": 25,
                                            "tradingsymbol": "X", "status_message": "RMS"}, mode="live")[0] == \
        "rejection"
    kind, title, text = alert_for_event("risk", {"event": "daily_loss_breached", "day_pnl": -51000.0}, mode="live")
    assert kind == "risk" and "daily_loss_breached" in title and "day_pnl -51000.0" in text
    assert alert_for_event("kill_switch", {"action": "release"}, mode="live") is None


def test_engine_sink_is_untouched_without_channels(home):
    def emit(kind, payload):
        return None

    assert alerting_sink(load_config(None, None), emit, mode="paper", now=lambda: NOW) is emit


def test_unit_failure_alert_goes_to_the_channels(loaded, api, run_cli, tmp_path, monkeypatch):
    fake = tmp_path / "fakebin" / "journalctl"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'feed: stalled'\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    code, out, err = run_cli("systemd", "alert", "tradesig-feed.service", "--outbox", str(tmp_path / "ob"))
    assert code == 0 and "sent via webhook" in out and "sent via telegram" in out
    assert list((tmp_path / "ob").glob("alert-*-tradesig-feed.eml"))  # mail still queued
    (msg,) = api.messages
    assert "tradesig-feed.service failed" in msg["text"] and "feed: stalled" in msg["text"]


def test_preflight_alert_names_the_failing_checks(loaded, api, run_cli, monkeypatch):
    import tradesig.preflight as preflight

    checks = [preflight.Check("token", "ok", "fine"),
              preflight.Check("backup", "fail", "no backup in /x", "tradesig backup create")]
    monkeypatch.setattr(preflight, "run_preflight", lambda *a, **k: checks)
    code, out, err = run_cli("preflight", "--alert")
    assert code == 1
    (hook,) = api.hooks
    assert hook["kind"] == "preflight" and "preflight failed: backup" in hook["text"]
    assert "no backup in /x (tradesig backup create)" in hook["message"]


def test_config_refuses_a_literal_bot_token(tmp_path, home, monkeypatch):
    from tradesig.config import ConfigError

    cfg = tmp_path / "c.toml"
    cfg.write_text('[alerts]\ntelegram_bot_token = "123:literal"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(cfg), None)
    assert "alerts.telegram_bot_token" in str(info.value.problems or info.value)


def test_secrets_file_holds_the_token(tmp_path, api, home, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'telegram_bot_token = "{TOKEN}"\n', encoding="utf-8")
    secrets.chmod(0o600)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[secrets]\nfile = "{secrets}"\n[alerts]\ntelegram_bot_token = "secret:telegram_bot_token"\n'
                   f'telegram_chat_id = "{CHAT}"\ntelegram_api = "{api.url}"\n', encoding="utf-8")
    assert send_alert(load_config(str(cfg), None), "t", "x", kind="risk", now=NOW) == {"telegram": True}
    assert Path(cfg).exists() and len(api.messages) == 1

"""Alerts where people look: a generic webhook and a Telegram bot, besides mail (the outbox, tradesig.systemd).

Channels (config section ``[alerts]``; an empty setting turns its channel off):

- **webhook**: ``POST webhook_url`` with a JSON body carrying the message under the keys each service reads —
  ``text`` (Slack incoming webhooks, Mattermost, Discord's ``/slack`` endpoint), ``content`` (Discord webhooks),
  ``topic``/``title``/``message`` (ntfy's JSON publishing: post to the server root with ``webhook_topic`` set) —
  plus ``kind``, ``host`` and ``ts`` (ISO 8601 UTC) for scripts.
- **telegram**: the Bot API's ``sendMessage`` (``POST {telegram_api}/bot<token>/sendMessage`` with JSON
  ``{"chat_id", "text"}``, https://core.telegram.org/bots/api#sendmessage). The bot token is a secret
  (``telegram_bot_token = "secret:telegram_bot_token"``: env ``TRADESIG_TELEGRAM_BOT_TOKEN``, a systemd credential
  or the 0600 secrets file); the chat id is plain config. The token is never logged (it is part of the URL, so
  neither is the URL).

Delivery never blocks trading: :class:`AlertDispatcher` posts from one background thread with a per-attempt
``timeout_seconds``, retries a failed post ``retries`` times in all with doubling pauses, logs each failure (never
raises), and drops the oldest queued alert (logged) when :data:`QUEUE_LIMIT` are waiting. Commands that alert once
and exit (the ``OnFailure=`` handler, ``preflight --alert``) use :func:`send_alert`, which waits for the attempts.

The engine's hook is :func:`alerting_sink`: it wraps the events-log sink, so fills, rejections, risk actions and
the kill switch also become alerts (:func:`alert_for_event`).
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tradesig.clock import IST
from tradesig.config import LoadedConfig
from tradesig.errors import ConfigError

log = logging.getLogger(__name__)

QUEUE_LIMIT = 200


@dataclass(frozen=True)
class Alert:
    """One alert: ``title`` (one line), ``text`` (body), ``kind`` (unit_failed, preflight, fill, rejection, risk,
    kill_switch), ``host`` and ``ts`` (aware; shown in IST, sent as UTC ISO)."""

    title: str
    text: str
    kind: str
    host: str
    ts: datetime

    def line(self) -> str:
        return f"[tradesig {self.host}] {self.title}\n{self.text}".rstrip()


@dataclass(frozen=True)
class Channel:
    """A configured destination: ``name`` (webhook, telegram) and how to build its HTTP request body."""

    name: str
    url: str
    build: Callable[[Alert], dict[str, Any]]


def webhook_body(alert: Alert, topic: str = "") -> dict[str, Any]:
    """The generic webhook's JSON document (keys in the module docstring)."""
    body = {"text": alert.line(), "content": alert.line()[:2000], "title": f"tradesig {alert.host}: {alert.title}",
            "message": alert.text or alert.title, "kind": alert.kind, "host": alert.host,
            "ts": alert.ts.astimezone(UTC).isoformat()}
    if topic:
        body["topic"] = topic
    return body


def telegram_body(alert: Alert, chat_id: str) -> dict[str, Any]:
    """``sendMessage`` parameters: plain text (no parse mode, so nothing needs escaping), at most 4096 characters."""
    return {"chat_id": chat_id, "text": alert.line()[:4096], "disable_web_page_preview": True}


def channels(loaded: LoadedConfig) -> list[Channel]:
    """The channels ``[alerts]`` configures. A Telegram token that cannot be resolved is logged (never its value)
    and that channel left out; raises nothing."""
    from tradesig.config import resolve_secret

    cfg = loaded.settings.alerts
    out = []
    if cfg.webhook_url:
        out.append(Channel("webhook", cfg.webhook_url, lambda a, topic=cfg.webhook_topic: webhook_body(a, topic)))
    if cfg.telegram_chat_id and cfg.telegram_bot_token:
        try:
            token = resolve_secret(loaded, cfg.telegram_bot_token)
        except ConfigError as exc:
            log.error("telegram alerts off: %s", exc)
        else:
            url = f"{cfg.telegram_api.rstrip('/')}/bot{token}/sendMessage"
            out.append(Channel("telegram", url, lambda a, chat=cfg.telegram_chat_id: telegram_body(a, chat)))
    return out


def post_json(url: str, body: dict[str, Any], timeout: float) -> None:
    """POST ``body`` as JSON; raises ``OSError`` (``urllib.error.URLError``/``HTTPError``) on failure, including a
    Telegram answer with ``"ok": false``."""
    req = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "tradesig-alerts"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    if raw[:1] == b"{":
        try:
            doc = json.loads(raw)
        except ValueError:
            return
        if doc.get("ok") is False:
            raise OSError(f"refused: {doc.get('description', 'ok=false')}")


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"  # str(HTTPError) is safe too, but keep it short; the URL is never shown
    return str(getattr(exc, "reason", exc))


class AlertDispatcher:
    """Posts alerts to ``channels`` without blocking the caller (see the module docstring).

    ``submit(alert)`` queues and returns at once; ``deliver(alert)`` posts now (bounded by ``retries`` ×
    ``timeout``) and returns ``{channel name: delivered}``; ``close(wait)`` stops the worker after the queue
    drains or ``wait`` seconds. ``post``/``pause`` are injectable (tests: a loopback server, no real pauses)."""

    def __init__(self, channels: list[Channel], *, timeout: float = 5.0, retries: int = 3, backoff: float = 1.0,
                 post: Callable[[str, dict, float], None] = post_json,
                 pause: Callable[[float], None] = time.sleep) -> None:
        self.channels = channels
        self.timeout, self.retries, self.backoff = timeout, max(1, retries), backoff
        self._post, self._pause = post, pause
        self._queue: collections.deque[Alert] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.failures = 0

    def deliver(self, alert: Alert) -> dict[str, bool]:
        results = {}
        for channel in self.channels:
            results[channel.name] = False
            for attempt in range(1, self.retries + 1):
                try:
                    self._post(channel.url, channel.build(alert), self.timeout)
                except (OSError, ValueError) as exc:
                    log.warning("alert %r via %s failed (attempt %d of %d): %s", alert.title, channel.name,
                                attempt, self.retries, _why(exc))
                    if attempt < self.retries:
                        self._pause(self.backoff * 2 ** (attempt - 1))
                    continue
                results[channel.name] = True
                break
            if not results[channel.name]:
                self.failures += 1
                log.error("alert %r not delivered via %s after %d attempts", alert.title, channel.name, self.retries)
        return results

    def submit(self, alert: Alert) -> None:
        if not self.channels:
            return
        with self._cond:
            if len(self._queue) >= QUEUE_LIMIT:
                dropped = self._queue.popleft()
                log.error("alert queue full: dropped %r", dropped.title)
            self._queue.append(alert)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="tradesig-alerts", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                if not self._queue:
                    self._busy = False
                    self._cond.notify_all()
                    return
                alert = self._queue.popleft()
                self._busy = True
            self.deliver(alert)

    def flush(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds for the queue to drain; True when it did."""
        deadline = time.monotonic() + wait
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, wait: float = 10.0) -> None:
        self.flush(wait)
        with self._cond:
            self._closing = True
            self._cond.notify_all()


def dispatcher(loaded: LoadedConfig, **kwargs: Any) -> AlertDispatcher:
    """An :class:`AlertDispatcher` over :func:`channels` with ``[alerts]``'s timeout and retries."""
    cfg = loaded.settings.alerts
    return AlertDispatcher(channels(loaded), timeout=cfg.timeout_seconds, retries=cfg.retries, **kwargs)


def send_alert(loaded: LoadedConfig, title: str, text: str, *, kind: str, now: datetime,
               host: str | None = None, **kwargs: Any) -> dict[str, bool]:
    """Post one alert to every configured channel now (bounded retries); ``{channel: delivered}`` (empty when
    none is configured). Never raises for a delivery failure (logged)."""
    alert = Alert(title, text, kind, host or socket.gethostname(), now)
    return dispatcher(loaded, **kwargs).deliver(alert)


# ------------------------------------------------------------------------------------------------ the engine


def alert_for_event(kind: str, payload: dict[str, Any], *, mode: str) -> tuple[str, str, str] | None:
    """``(alert kind, title, text)`` for an engine event worth telling a person about, else None: a fill
    (``order_update`` COMPLETE), a rejection (``order_rejected``, or ``order_update`` REJECTED), a risk action
    (``risk``), the kill switch engaged (``kill_switch`` action engage). Quantities in units, prices in rupees."""
    if kind == "order_update" and payload.get("status") == "COMPLETE":
        return ("fill", f"{mode}: filled {payload.get('transaction_type')} {payload.get('filled_quantity')} "
                        f"{payload.get('tradingsymbol')} @ {float(payload.get('average_price') or 0):.2f}",
                f"order {payload.get('order_id')} ({payload.get('tag')})")
    if kind == "order_update" and payload.get("status") == "REJECTED":
        return ("rejection", f"{mode}: order REJECTED {payload.get('transaction_type')} {payload.get('quantity')} "
                             f"{payload.get('tradingsymbol')}", str(payload.get("status_message") or ""))
    if kind == "order_rejected":
        what = "broker unreachable" if payload.get("unreachable") else "order refused"
        return ("rejection", f"{mode}: {what}: {payload.get('quantity')} {payload.get('tradingsymbol')}",
                str(payload.get("message") or ""))
    if kind == "risk":
        detail = ", ".join(f"{k} {v}" for k, v in payload.items() if k != "event")
        return ("risk", f"{mode}: risk action: {payload.get('event')}", detail)
    if kind == "kill_switch" and payload.get("action") == "engage":
        return ("kill_switch", f"{mode}: KILL SWITCH engaged", str(payload.get("reason") or ""))
    return None


def alerting_sink(loaded: LoadedConfig, emit: Callable[[str, dict[str, Any]], None], *, mode: str,
                  now: Callable[[], datetime]) -> Callable[[str, dict[str, Any]], None]:
    """The engine's hook: ``emit`` (the events-log sink) that also queues an alert for the events
    :func:`alert_for_event` selects. Returns ``emit`` itself when no channel is configured. The event is logged
    first; the alert is posted in the background (never blocks, never raises into the engine). The returned
    function's ``dispatcher`` attribute is its :class:`AlertDispatcher` (flushed at interpreter exit, 5 s at most).
    """
    sender = dispatcher(loaded)
    if not sender.channels:
        return emit
    host = socket.gethostname()
    atexit.register(sender.close, 5.0)

    def emit_and_alert(kind: str, payload: dict[str, Any]) -> None:
        emit(kind, payload)
        found = alert_for_event(kind, payload, mode=mode)
        if found is not None:
            sender.submit(Alert(found[1], found[2], found[0], host, now()))

    emit_and_alert.dispatcher = sender  # type: ignore[attr-defined]  # for flushing at shutdown and in tests
    return emit_and_alert


def ist_stamp(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")


__all__ = ["Alert", "Channel", "AlertDispatcher", "channels", "dispatcher", "send_alert", "alert_for_event",
           "alerting_sink", "webhook_body", "telegram_body", "post_json", "QUEUE_LIMIT"]

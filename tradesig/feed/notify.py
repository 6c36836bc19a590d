"""systemd ``sd_notify`` over ``$NOTIFY_SOCKET``, in a few lines and no dependency.

Protocol (``man sd_notify``): one datagram per call on the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a leading
``@`` means the Linux abstract namespace), newline-separated ``KEY=VALUE`` assignments: ``READY=1`` once the service
is up, ``WATCHDOG=1`` at least every ``$WATCHDOG_USEC / 2`` microseconds, ``STATUS=…`` a one-line status,
``STOPPING=1`` on shutdown. Without ``$NOTIFY_SOCKET`` every call is a no-op (not under systemd).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages. ``env`` defaults to ``os.environ``; ``enabled`` is False without a socket."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_seconds: float | None = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None
        self._sock: socket.socket | None = None
        self.sent: list[str] = []  # what was sent (for tests and /health); last 20 kept

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` lines (keys upper-cased: ``notify(ready=1, status="…")``); False if not sent.

        Errors (socket gone) are logged once per call and never raised: the feed must not die for systemd.
        """
        if not self.address:
            return False
        message = "\n".join(f"{k.upper()}={str(v).replace(chr(10), ' ')}" for k, v in fields.items())
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the feed on systemd: a full notify queue drops this datagram (BlockingIOError).
            self._sock.sendto(message.encode(), socket.MSG_DONTWAIT, address)
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        self.sent = (self.sent + [message])[-20:]
        return True

    def ready(self, status: str) -> bool:
        return self.notify(ready=1, status=status)

    def watchdog(self) -> bool:
        return self.notify(watchdog=1)

    def status(self, text: str) -> bool:
        return self.notify(status=text)

    def stopping(self) -> bool:
        return self.notify(stopping=1)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

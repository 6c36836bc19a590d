"""sd_notify over $NOTIFY_SOCKET: datagrams as systemd expects, abstract and path sockets, no-op without one."""

from __future__ import annotations

import os
import socket

from tradesig.feed.notify import Notifier


def test_noop_without_socket():
    n = Notifier(env={})
    assert not n.enabled and not n.ready("x") and n.watchdog_seconds is None


def test_datagrams_to_a_path_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
        assert n.watchdog_seconds == 30.0
        assert n.ready("ticks/s 12.0\nphase OPEN")
        assert n.watchdog()
        assert server.recv(1024) == b"READY=1\nSTATUS=ticks/s 12.0 phase OPEN"
        assert server.recv(1024) == b"WATCHDOG=1"
        n.close()
    finally:
        server.close()


def test_abstract_namespace_socket():
    name = f"tradesig-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    try:
        n = Notifier(env={"NOTIFY_SOCKET": "@" + name})
        assert n.stopping()
        assert server.recv(1024) == b"STOPPING=1"
    finally:
        server.close()


def test_missing_socket_is_logged_not_raised(tmp_path):
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.status("x") is False

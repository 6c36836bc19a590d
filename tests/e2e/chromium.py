"""Drive Debian's headless Chromium over the DevTools protocol (CDP) with the `websockets` client: no browser
download, no extra dependency. Used by the browser test of the hub page."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one page; ``evaluate`` runs JavaScript in it and returns the value."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self._profile = Path(tempfile.mkdtemp(prefix="tradesig-chromium-"))
        self._proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", url],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        ws_url = None
        while ws_url is None:
            pages = [p for p in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                     if p.get("type") == "page"]
            if pages:
                ws_url = pages[0]["webSocketDebuggerUrl"]
            elif time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium opened no page")
            else:
                time.sleep(0.1)
        from websockets.sync.client import connect

        self._ws = connect(ws_url, max_size=None).__enter__()
        self._next_id = 0

    def evaluate(self, expression: str):
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": "Runtime.evaluate",
                                  "params": {"expression": expression, "returnByValue": True}}))
        while True:
            msg = json.loads(self._ws.recv(timeout=10))
            if msg.get("id") == self._next_id:
                result = msg.get("result", {})
                if "exceptionDetails" in result:
                    raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
                return result.get("result", {}).get("value")

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for(browser: Browser, expression: str, timeout: float = 20.0, interval: float = 0.2):
    """Evaluate ``expression`` until it returns a truthy value (page errors count as "not yet"); return the value.
    Raises ``AssertionError`` naming the expression after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = browser.evaluate(expression)
            if value:
                return value
        except RuntimeError as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"page never satisfied {expression!r} within {timeout}s ({last_error})")

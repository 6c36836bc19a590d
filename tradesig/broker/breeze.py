"""ICICI Breeze sessions through the official ``breeze_connect`` client, with its import-time side effects contained.

``import breeze_connect`` (1.0.x) downloads ICICI's SecurityMaster.zip with ``urlopen`` at import time, creates
``./logs`` in the current directory with two DEBUG file loggers, and puts its own directory on ``sys.path``.
:func:`import_breeze` imports it only when a Breeze command runs, with the working directory set to
``<data home>/logs/breeze`` (so its log files land there, not wherever the command was started), and stops its
loggers propagating to ours (they log API responses). Tests patch ``urllib.request.urlopen`` and ``requests.get``
before the import: no test touches the network.

Session rule (source in :mod:`tradesig.broker.tokens`): a Breeze session key is valid until midnight IST.
The stored "access token" of a Breeze :class:`~tradesig.broker.tokens.TokenRecord` is the API session key from the
login redirect (``API_Session``), which is what ``BreezeConnect.generate_session`` takes each time a process starts.
"""

from __future__ import annotations

import logging
import os
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from tradesig.broker.tokens import TokenRecord, breeze_expiry, scrub
from tradesig.clock import Clock
from tradesig.errors import BrokerError, ConfigError, TokenError, TradesigError

log = logging.getLogger(__name__)

BREEZE_LOGIN_URL = "https://api.icicidirect.com/apiuser/login"
BREEZE_ROOT = "https://api.icicidirect.com/breezeapi/api/v1/"

# breeze_connect's own messages for a bad or expired session key / app key (its config.ExceptionMessage).
_TOKEN_MESSAGES = ("Please check session key", "Session key is expired", "Invalid session",
                   "Resource not available")
_KEY_MESSAGES = ("Please check api key", "Public Key does not exist")


def breeze_login_url(api_key: str) -> str:
    """The ICICI login page for ``api_key`` (the key URL-encoded, as ICICI's docs require)."""
    return f"{BREEZE_LOGIN_URL}?{urlencode({'api_key': api_key})}"


def import_breeze(log_dir: Path) -> ModuleType:
    """Import ``breeze_connect`` (once per process) with its ``./logs`` created under ``log_dir``.

    Raises :class:`BrokerError` (exit 3) when its import-time download of the security master fails. Changes the
    process working directory for the duration of the import (CLI use only, single-threaded at that point).
    """
    if "breeze_connect" in sys.modules:
        return sys.modules["breeze_connect"]
    log_dir.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(log_dir)
    try:
        import breeze_connect
    except (OSError, zipfile.BadZipFile) as exc:
        for name in [m for m in sys.modules if m.startswith("breeze_connect")]:
            del sys.modules[name]
        raise BrokerError(f"cannot load breeze_connect: its import downloads ICICI's security master and that "
                          f"failed ({type(exc).__name__}: {exc})", "check the network to icicidirect.com") from None
    finally:
        os.chdir(cwd)
    for name in ("APILogger", "WebsocketLogger"):
        logging.getLogger(name).propagate = False
    return breeze_connect


def _classify(exc: BaseException, secrets: tuple[str, ...]) -> TradesigError:
    """breeze_connect raises bare ``Exception`` with text for everything; sort it by message and cause chain."""
    import requests

    message = scrub(str(exc), secrets)
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(e, (requests.ConnectionError, requests.Timeout, OSError)) for e in chain):
        return BrokerError("cannot reach ICICI Breeze: connection failed", "check the network")
    if any(m in message for m in _TOKEN_MESSAGES):
        return TokenError(f"Breeze rejected the session key: {message}", "run 'tradesig login --broker breeze'")
    if any(m in message for m in _KEY_MESSAGES):
        return ConfigError(f"Breeze rejected the API key: {message}", "check breeze.api_key")
    return BrokerError(f"Breeze failed: {message}")


def _client(api_key: str, home: Path) -> Any:
    return import_breeze(home / "logs" / "breeze").BreezeConnect(api_key=api_key)


def breeze_session(api_key: str, api_secret: str, session_token: str, *, home: Path, clock: Clock) -> TokenRecord:
    """Exchange a Breeze API session key via ``BreezeConnect.generate_session`` and build the record to store.

    ``login_time`` is ``clock.now()`` (UTC); ``expires_at`` midnight IST (:func:`breeze_expiry`). ``user_id`` is
    the one ICICI returns; ``user_name`` comes from ``get_customer_details`` ("" when it does not say).
    Raises TokenError (bad/expired session key, exit 1), ConfigError (bad API key, exit 2), BrokerError
    (unreachable or failed, exit 3); messages never contain the key or secret.
    """
    client = _client(api_key, home)
    secrets = (session_token, api_secret)
    try:
        client.generate_session(api_secret=api_secret, session_token=session_token)
        details = client.get_customer_details(api_session=session_token) or {}
    except Exception as exc:  # breeze_connect raises only bare Exception; _classify sorts it
        raise _classify(exc, secrets) from None
    success = details.get("Success") if isinstance(details, dict) else None
    user_name = str(success.get("idirect_user_name") or "") if isinstance(success, dict) else ""
    now = clock.now()
    log.info("breeze session created for %s", client.user_id)
    return TokenRecord(broker="breeze", api_key=api_key, access_token=session_token,
                       user_id=str(client.user_id or ""), user_name=user_name, login_time=now,
                       expires_at=breeze_expiry(now), root=BREEZE_ROOT)


def verify_breeze(record: TokenRecord, api_secret: str, *, home: Path) -> dict[str, str]:
    """Ask ICICI whether the stored session key is accepted (one ``customerdetails`` request, no security-master
    download). Returns {"user_id": …}. Raises TokenError / ConfigError / BrokerError as :func:`breeze_session`."""
    client = _client(record.api_key, home)
    client.session_key = record.access_token
    client.secret_key = api_secret
    try:
        client.api_util()
    except Exception as exc:  # breeze_connect raises only bare Exception; _classify sorts it
        raise _classify(exc, (record.access_token, api_secret)) from None
    return {"user_id": str(client.user_id or record.user_id), "user_name": record.user_name}


__all__ = ["BREEZE_LOGIN_URL", "breeze_login_url", "import_breeze", "breeze_session", "verify_breeze"]

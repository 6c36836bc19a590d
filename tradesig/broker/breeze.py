"""ICICI Breeze sessions through the official ``breeze_connect`` client: one small adapter that redirects its
endpoints and contains its import-time side effects.

What ``import breeze_connect`` (1.0.x) does, and what :func:`import_breeze` does about it:

* it puts its own directory on ``sys.path`` and runs ``import config``: its endpoint constants (``API_URL``,
  ``BREEZE_NEW_URL``, ``LIVE_STREAM_URL``, ``LIVE_OHLC_STREAM_URL``, ``LIVE_FEEDS_URL``, ``SECURITY_MASTER_URL``)
  live in that *top-level* module ``config``, read at call time. The adapter loads that file as
  ``sys.modules["config"]`` itself (also registered as ``breeze_connect.config``) before importing the package, so
  the package binds to the module the adapter controls; :func:`point_endpoints` then sets the constants — every
  one of them under ``root`` when a root is configured (``breeze.root``, ``--sim-url``; ``tradesig sim`` serves
  all of Breeze on one port), ICICI's own values otherwise. Nothing else of the client is patched.
* it downloads ICICI's SecurityMaster.zip with ``urlopen`` at import (the result is unused: ``generate_session``
  downloads it again). During the import the URL is a ``data:`` URL of an empty zip, so importing touches no
  network; the session's own download then goes to the configured root (or ICICI).
* it creates ``./logs`` with two DEBUG file loggers: the import runs with the working directory set to
  ``<data home>/logs/breeze`` and those loggers stop propagating to ours (they log API responses).

A process holds one ``breeze_connect``: its endpoints follow the last :func:`import_breeze` call (the feed and the
login each use one root). A foreign top-level ``config`` module already imported is refused (BrokerError) rather
than silently handed to breeze_connect.

Session rule (source in :mod:`tradesig.broker.tokens`): a Breeze session key is valid until midnight IST.
The stored "access token" of a Breeze :class:`~tradesig.broker.tokens.TokenRecord` is the API session key from the
login redirect (``API_Session``), which is what ``BreezeConnect.generate_session`` takes each time a process starts.
"""

from __future__ import annotations

import base64
import importlib.util
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


#: breeze_connect's endpoint constants → their path under a configured root (one host serves them all).
ROOT_PATHS = {"API_URL": "/breezeapi/api/v1/", "BREEZE_NEW_URL": "/api/v2/", "LIVE_STREAM_URL": "",
              "LIVE_OHLC_STREAM_URL": "", "LIVE_FEEDS_URL": "",
              "SECURITY_MASTER_URL": "/MotherAppMaster/SecurityMaster.zip"}
#: An empty zip as a data: URL: what the import-time download reads instead of ICICI's file.
EMPTY_ZIP_URL = "data:application/zip;base64," + base64.b64encode(b"PK\x05\x06" + bytes(18)).decode("ascii")
_official: dict[str, str] = {}


def endpoints(root: str | None) -> dict[str, str]:
    """The endpoint constants for ``root`` (``http://host:port``; None or "": ICICI's own, as breeze_connect ships
    them). Pure, except that ICICI's values are read from the loaded ``config`` module."""
    if not root:
        return dict(_official)
    base = root.rstrip("/")
    return {name: base + path for name, path in ROOT_PATHS.items()}


def _package_dir() -> Path:
    """breeze_connect's package directory (its own ``sys.path`` entry can make ``breeze_connect`` resolve to the
    module file ``breeze_connect/breeze_connect.py`` after a first import: both cases give the directory)."""
    spec = importlib.util.find_spec("breeze_connect")
    if spec is None:
        raise BrokerError("breeze_connect is not installed", "pip install breeze-connect")
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin or "").parent


def _load_config() -> ModuleType:
    """breeze_connect's ``config.py`` as the top-level module ``config`` (what its ``import config`` finds)."""
    path = _package_dir() / "config.py"
    loaded = sys.modules.get("config")
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
            return loaded
        raise BrokerError(f"a module named 'config' ({getattr(loaded, '__file__', '?')}) is already imported: "
                          "breeze_connect imports its own constants under that name",
                          "run the Breeze command in a process without another top-level 'config' module")
    cfg_spec = importlib.util.spec_from_file_location("config", path)
    assert cfg_spec is not None and cfg_spec.loader is not None
    module = importlib.util.module_from_spec(cfg_spec)
    sys.modules["config"] = module
    cfg_spec.loader.exec_module(module)
    return module


def point_endpoints(root: str | None) -> dict[str, str]:
    """Set breeze_connect's endpoint constants for ``root`` (see :func:`endpoints`); returns them.
    Call after :func:`import_breeze` (which calls it)."""
    cfg = _load_config()
    values = endpoints(root)
    for name, value in values.items():
        setattr(cfg, name, value)
    return values


def import_breeze(log_dir: Path, root: str | None = None) -> ModuleType:
    """Import ``breeze_connect`` (once per process) with its ``./logs`` under ``log_dir``, its import-time download
    reading an empty in-memory zip, and its endpoints pointed at ``root`` (None: ICICI's).

    Raises :class:`BrokerError` (exit 3) when it cannot be imported. Changes the process working directory for
    the duration of the first import (CLI use only, single-threaded at that point).
    """
    if "breeze_connect.breeze_connect" not in sys.modules:
        cfg = _load_config()
        if not _official:
            _official.update({name: getattr(cfg, name) for name in ROOT_PATHS})
        sys.modules["breeze_connect.config"] = cfg
        pkg_dir = str(_package_dir())
        while pkg_dir in sys.path:  # left by an earlier import that was unloaded (tests): the package must win
            sys.path.remove(pkg_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        cwd = os.getcwd()
        os.chdir(log_dir)
        cfg.SECURITY_MASTER_URL = EMPTY_ZIP_URL
        try:
            import breeze_connect.breeze_connect  # noqa: F401 - binds its module-level `config` to ours
        except (OSError, zipfile.BadZipFile) as exc:
            for name in [m for m in sys.modules if m.startswith("breeze_connect")]:
                del sys.modules[name]
            raise BrokerError(f"cannot load breeze_connect ({type(exc).__name__}: {exc})") from None
        finally:
            os.chdir(cwd)
            cfg.SECURITY_MASTER_URL = _official["SECURITY_MASTER_URL"]
        for name in ("APILogger", "WebsocketLogger"):
            logging.getLogger(name).propagate = False
    point_endpoints(root)
    return sys.modules["breeze_connect"]


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


def _client(api_key: str, home: Path, root: str | None) -> Any:
    return import_breeze(home / "logs" / "breeze", root).BreezeConnect(api_key=api_key)


def breeze_session(api_key: str, api_secret: str, session_token: str, *, home: Path, clock: Clock,
                   root: str | None = None) -> TokenRecord:
    """Exchange a Breeze API session key via ``BreezeConnect.generate_session`` and build the record to store.

    ``root``: where every Breeze endpoint is served (``breeze.root``, ``--sim-url``); None: ICICI's hosts.
    ``login_time`` is ``clock.now()`` (UTC); ``expires_at`` midnight IST (:func:`breeze_expiry`). ``user_id`` is
    the one ICICI returns; ``user_name`` comes from ``get_customer_details`` ("" when it does not say).
    Raises TokenError (bad/expired session key, exit 1), ConfigError (bad API key, exit 2), BrokerError
    (unreachable or failed, exit 3); messages never contain the key or secret.
    """
    client = _client(api_key, home, root)
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
                       expires_at=breeze_expiry(now), root=root or BREEZE_ROOT)


def verify_breeze(record: TokenRecord, api_secret: str, *, home: Path, root: str | None = None) -> dict[str, str]:
    """Ask ICICI whether the stored session key is accepted (one ``customerdetails`` request, no security-master
    download) at ``root``, else the record's root. Returns {"user_id": …}. Raises TokenError / ConfigError /
    BrokerError as :func:`breeze_session`."""
    root = root or record.root
    root = root if root and root != BREEZE_ROOT else None
    client = _client(record.api_key, home, root)
    client.session_key = record.access_token
    client.secret_key = api_secret
    try:
        client.api_util()
    except Exception as exc:  # breeze_connect raises only bare Exception; _classify sorts it
        raise _classify(exc, (record.access_token, api_secret)) from None
    return {"user_id": str(client.user_id or record.user_id), "user_name": record.user_name}


__all__ = ["BREEZE_LOGIN_URL", "BREEZE_ROOT", "EMPTY_ZIP_URL", "ROOT_PATHS", "breeze_login_url", "breeze_session",
           "endpoints", "import_breeze", "point_endpoints", "verify_breeze"]

"""Settings: one typed schema that loads, validates (collecting *every* problem) and writes the default file.

Where the config file is: ``--config PATH``, else ``$TRADESIG_CONFIG``, else
``$XDG_CONFIG_HOME/tradesig/config.toml`` (``~/.config/tradesig/config.toml``). A missing file means "all
defaults" for commands that need no credentials.

Where the data lives (the *data home*): ``--home``, else ``paths.home`` in the config, else ``$TRADESIG_HOME``,
else ``$STATE_DIRECTORY`` (systemd ``StateDirectory=``), else ``$XDG_DATA_HOME/tradesig``
(``~/.local/share/tradesig``).

Secrets are never literal values in the config. A secret field holds a reference ``secret:NAME``, resolved in
this order:

1. the environment variable ``TRADESIG_<NAME>`` upper-cased (``secret:kite_api_secret`` → ``TRADESIG_KITE_API_SECRET``);
2. the file ``$CREDENTIALS_DIRECTORY/NAME`` (systemd ``LoadCredential=NAME:...``);
3. the key ``NAME`` of the secrets file (``secrets.file``, TOML), which must not be readable by group or others
   (refused as ssh refuses a private key with loose permissions).

The schema below is the reference: ``docs/configuration.md`` and ``config init`` are generated from it
(:mod:`tradesig.config_render`); each field carries its check (:mod:`tradesig.config_checks`).
"""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradesig.config_checks import (
    Check,
    above,
    between,
    each,
    hhmm,
    host_port,
    iso_date,
    market_protection,
    one_of,
    optional,
    secret_reference,
    url,
)
from tradesig.datahome import home_problem, require_writable_home
from tradesig.errors import ConfigError

SECRET_PREFIX = "secret:"
PLACEHOLDER_PREFIX = "YOUR_"


def _f(default: Any, doc: str, *, check: Check | None = None, secret: bool = False, factory: bool = False) -> Any:
    """A settings field: default, one-line doc and the :class:`~tradesig.config_checks.Check` it must pass
    (printed in docs/configuration.md). A secret field always carries :func:`secret_reference`."""
    meta = {"doc": doc, "secret": secret, "check": secret_reference() if secret else check}
    if factory:
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def _index_names() -> list[str]:
    from tradesig.market import INDICES

    return list(INDICES)


_HTTP = url("http", "https")
_MINUTES_A_DAY = 24 * 60
_PCT = between(0, 100)


@dataclass(frozen=True)
class PathsSettings:
    home: str = _f("", "data home; empty: $TRADESIG_HOME, $STATE_DIRECTORY, then $XDG_DATA_HOME/tradesig")


@dataclass(frozen=True)
class KiteSettings:
    api_key: str = _f("YOUR_KITE_API_KEY", "Kite Connect API key (public, from developers.kite.trade)")
    api_secret: str = _f("secret:kite_api_secret", "reference to the Kite API secret", secret=True)
    root: str = _f("https://api.kite.trade", "REST root (env TRADESIG_KITE_ROOT); point at `tradesig sim`",
                   check=_HTTP)
    ws_root: str = _f("wss://ws.kite.trade", "ticker WebSocket root (env TRADESIG_KITE_WS_ROOT)",
                      check=url("ws", "wss"))
    login_url: str = _f("https://kite.zerodha.com/connect/login", "login page; the sim serves /connect/login",
                        check=_HTTP)
    redirect_url: str = _f("http://127.0.0.1:5005/callback", "redirect URL registered for the app (loopback)",
                           check=_HTTP)
    timeout_seconds: float = _f(7.0, "REST request timeout, seconds", check=above(0, 300))


@dataclass(frozen=True)
class BreezeSettings:
    enabled: bool = _f(False, "use ICICI Breeze as a second data source")
    api_key: str = _f("YOUR_BREEZE_API_KEY", "Breeze API key")
    api_secret: str = _f("secret:breeze_api_secret", "reference to the Breeze secret key", secret=True)
    root: str = _f("", "one root for every Breeze endpoint (env TRADESIG_BREEZE_ROOT), e.g. `tradesig sim`'s "
                   "Breeze port; empty: ICICI's own hosts", check=optional(_HTTP))


@dataclass(frozen=True)
class SecretsSettings:
    file: str = _f("", "secrets file (TOML name = \"value\"), mode 0600; empty: <config dir>/secrets.toml if present")


@dataclass(frozen=True)
class SessionSettings:
    """NSE/BSE session phases, IST (NSE circular on pre-open, NSE/CMTR/ 2010 and later); in this order."""

    pre_open: str = _f("09:00", "pre-open order entry starts", check=hhmm())
    pre_open_match: str = _f("09:08", "pre-open order matching starts", check=hhmm())
    open: str = _f("09:15", "continuous trading starts", check=hhmm())
    close: str = _f("15:30", "continuous trading ends", check=hhmm())
    closing_end: str = _f("15:40", "closing session ends", check=hhmm())
    post_close_end: str = _f("16:00", "post-close session ends", check=hhmm())


@dataclass(frozen=True)
class InstrumentSettings:
    """Per-index contract facts that change by circular (lot size is read from the instruments dump)."""

    strike_step: int = _f(50, "option strike step, index points", check=between(1, 10_000))
    freeze_quantity: int = _f(1800, "freeze quantity, units (not lots): NSE/BSE circulars",
                              check=between(1, 1_000_000))


def _default_instruments() -> dict[str, InstrumentSettings]:
    return {
        "NIFTY": InstrumentSettings(50, 1800),
        "BANKNIFTY": InstrumentSettings(100, 600),
        "SENSEX": InstrumentSettings(100, 1000),
    }


@dataclass(frozen=True)
class FeedSettings:
    symbols: list[str] = _f(lambda: ["NIFTY", "BANKNIFTY", "SENSEX"], "indices to stream", factory=True,
                            check=each(one_of(_index_names, "index")))
    chain_strikes: int = _f(10, "option-chain strikes each side of spot subscribed for OI/PCR (0: none, as "
                            "`feed --chain-strikes 0`)", check=between(0, 100))
    until: str = _f("15:35", "stop streaming at this IST time", check=hhmm())
    stall_seconds: float = _f(15.0, "no market data for this long in market hours: reconnect", check=above(0, 3600))
    backoff_cap_seconds: float = _f(30.0, "cap of the exponential reconnect backoff, seconds", check=above(0, 3600))
    poll_after_seconds: float = _f(10.0, "WebSocket down for this long: poll /quote (1 request/s)",
                                   check=between(0, 3600))
    token_reload_seconds: float = _f(1.0, "how often the token file is checked for a new token, seconds",
                                     check=above(0, 3600))


@dataclass(frozen=True)
class HubSettings:
    listen: str = _f("127.0.0.1:8765", "viewer hub address; non-loopback needs token_file", check=host_port())
    token_file: str = _f("", "file holding the token viewers must present (required off loopback)")
    client_queue: int = _f(1000, "messages queued per viewer before coalescing; twice that drops the viewer",
                           check=between(1, 1_000_000))


@dataclass(frozen=True)
class StrategySettings:
    """S1–S8 option-selling rules, shared/SIGNALS.md "From signal to trade"."""

    enabled: list[str] = _f(lambda: [f"S{i}" for i in range(1, 9)], "weekly-zone signals that trade", factory=True,
                            check=each(one_of([f"S{i}" for i in range(1, 9)], "signal")))
    lots: int = _f(1, "lots per main leg (the hedge leg has the same quantity)", check=between(1, 1000))
    hedge_offset: int = _f(200, "hedge strike distance further out of the money, index points",
                           check=between(1, 10_000))
    expiry_cutoff: str = _f("12:00", "on expiry day after this IST time, trade the next expiry", check=hhmm())
    expiry_exit: str = _f("15:15", "square-off time on expiry day, IST", check=hhmm())
    profit_lock: bool = _f(False, "enable the profit lock / trailing exit")
    profit_lock_arm_pct: float = _f(10.0, "arm the lock at this % of net premium collected", check=above(0, 100))
    profit_lock_floor_pct: float = _f(5.0, "exit when profit falls back below this % once armed (below the arm)",
                                      check=_PCT)
    trail_step_pct: float = _f(1.0, "trailing step, % of net premium", check=above(0, 100))


@dataclass(frozen=True)
class RiskSettings:
    max_positions: int = _f(3, "maximum concurrent positions (baskets)", check=between(1, 100))
    max_daily_loss: float = _f(50000.0, "daily loss (rupees, net of charges) that blocks new entries",
                               check=above(0, 1e10))
    flatten_on_daily_loss: bool = _f(False, "also square off everything when the daily loss is breached")
    signal_cooldown_minutes: int = _f(60, "minimum minutes between two entries on one symbol",
                                      check=between(0, _MINUTES_A_DAY))
    max_orders_per_minute: int = _f(200, "orders per minute (Kite allows 400/min, 10/s)", check=between(1, 400))
    market_protection: float = _f(2.0, "market_protection % sent with market orders (Kite, since April 2026)",
                                  check=market_protection())


@dataclass(frozen=True)
class PaperSettings:
    latency_ms: int = _f(200, "simulated order latency, milliseconds", check=between(0, 60_000))
    slippage_ticks: int = _f(1, "adverse slippage on market orders, in price ticks (0.05 rupee)",
                             check=between(0, 1000))
    max_quote_age_seconds: float = _f(5.0, "a quote older than this is not filled against", check=above(0, 3600))


@dataclass(frozen=True)
class ChargesSettings:
    """Charges on index options, rates as published by Zerodha's charges page and the circulars named."""

    effective_from: str = _f("2024-11-20", "date these rates took effect", check=iso_date())
    brokerage_per_order: float = _f(20.0, "rupees per executed order (Zerodha F&O flat fee)", check=between(0, 1000))
    stt_sell_pct: float = _f(0.1, "STT on option sell premium, % (Finance Act 2024, from 2024-10-01)", check=_PCT)
    exchange_txn_nse_pct: float = _f(0.03503, "NSE transaction charge on option premium, % (NSE circular 2024-10-01)",
                                     check=_PCT)
    exchange_txn_bse_pct: float = _f(0.0325, "BSE transaction charge on SENSEX option premium, %", check=_PCT)
    sebi_per_crore: float = _f(10.0, "SEBI turnover fee, rupees per crore of premium", check=between(0, 1_000_000))
    stamp_buy_pct: float = _f(0.003, "stamp duty on buy premium, % (Indian Stamp Act, 2020 amendment)", check=_PCT)
    gst_pct: float = _f(18.0, "GST on brokerage + transaction + SEBI fees, %", check=_PCT)


@dataclass(frozen=True)
class BacktestSettings:
    iv: float = _f(0.15, "implied volatility for modelled (Black-Scholes) premiums, annualised", check=above(0, 5))
    rate: float = _f(0.065, "risk-free rate for Black-Scholes, annualised", check=between(-0.1, 1))
    carry_pct: float = _f(0.5, "future's premium over spot, % (cost of carry) where no future data exists",
                          check=between(-20, 20))


@dataclass(frozen=True)
class PricingSettings:
    iv_file: str = _f("", "daily IV series for modelled premiums: CSV 'date,iv', iv in percent (e.g. India VIX "
                          "closes); empty: estimate from the index's daily closes (tradesig.volatility)")


@dataclass(frozen=True)
class ReportSettings:
    mail_to: str = _f("", "recipient of the daily report mail")
    mail_from: str = _f("tradesig@localhost", "sender of the daily report mail")


@dataclass(frozen=True)
class AlertSettings:
    """Alert channels besides mail (tradesig.alerts; docs/operations.md). Empty values turn a channel off."""

    webhook_url: str = _f("", "generic webhook: JSON POST (Slack, Discord, Mattermost; ntfy: the server root)",
                          check=optional(url("http", "https")))
    webhook_topic: str = _f("", "ntfy topic, sent as 'topic' in the webhook's JSON")
    telegram_bot_token: str = _f("", "reference 'secret:telegram_bot_token' to the Telegram bot token", secret=True)
    telegram_chat_id: str = _f("", "Telegram chat id the bot posts to")
    telegram_api: str = _f("https://api.telegram.org", "Telegram Bot API root", check=url("http", "https"))
    timeout_seconds: float = _f(5.0, "seconds per delivery attempt", check=above(0, 120))
    retries: int = _f(3, "attempts per channel before an alert is given up (logged)", check=between(1, 10))


@dataclass(frozen=True)
class Settings:
    """The whole configuration. Every section has complete defaults."""

    paths: PathsSettings = _f(PathsSettings, "", factory=True)
    kite: KiteSettings = _f(KiteSettings, "", factory=True)
    breeze: BreezeSettings = _f(BreezeSettings, "", factory=True)
    secrets: SecretsSettings = _f(SecretsSettings, "", factory=True)
    session: SessionSettings = _f(SessionSettings, "", factory=True)
    instruments: dict[str, InstrumentSettings] = _f(_default_instruments, "", factory=True)
    feed: FeedSettings = _f(FeedSettings, "", factory=True)
    hub: HubSettings = _f(HubSettings, "", factory=True)
    strategy: StrategySettings = _f(StrategySettings, "", factory=True)
    risk: RiskSettings = _f(RiskSettings, "", factory=True)
    paper: PaperSettings = _f(PaperSettings, "", factory=True)
    charges: ChargesSettings = _f(ChargesSettings, "", factory=True)
    backtest: BacktestSettings = _f(BacktestSettings, "", factory=True)
    pricing: PricingSettings = _f(PricingSettings, "", factory=True)
    report: ReportSettings = _f(ReportSettings, "", factory=True)
    alerts: AlertSettings = _f(AlertSettings, "", factory=True)


#: Environment variables overlaid on the raw TOML before validation (so they are checked like the file):
#: name -> (section, key). ``TRADESIG_HOME`` and ``TRADESIG_CONFIG`` choose paths instead (see the docstring).
ENV: dict[str, tuple[str, str]] = {
    "TRADESIG_KITE_ROOT": ("kite", "root"),
    "TRADESIG_KITE_WS_ROOT": ("kite", "ws_root"),
    "TRADESIG_BREEZE_ROOT": ("breeze", "root"),
}


@dataclass(frozen=True)
class LoadedConfig:
    """Settings plus where they came from. ``source`` is None when no config file exists (defaults)."""

    settings: Settings
    source: Path | None
    home: Path
    #: every schema problem found (type, unknown key, a field's check, env overrides included), one per line;
    #: empty for a strict load, which raises instead
    problems: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------------- paths


def default_config_path(env: typing.Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("TRADESIG_CONFIG"):
        return Path(env["TRADESIG_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tradesig" / "config.toml"


def resolve_home(settings: Settings, override: str | Path | None = None,
                 env: typing.Mapping[str, str] | None = None) -> Path:
    """The data home: ``override`` (``--home``), ``paths.home``, ``$TRADESIG_HOME``, ``$STATE_DIRECTORY``
    (first entry), ``$XDG_DATA_HOME/tradesig``."""
    env = os.environ if env is None else env
    for candidate in (override, settings.paths.home, env.get("TRADESIG_HOME"),
                      (env.get("STATE_DIRECTORY") or "").split(":")[0]):
        if candidate:
            return Path(candidate).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tradesig"


# --------------------------------------------------------------------------------------------- parse & validate


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "table"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _coerce(tp: Any, value: Any, where: str, problems: list[str], secret: bool = False) -> Any:
    """Check ``value`` against type ``tp``; record a problem and return ``None`` if it does not fit.

    With ``secret`` the problem never repeats the value (it may be a credential typed in the wrong place)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a table, got {type(value).__name__}")
            return None
        return _build(tp, value, where, problems)
    if origin is dict:
        _, vtype = typing.get_args(tp)
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a table, got {type(value).__name__}")
            return None
        out = {}
        for key, item in value.items():
            built = _coerce(vtype, item, f"{where}.{key}", problems)
            if built is not None:
                out[key] = built
        return out
    if origin is list:
        (itype,) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(f"{where}: expected a {type_name(tp)}, got {type(value).__name__}")
            return None
        items = [_coerce(itype, item, f"{where}[{i}]", problems) for i, item in enumerate(value)]
        return None if any(item is None for item in items) else items
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        problems.append(f"{where}: expected a {type_name(tp)}, got boolean")
        return None
    if not isinstance(value, tp):
        shown = "" if secret else f" {value!r}"
        problems.append(f"{where}: expected a {type_name(tp)}, got {type(value).__name__}{shown}")
        return None
    return value


def _build(cls: Any, data: dict[str, Any], where: str, problems: list[str]) -> Any:
    """Build dataclass ``cls`` from ``data``: unknown keys, wrong types and each field's check become problems."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    prefix = where + "." if where else ""
    for key in data:
        if key not in names:
            problems.append(f"{prefix}{key}: unknown key")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            built = _coerce(hints[f.name], data[f.name], f"{prefix}{f.name}", problems,
                            secret=bool(f.metadata.get("secret")))
            if built is None:
                continue
            check = f.metadata.get("check")
            if check is not None and (problem := check(built)):
                problems.append(f"{prefix}{f.name}: {problem}")
            kwargs[f.name] = built
    if cls is Settings and "instruments" in kwargs:
        merged = _default_instruments()
        merged.update(kwargs["instruments"])
        kwargs["instruments"] = merged
    return cls(**kwargs)


def _cross_problems(s: Settings) -> list[str]:
    """Checks that relate two fields or a table's keys (each field's own check ran in :func:`_build`)."""
    problems: list[str] = []
    known = _index_names()
    for sym in s.instruments:
        if sym not in known:
            problems.append(f"instruments.{sym}: unknown index (known: {', '.join(known)})")
    phases = [(f.name, getattr(s.session, f.name)) for f in dataclasses.fields(SessionSettings)]
    if not any(hhmm()(value) for _, value in phases):
        for (a, va), (b, vb) in zip(phases, phases[1:], strict=False):
            if va >= vb:
                problems.append(f"session.{b}: {vb} must be after session.{a} ({va})")
    st = s.strategy
    if st.profit_lock_floor_pct >= st.profit_lock_arm_pct:
        problems.append(f"strategy.profit_lock_floor_pct: {st.profit_lock_floor_pct} must be below "
                        f"strategy.profit_lock_arm_pct ({st.profit_lock_arm_pct})")
    return problems


def _overlay_env(data: dict[str, Any], env: typing.Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` with the :data:`ENV` variables set in ``env`` overlaid; also ``{"kite.root": "TRADESIG_KITE_ROOT"}``
    for each key that came from the environment (named in problems)."""
    data = dict(data)
    origins: dict[str, str] = {}
    for name, (section, key) in ENV.items():
        if env.get(name) and isinstance(data.get(section, {}), dict):
            data[section] = {**data.get(section, {}), key: env[name]}
            origins[f"{section}.{key}"] = name
    return data, origins


def parse_settings(data: dict[str, Any], env: typing.Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """Build :class:`Settings` from a parsed TOML mapping with the :data:`ENV` overrides of ``env`` (default: none)
    overlaid, validated in one pass; return it with every problem found, one per line (may be empty)."""
    data, origins = _overlay_env(data, env or {})
    problems: list[str] = []
    settings = _build(Settings, data, "", problems)
    problems.extend(_cross_problems(settings))
    for i, problem in enumerate(problems):
        key, sep, rest = problem.partition(": ")
        if key in origins:
            problems[i] = f"{key} (from ${origins[key]}){sep}{rest}"
    return settings, problems


def read_toml(path: Path, hint: str) -> dict[str, Any]:
    """Parse a TOML file. Raises :class:`ConfigError` (one line) when it cannot be read, is not UTF-8, is not
    TOML, or nests too deeply for the parser."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte offset {exc.start})", hint) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint) from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply", hint) from None


def load_config(path: str | Path | None = None, home: str | Path | None = None, *,
                env: typing.Mapping[str, str] | None = None, strict: bool = True) -> LoadedConfig:
    """Load the config file (or defaults when absent), overlay the :data:`ENV` overrides, validate everything in
    one pass, resolve the data home.

    ``path`` None: :func:`default_config_path`; an explicitly named file that does not exist is an error.
    With ``strict`` (the default) any problem raises :class:`ConfigError` (its ``problems`` lists them, one line
    each); ``config check`` passes ``strict=False`` and reads ``LoadedConfig.problems``.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("TRADESIG_CONFIG"))
    cfg_path = Path(path).expanduser() if path is not None else default_config_path(env)
    data: dict[str, Any] = {}
    source: Path | None = None
    try:
        is_dir = stat.S_ISDIR(cfg_path.stat().st_mode)
        exists = True
    except (FileNotFoundError, NotADirectoryError):
        exists = False
    except OSError as exc:
        raise ConfigError(f"{cfg_path}: cannot read: {exc.strerror or exc}") from None
    if exists and is_dir:
        raise ConfigError(f"config file {cfg_path} is a directory", "name a TOML file with --config")
    if exists:
        data = read_toml(cfg_path, "fix the file or run 'tradesig config init --force'")
        source = cfg_path
    elif explicit:
        raise ConfigError(f"config file {cfg_path} does not exist", "run 'tradesig config init' to write one")
    settings, problems = parse_settings(data, env)
    if problems and strict:
        if len(problems) == 1:
            raise ConfigError(f"{cfg_path}: {problems[0]}", "run 'tradesig config check'")
        error = ConfigError(f"{cfg_path}: {len(problems)} problems in the configuration (listed above)",
                            "run 'tradesig config check'", list(problems))
        error.details = tuple(f"{cfg_path}: {p}" for p in problems)
        raise error
    return LoadedConfig(settings, source, resolve_home(settings, home, env), tuple(problems))


# --------------------------------------------------------------------------------------------------- secrets


def secrets_file_path(loaded: LoadedConfig) -> Path | None:
    if loaded.settings.secrets.file:
        return Path(loaded.settings.secrets.file).expanduser()
    base = loaded.source.parent if loaded.source else default_config_path().parent
    candidate = base / "secrets.toml"
    return candidate if candidate.exists() else None


def _secrets_file_problem(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return f"secrets file {path} does not exist"
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (f"secrets file {path} is accessible by group/others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"refused: run 'chmod 600 {path}'")
    return None


def resolve_secret(loaded: LoadedConfig, reference: str, env: typing.Mapping[str, str] | None = None) -> str:
    """Resolve a ``secret:NAME`` reference (order in the module docstring).

    Raises :class:`ConfigError` when the reference is malformed, the secrets file has loose permissions, or no
    source holds the secret. The error names the sources, never a value.
    """
    env = os.environ if env is None else env
    if not reference.startswith(SECRET_PREFIX):
        raise ConfigError(f"{reference[:7]}…: secrets must be referenced as 'secret:NAME'")
    name = reference[len(SECRET_PREFIX):]
    env_name = "TRADESIG_" + name.upper()
    if env.get(env_name):
        return env[env_name]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / name).is_file():
        return (Path(cred_dir) / name).read_text(encoding="utf-8").strip()
    path = secrets_file_path(loaded)
    if path is not None:
        problem = _secrets_file_problem(path)
        if problem:
            raise ConfigError(problem)
        values = read_toml(path, "fix the secrets file (TOML: name = \"value\")")
        if isinstance(values.get(name), str) and values[name]:
            return values[name]
    raise ConfigError(f"secret {name!r} not found",
                      f"set {env_name}, a systemd credential '{name}', or '{name}' in the 0600 secrets file")


def check_config(loaded: LoadedConfig, raw_problems: list[str] | None = None,
                 env: typing.Mapping[str, str] | None = None, *, need_brokers: bool = True) -> list[str]:
    """Every problem of a loaded config, one line each: schema problems (``raw_problems``, default
    ``loaded.problems``) plus placeholders, missing secrets, loose secrets-file permissions and a data home that
    cannot be created. Empty list: all good."""
    env = os.environ if env is None else env
    problems = list(loaded.problems if raw_problems is None else raw_problems)
    s = loaded.settings
    path = secrets_file_path(loaded)
    if path is not None:
        problem = _secrets_file_problem(path)
        if problem:
            problems.append(problem)
    brokers = [("kite", s.kite)] + ([("breeze", s.breeze)] if s.breeze.enabled else [])
    if need_brokers:
        for section, obj in brokers:
            if obj.api_key.startswith(PLACEHOLDER_PREFIX) or not obj.api_key:
                problems.append(f"{section}.api_key: placeholder {obj.api_key!r}; set your API key")
            ref = obj.api_secret
            if not ref:
                problems.append(f"{section}.api_secret: missing; write 'secret:NAME' and provide the value in env, "
                                f"a systemd credential or the 0600 secrets file")
            if ref.startswith(SECRET_PREFIX):
                try:
                    resolve_secret(loaded, ref, env)
                except ConfigError as exc:
                    if str(exc) not in problems:
                        problems.append(f"{section}.api_secret: {exc}")
    if (problem := home_problem(loaded.home)) is not None:
        problems.append(problem)
    return problems


__all__ = [
    "Settings", "LoadedConfig", "load_config", "parse_settings", "check_config", "resolve_secret",
    "resolve_home", "default_config_path", "read_toml", "ENV", "SECRET_PREFIX", "require_writable_home",
]


def __getattr__(name: str) -> Any:
    """The renderers moved to :mod:`tradesig.config_render`; the old names stay importable from here."""
    if name in ("settings_to_dict", "default_config_toml", "schema_reference", "write_default_config"):
        from tradesig import config_render

        return getattr(config_render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

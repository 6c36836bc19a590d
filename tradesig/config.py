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

The schema below is the reference: ``docs/configuration.md`` and ``config init`` are generated from it.
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

from tradesig.errors import ConfigError

SECRET_PREFIX = "secret:"
PLACEHOLDER_PREFIX = "YOUR_"


def _f(default: Any, doc: str, *, secret: bool = False, factory: bool = False) -> Any:
    meta = {"doc": doc, "secret": secret}
    if factory:
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class PathsSettings:
    home: str = _f("", "data home; empty: $TRADESIG_HOME, $STATE_DIRECTORY, then $XDG_DATA_HOME/tradesig")


@dataclass(frozen=True)
class KiteSettings:
    api_key: str = _f("YOUR_KITE_API_KEY", "Kite Connect API key (public, from developers.kite.trade)")
    api_secret: str = _f("secret:kite_api_secret", "reference to the Kite API secret", secret=True)
    root: str = _f("https://api.kite.trade", "REST root (env TRADESIG_KITE_ROOT); point at `tradesig sim`")
    ws_root: str = _f("wss://ws.kite.trade", "ticker WebSocket root (env TRADESIG_KITE_WS_ROOT)")
    login_url: str = _f("https://kite.zerodha.com/connect/login", "login page; the sim serves /connect/login")
    redirect_url: str = _f("http://127.0.0.1:5005/callback", "redirect URL registered for the app (loopback)")
    timeout_seconds: float = _f(7.0, "REST request timeout, seconds")


@dataclass(frozen=True)
class BreezeSettings:
    enabled: bool = _f(False, "use ICICI Breeze as a second data source")
    api_key: str = _f("YOUR_BREEZE_API_KEY", "Breeze API key")
    api_secret: str = _f("secret:breeze_api_secret", "reference to the Breeze secret key", secret=True)
    root: str = _f("", "one root for every Breeze endpoint (env TRADESIG_BREEZE_ROOT), e.g. `tradesig sim`'s "
                   "Breeze port; empty: ICICI's own hosts")


@dataclass(frozen=True)
class SecretsSettings:
    file: str = _f("", "secrets file (TOML name = \"value\"), mode 0600; empty: <config dir>/secrets.toml if present")


@dataclass(frozen=True)
class SessionSettings:
    """NSE/BSE session phases, IST (NSE circular on pre-open, NSE/CMTR/ 2010 and later)."""

    pre_open: str = _f("09:00", "pre-open order entry starts")
    pre_open_match: str = _f("09:08", "pre-open order matching starts")
    open: str = _f("09:15", "continuous trading starts")
    close: str = _f("15:30", "continuous trading ends")
    closing_end: str = _f("15:40", "closing session ends")
    post_close_end: str = _f("16:00", "post-close session ends")


@dataclass(frozen=True)
class InstrumentSettings:
    """Per-index contract facts that change by circular (lot size is read from the instruments dump)."""

    strike_step: int = _f(50, "option strike step, index points")
    freeze_quantity: int = _f(1800, "freeze quantity, units (not lots): NSE/BSE circulars")


def _default_instruments() -> dict[str, InstrumentSettings]:
    return {
        "NIFTY": InstrumentSettings(50, 1800),
        "BANKNIFTY": InstrumentSettings(100, 600),
        "SENSEX": InstrumentSettings(100, 1000),
    }


@dataclass(frozen=True)
class FeedSettings:
    symbols: list[str] = _f(lambda: ["NIFTY", "BANKNIFTY", "SENSEX"], "indices to stream", factory=True)
    chain_strikes: int = _f(10, "option-chain strikes each side of spot subscribed for OI/PCR")
    until: str = _f("15:35", "stop streaming at this IST time")
    stall_seconds: float = _f(15.0, "no market data for this long in market hours: reconnect")
    backoff_cap_seconds: float = _f(30.0, "cap of the exponential reconnect backoff, seconds")
    poll_after_seconds: float = _f(10.0, "WebSocket down for this long: poll /quote (1 request/s)")
    token_reload_seconds: float = _f(1.0, "how often the token file is checked for a new token, seconds")


@dataclass(frozen=True)
class HubSettings:
    listen: str = _f("127.0.0.1:8765", "viewer hub address; non-loopback needs token_file")
    token_file: str = _f("", "file holding the token viewers must present (required off loopback)")
    client_queue: int = _f(1000, "messages queued per viewer before coalescing; twice that drops the viewer")


@dataclass(frozen=True)
class StrategySettings:
    """S1–S8 option-selling rules, shared/SIGNALS.md "From signal to trade"."""

    enabled: list[str] = _f(lambda: [f"S{i}" for i in range(1, 9)], "weekly-zone signals that trade", factory=True)
    lots: int = _f(1, "lots per main leg (the hedge leg has the same quantity)")
    hedge_offset: int = _f(200, "hedge strike distance further out of the money, index points")
    expiry_cutoff: str = _f("12:00", "on expiry day after this IST time, trade the next expiry")
    expiry_exit: str = _f("15:15", "square-off time on expiry day, IST")
    profit_lock: bool = _f(False, "enable the profit lock / trailing exit")
    profit_lock_arm_pct: float = _f(10.0, "arm the lock at this % of net premium collected")
    profit_lock_floor_pct: float = _f(5.0, "exit when profit falls back below this % once armed")
    trail_step_pct: float = _f(1.0, "trailing step, % of net premium")


@dataclass(frozen=True)
class RiskSettings:
    max_positions: int = _f(3, "maximum concurrent positions (baskets)")
    max_daily_loss: float = _f(50000.0, "daily loss (rupees, net of charges) that blocks new entries")
    flatten_on_daily_loss: bool = _f(False, "also square off everything when the daily loss is breached")
    signal_cooldown_minutes: int = _f(60, "minimum minutes between two entries on one symbol")
    max_orders_per_minute: int = _f(200, "orders per minute (Kite allows 400/min, 10/s)")
    market_protection: float = _f(2.0, "market_protection % sent with market orders (Kite, since April 2026)")


@dataclass(frozen=True)
class PaperSettings:
    latency_ms: int = _f(200, "simulated order latency, milliseconds")
    slippage_ticks: int = _f(1, "adverse slippage on market orders, in price ticks (0.05 rupee)")
    max_quote_age_seconds: float = _f(5.0, "a quote older than this is not filled against")


@dataclass(frozen=True)
class ChargesSettings:
    """Charges on index options, rates as published by Zerodha's charges page and the circulars named."""

    effective_from: str = _f("2024-11-20", "date these rates took effect")
    brokerage_per_order: float = _f(20.0, "rupees per executed order (Zerodha F&O flat fee)")
    stt_sell_pct: float = _f(0.1, "STT on option sell premium, % (Finance Act 2024, from 2024-10-01)")
    exchange_txn_nse_pct: float = _f(0.03503, "NSE transaction charge on option premium, % (NSE circular 2024-10-01)")
    exchange_txn_bse_pct: float = _f(0.0325, "BSE transaction charge on SENSEX option premium, %")
    sebi_per_crore: float = _f(10.0, "SEBI turnover fee, rupees per crore of premium")
    stamp_buy_pct: float = _f(0.003, "stamp duty on buy premium, % (Indian Stamp Act, 2020 amendment)")
    gst_pct: float = _f(18.0, "GST on brokerage + transaction + SEBI fees, %")


@dataclass(frozen=True)
class BacktestSettings:
    iv: float = _f(0.15, "implied volatility for modelled (Black-Scholes) premiums, annualised")
    rate: float = _f(0.065, "risk-free rate for Black-Scholes, annualised")
    carry_pct: float = _f(0.5, "future's premium over spot, % (cost of carry) where no future data exists")


@dataclass(frozen=True)
class ReportSettings:
    mail_to: str = _f("", "recipient of the daily report mail")
    mail_from: str = _f("tradesig@localhost", "sender of the daily report mail")


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
    report: ReportSettings = _f(ReportSettings, "", factory=True)


@dataclass(frozen=True)
class LoadedConfig:
    """Settings plus where they came from. ``source`` is None when no config file exists (defaults)."""

    settings: Settings
    source: Path | None
    home: Path


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


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
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
            problems.append(f"{where}: expected a {_type_name(tp)}, got {type(value).__name__}")
            return None
        items = [_coerce(itype, item, f"{where}[{i}]", problems) for i, item in enumerate(value)]
        return None if any(item is None for item in items) else items
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        problems.append(f"{where}: expected a {_type_name(tp)}, got boolean")
        return None
    if not isinstance(value, tp):
        shown = "" if secret else f" {value!r}"
        problems.append(f"{where}: expected a {_type_name(tp)}, got {type(value).__name__}{shown}")
        return None
    return value


def _build(cls: Any, data: dict[str, Any], where: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            problems.append(f"{where + '.' if where else ''}{key}: unknown key")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            built = _coerce(hints[f.name], data[f.name], f"{where + '.' if where else ''}{f.name}", problems,
                            secret=bool(f.metadata.get("secret")))
            if built is not None:
                kwargs[f.name] = built
    if cls is Settings and "instruments" in kwargs:
        merged = _default_instruments()
        merged.update(kwargs["instruments"])
        kwargs["instruments"] = merged
    return cls(**kwargs)


def _check_time(value: str, where: str, problems: list[str]) -> None:
    parts = value.split(":")
    ok = len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) < 24 and int(parts[1]) < 60
    if not ok:
        problems.append(f"{where}: {value!r} is not an HH:MM time")


def _semantic_problems(s: Settings) -> list[str]:
    problems: list[str] = []
    for name in ("pre_open", "pre_open_match", "open", "close", "closing_end", "post_close_end"):
        _check_time(getattr(s.session, name), f"session.{name}", problems)
    for where, value in (("feed.until", s.feed.until), ("strategy.expiry_cutoff", s.strategy.expiry_cutoff),
                         ("strategy.expiry_exit", s.strategy.expiry_exit)):
        _check_time(value, where, problems)
    from tradesig.market import INDICES

    for sym in s.feed.symbols:
        if sym not in INDICES:
            problems.append(f"feed.symbols: unknown index {sym!r} (known: {', '.join(INDICES)})")
    for sym, inst in s.instruments.items():
        if sym not in INDICES:
            problems.append(f"instruments.{sym}: unknown index (known: {', '.join(INDICES)})")
        if inst.strike_step <= 0 or inst.freeze_quantity <= 0:
            problems.append(f"instruments.{sym}: strike_step and freeze_quantity must be positive")
    for name in s.strategy.enabled:
        if name not in {f"S{i}" for i in range(1, 9)}:
            problems.append(f"strategy.enabled: unknown signal {name!r} (S1..S8)")
    positives = {
        "strategy.lots": s.strategy.lots, "strategy.hedge_offset": s.strategy.hedge_offset,
        "risk.max_positions": s.risk.max_positions, "risk.max_daily_loss": s.risk.max_daily_loss,
        "risk.max_orders_per_minute": s.risk.max_orders_per_minute, "feed.chain_strikes": s.feed.chain_strikes,
        "feed.stall_seconds": s.feed.stall_seconds, "hub.client_queue": s.hub.client_queue,
        "backtest.iv": s.backtest.iv,
    }
    for where, value in positives.items():
        if value <= 0:
            problems.append(f"{where}: must be positive, got {value}")
    if s.risk.max_orders_per_minute > 400:
        problems.append("risk.max_orders_per_minute: Kite allows at most 400 orders a minute")
    for section, obj in (("kite", s.kite), ("breeze", s.breeze)):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("secret") and isinstance(value, str) and value and not value.startswith(SECRET_PREFIX):
                problems.append(f"{section}.{f.name}: a literal secret in the config file; "
                                f"write 'secret:NAME' and put the value in env, a credential or the secrets file")
    return problems


def parse_settings(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """Build :class:`Settings` from a parsed TOML mapping; return it with every problem found (may be empty)."""
    problems: list[str] = []
    settings = _build(Settings, data, "", problems)
    problems.extend(_semantic_problems(settings))
    return settings, problems


def _apply_env(settings: Settings, env: typing.Mapping[str, str]) -> Settings:
    kite = settings.kite
    if env.get("TRADESIG_KITE_ROOT"):
        kite = dataclasses.replace(kite, root=env["TRADESIG_KITE_ROOT"])
    if env.get("TRADESIG_KITE_WS_ROOT"):
        kite = dataclasses.replace(kite, ws_root=env["TRADESIG_KITE_WS_ROOT"])
    breeze = settings.breeze
    if env.get("TRADESIG_BREEZE_ROOT"):
        breeze = dataclasses.replace(breeze, root=env["TRADESIG_BREEZE_ROOT"])
    return dataclasses.replace(settings, kite=kite, breeze=breeze)


def load_config(path: str | Path | None = None, home: str | Path | None = None, *,
                env: typing.Mapping[str, str] | None = None, strict: bool = True) -> LoadedConfig:
    """Load the config file (or defaults when absent), apply env overrides, resolve the data home.

    ``path`` None: :func:`default_config_path`; an explicitly named file that does not exist is an error.
    With ``strict`` (the default) any problem raises :class:`ConfigError` listing all of them; ``config check``
    passes ``strict=False`` and reports them itself via :func:`check_config`.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("TRADESIG_CONFIG"))
    cfg_path = Path(path).expanduser() if path is not None else default_config_path(env)
    data: dict[str, Any] = {}
    source: Path | None = None
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfg_path}: not valid TOML: {exc}",
                              "fix the file or run 'tradesig config init --force'") from None
        except OSError as exc:
            raise ConfigError(f"{cfg_path}: cannot read: {exc.strerror}") from None
        source = cfg_path
    elif explicit:
        raise ConfigError(f"config file {cfg_path} does not exist", "run 'tradesig config init' to write one")
    settings, problems = parse_settings(data)
    if problems and strict:
        raise ConfigError(f"{cfg_path}: {len(problems)} problem(s): " + "; ".join(problems),
                          "run 'tradesig config check' for the list", problems)
    settings = _apply_env(settings, env)
    return LoadedConfig(settings, source, resolve_home(settings, home, env))


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
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise ConfigError(f"secrets file {path} unreadable: {exc}") from None
        if isinstance(values.get(name), str) and values[name]:
            return values[name]
    raise ConfigError(f"secret {name!r} not found",
                      f"set {env_name}, a systemd credential '{name}', or '{name}' in the 0600 secrets file")


def check_config(loaded: LoadedConfig, raw_problems: list[str], env: typing.Mapping[str, str] | None = None,
                 *, need_brokers: bool = True) -> list[str]:
    """Every problem of a loaded config, one line each: schema problems plus placeholders, missing secrets,
    loose secrets-file permissions and a data home that cannot be created. Empty list: all good."""
    env = os.environ if env is None else env
    problems = list(raw_problems)
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
    home = loaded.home
    probe = home
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and (not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK)
                           or os.statvfs(probe).f_flag & os.ST_RDONLY):
        problems.append(f"data home {home}: cannot be created ({probe} is not a writable directory)")
    return problems


# ------------------------------------------------------------------------------------------------ rendering


def _plain(obj: Any, redact_secrets: bool) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("secret") and redact_secrets and not str(value).startswith(SECRET_PREFIX):
                value = "<redacted>"
            out[f.name] = _plain(value, redact_secrets)
        return out
    if isinstance(obj, dict):
        return {k: _plain(v, redact_secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v, redact_secrets) for v in obj]
    return obj


def settings_to_dict(settings: Settings, redact_secrets: bool = True) -> dict[str, Any]:
    """Plain nested dict of the settings; secret fields keep their ``secret:NAME`` reference (never a value)."""
    return _plain(settings, redact_secrets)


def default_config_toml() -> str:
    """The complete default config file (generated from the schema, so it always validates)."""
    import tomli_w

    header = ("# tradesig configuration: every key with its default. Reference: docs/configuration.md\n"
              "# Secrets are references 'secret:NAME' resolved from env TRADESIG_NAME, $CREDENTIALS_DIRECTORY/NAME\n"
              "# or the 0600 secrets file. Never write a secret value here.\n\n")
    return header + tomli_w.dumps(settings_to_dict(Settings(), redact_secrets=False))


def schema_reference() -> list[tuple[str, str, Any, str]]:
    """Rows (key, type, default, doc) for every setting: used to generate docs/configuration.md."""
    rows: list[tuple[str, str, Any, str]] = []

    def walk(cls: Any, prefix: str, instance: Any) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            value = getattr(instance, f.name)
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{f.name}.", value)
            elif typing.get_origin(tp) is dict:
                for key, item in value.items():
                    walk(type(item), f"{prefix}{f.name}.{key}.", item)
            else:
                rows.append((f"{prefix}{f.name}", _type_name(tp), value, f.metadata.get("doc", "")))

    walk(Settings, "", Settings())
    return rows


__all__ = [
    "Settings", "LoadedConfig", "load_config", "parse_settings", "check_config", "resolve_secret",
    "resolve_home", "default_config_path", "default_config_toml", "settings_to_dict", "schema_reference",
]

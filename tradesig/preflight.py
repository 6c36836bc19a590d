"""Preflight: every check a trading morning needs, one :class:`Check` each (``tradesig preflight``, timer 09:05 IST).

Checks, in order (names are the stable keys of ``--format json``):

- ``token``: the stored Kite access token is present, unexpired and accepted by the broker (``GET /user/profile``,
  :func:`tradesig.broker.login.check_token`).
- ``ticker``: the feed's hub answers ``GET /health`` and reports the ticker connected (the Kite WebSocket accepted
  the token: a rejected token shows as ``waiting_for_token``).
- ``ticks``: ticks are flowing: ``last_tick_age_s`` (seconds since the feed last received data) at most
  ``max_tick_age``. Outside continuous trading (the 09:05 run falls in pre-open order entry, when the indices are
  quiet until the 09:08 match) a missing or old tick is ``skip``, as the feed's own stall rule treats it.
- ``instruments``: the broker's instruments dump (``GET /instruments/NFO``, ``/BFO``) loads and lists option
  contracts of every feed symbol expiring today or later (Kite publishes it daily before the open).
- ``calendar``: the market calendar covers today and at least ``calendar_horizon_days`` beyond it.
- ``disk``: free space on the data home's file system is at least the day's need: twice the largest of the last
  five days' journal + ticks, and never less than ``min_free_bytes``.
- ``backup``: the newest archive is at most ``backup_max_age`` old and its ``.verified`` marker matches.
- ``positions``: live mode: the engine's open baskets (main leg short, hedge leg long, quantities in units) equal
  the broker's net option positions; paper mode has no broker account to reconcile (``skip``).

A check's ``status`` is ``ok``, ``fail`` or ``skip``; :func:`run_preflight` never raises for an expected failure
(each becomes a failed check naming what is wrong and what to do).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tradesig.clock import Clock, ist_date
from tradesig.config import LoadedConfig
from tradesig.errors import TradesigError

CHECKS = ("token", "ticker", "ticks", "instruments", "calendar", "disk", "backup", "positions")
GIB = 1024 ** 3


@dataclass(frozen=True)
class Check:
    """One line of the preflight: ``name`` (one of :data:`CHECKS`), ``status`` ok/fail/skip, ``detail`` (what was
    found), ``fix`` (what to do, for a failure)."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class PreflightOptions:
    """``mode``: paper or live (which engine's positions). ``hub_url``: the feed's hub (default
    ``http://<hub.listen>``). ``sim_url``: check against ``tradesig sim`` (its replay date is "today").
    ``max_tick_age`` seconds; ``backup_dir`` (default ``<home>/backups``); ``min_free_bytes``."""

    mode: str = "paper"
    hub_url: str | None = None
    sim_url: str | None = None
    max_tick_age: float = 60.0
    backup_dir: Path | None = None
    backup_max_age: timedelta = timedelta(hours=36)
    calendar_horizon_days: int = 14
    min_free_bytes: int = GIB


# ---------------------------------------------------------------------------------------------- pure checks


def health_checks(health: Mapping[str, Any] | None, error: str | None, url: str, max_tick_age: float,
                  ) -> tuple[Check, Check]:
    """``ticker`` and ``ticks`` from the hub's ``/health`` document (None with ``error`` when it did not answer)."""
    start = "start it: systemctl start tradesig-feed (or 'tradesig feed --serve')"
    if health is None:
        return (Check("ticker", "fail", f"no feed answering at {url}: {error}", start),
                Check("ticks", "fail", "no feed: no ticks", start))
    if health.get("waiting_for_token"):
        ticker = Check("ticker", "fail", "the ticker refused the token; the feed waits for a new one",
                       "tradesig login (the feed picks up the new token by itself)")
    elif not health.get("connected"):
        how = "polling REST instead" if health.get("polling") else "down"
        ticker = Check("ticker", "fail", f"ticker not connected ({how}; last error: {health.get('last_error')})",
                       "journalctl -u tradesig-feed; check the network and 'tradesig token-check'")
    else:
        ticker = Check("ticker", "ok", f"ticker connected and authenticated ({health.get('source')}, "
                                       f"{health.get('reconnects', 0)} reconnects)")
    age = health.get("last_tick_age_s")
    phase = health.get("phase")
    quiet = phase not in ("OPEN", "UNKNOWN", None)  # as the feed's own stall rule: silence is normal outside OPEN
    if quiet and (age is None or float(age) > max_tick_age):
        seen = "no tick yet" if age is None else f"last tick {float(age):.0f} s ago"
        ticks = Check("ticks", "skip", f"{seen}; phase {phase}: the indices are quiet before the 09:15 open")
    elif age is None:
        ticks = Check("ticks", "fail", f"no tick received yet (phase {phase})",
                      "check the subscriptions and 'journalctl -u tradesig-feed'")
    elif float(age) > max_tick_age:
        ticks = Check("ticks", "fail", f"last tick {float(age):.0f} s ago (more than {max_tick_age:.0f} s)",
                      "the feed is stalled: journalctl -u tradesig-feed; systemctl restart tradesig-feed")
    else:
        ticks = Check("ticks", "ok", f"last tick {float(age):.1f} s ago, {health.get('ticks_per_s', 0)} ticks/s")
    return ticker, ticks


def calendar_check(covers: Callable[[date], bool], last: date, today: date, horizon_days: int) -> Check:
    """Does the calendar (``covers``, last covered date ``last``) know ``today`` and ``horizon_days`` beyond?"""
    fix = "upgrade exchange-calendars, or list the holidays in calendar-overrides.toml and set extend_to"
    if not covers(today):
        return Check("calendar", "fail", f"no market calendar data for {today} (covered to {last})", fix)
    left = (last - today).days
    if left < horizon_days:
        return Check("calendar", "fail", f"calendar covers only {left} more days (to {last}; "
                                         f"{horizon_days} wanted)", fix)
    return Check("calendar", "ok", f"knows {today}, covered to {last} ({left} days ahead)")


def disk_check(free: int, need: int) -> Check:
    """Free bytes against the day's need (bytes)."""
    if free < need:
        return Check("disk", "fail", f"{free / GIB:.1f} GiB free, the day needs {need / GIB:.1f} GiB",
                     "free space on the data home (tradesig backup prune --ticks-days N)")
    return Check("disk", "ok", f"{free / GIB:.1f} GiB free (the day needs {need / GIB:.1f} GiB)")


def positions_diff(engine_open: list[Mapping[str, Any]], broker: Mapping[str, int]) -> list[str]:
    """Differences between the engine's open baskets (state dicts: ``main``/``hedge`` tradingsymbols,
    ``main_qty`` units short, ``hedge_qty`` units long) and the broker's net quantities (units, short < 0):
    ``["NIFTY24JUN22500CE: engine -25, broker 0", ...]``, sorted; empty when they agree."""
    expected: dict[str, int] = {}
    for pos in engine_open:
        expected[pos["main"]] = expected.get(pos["main"], 0) - int(pos.get("main_qty") or 0)
        expected[pos["hedge"]] = expected.get(pos["hedge"], 0) + int(pos.get("hedge_qty") or 0)
    names = sorted({k for k, v in expected.items() if v} | {k for k, v in broker.items() if v})
    return [f"{n}: engine {expected.get(n, 0)}, broker {broker.get(n, 0)}" for n in names
            if expected.get(n, 0) != broker.get(n, 0)]


# ---------------------------------------------------------------------------------------------- probes (I/O)


def fetch_health(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[dict | None, str | None]:
    """GET ``url`` (the hub's /health): ``(document, None)`` or ``(None, why)``."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # loopback hub by default
            return json.loads(resp.read()), None
    except urllib.error.HTTPError as exc:
        return None, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def day_need(home: Path, floor: int) -> int:
    """Bytes the day needs: twice the largest of the last five days' ``journal/DATE`` + ``ticks/date=DATE``."""
    days = sorted({p.name for p in (home / "journal").glob("*")} if (home / "journal").is_dir() else set())[-5:]
    sizes = [_dir_bytes(home / "journal" / d) + _dir_bytes(home / "ticks" / f"date={d}") for d in days]
    return max([floor] + [2 * s for s in sizes])


def backup_check(dest: Path, now: datetime, max_age: timedelta) -> Check:
    """The newest archive in ``dest``: age (against aware ``now``) and its ``.verified`` marker."""
    from tradesig.backup import VerifyFailed, list_archives, verified_manifest

    archives = list_archives(dest)
    if not archives:
        return Check("backup", "fail", f"no backup in {dest}", "tradesig backup create (timer: tradesig-backup)")
    created, newest = archives[-1]
    age = now - created
    hours = age.total_seconds() / 3600
    try:
        verified = verified_manifest(newest) is not None
    except VerifyFailed as exc:
        return Check("backup", "fail", f"{newest.name} is unreadable: {exc}", f"tradesig backup verify {newest}")
    if not verified:
        return Check("backup", "fail", f"{newest.name} ({hours:.0f} h old) is not verified",
                     f"tradesig backup verify {newest}, or create a new one")
    if age > max_age:
        return Check("backup", "fail", f"newest backup {newest.name} is {hours:.0f} h old (more than "
                                       f"{max_age.total_seconds() / 3600:.0f} h)",
                     "journalctl -u tradesig-backup; tradesig backup create")
    return Check("backup", "ok", f"{newest.name}, {hours:.0f} h old, verified")


# ---------------------------------------------------------------------------------------------- the run


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except TradesigError as exc:
        return Check(name, "fail", exc.message, exc.hint)
    except OSError as exc:
        return Check(name, "fail", f"{type(exc).__name__}: {exc}")


def run_preflight(loaded: LoadedConfig, options: PreflightOptions, *, clock: Clock,
                  market_now: datetime | None = None) -> list[Check]:
    """All checks of :data:`CHECKS`, in order. ``clock``: wall time (token expiry, backup age); ``market_now``:
    the market's time (a sim's replay time; default ``clock.now()``), whose IST date is "today"."""
    from tradesig.broker.login import check_token
    from tradesig.calendar import get_calendar

    if options.sim_url:  # broker calls go to the sim
        kite = dataclasses.replace(loaded.settings.kite, root=options.sim_url.rstrip("/"))
        loaded = dataclasses.replace(loaded, settings=dataclasses.replace(loaded.settings, kite=kite))
    settings = loaded.settings
    today = ist_date(market_now or clock.now())
    checks: list[Check] = []

    def token() -> Check:
        result = check_token(loaded, "kite", clock=clock, sim_url=options.sim_url)
        return Check("token", "ok" if result.exit_code == 0 else "fail", result.message, result.fix)

    checks.append(_guard("token", token))
    url = (options.hub_url or f"http://{settings.hub.listen}").rstrip("/") + "/health"
    try:
        hub_token = Path(settings.hub.token_file).read_text(encoding="utf-8").strip() \
            if settings.hub.token_file else None
        health, error = fetch_health(url, hub_token)
    except OSError as exc:
        health, error = None, f"hub.token_file unreadable: {exc}"
    checks.extend(health_checks(health, error, url, options.max_tick_age))

    def instruments() -> Check:
        from tradesig.trade.service import live_broker

        book = live_broker(loaded, clock).instruments()
        missing = [s for s in settings.feed.symbols if not book.expiries(s, today)]
        if missing:
            return Check("instruments", "fail", f"instruments dump ({len(book)} contracts) has no option of "
                                                f"{', '.join(missing)} expiring on or after {today}",
                         "Kite publishes the dump daily before 08:30 IST; retry, or check the symbols in config")
        return Check("instruments", "ok", f"{len(book)} contracts; options of {', '.join(settings.feed.symbols)} "
                                          f"from {today}")

    checks.append(_guard("instruments", instruments))

    def calendar() -> Check:
        cal = get_calendar(loaded)
        return calendar_check(cal.covers, cal.last, today, options.calendar_horizon_days)

    checks.append(_guard("calendar", calendar))
    checks.append(_guard("disk", lambda: disk_check(shutil.disk_usage(_existing(loaded.home)).free,
                                                    day_need(loaded.home, options.min_free_bytes))))
    checks.append(_guard("backup", lambda: backup_check(options.backup_dir or loaded.home / "backups", clock.now(),
                                                        options.backup_max_age)))

    def positions() -> Check:
        if options.mode != "live":
            return Check("positions", "skip", "paper mode: no broker account to reconcile")
        from tradesig.trade.service import live_broker, load_state

        held = {p.tradingsymbol: p.quantity for p in live_broker(loaded, clock).positions() if p.quantity}
        engine_open = list((load_state(loaded.home, "live") or {}).get("open", []))
        diff = positions_diff(engine_open, held)
        if diff:
            return Check("positions", "fail", "engine and broker differ: " + "; ".join(diff),
                         "tradesig trade positions --mode live --source broker; square off or restart the engine "
                         "(it reconciles at start)")
        return Check("positions", "ok", f"{len(engine_open)} open baskets, broker agrees")

    checks.append(_guard("positions", positions))
    return checks


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


__all__ = ["Check", "PreflightOptions", "CHECKS", "run_preflight", "health_checks", "calendar_check", "disk_check",
           "positions_diff", "backup_check", "fetch_health", "day_need"]

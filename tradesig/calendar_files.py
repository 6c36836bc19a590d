"""The market calendar's files: the operator's ``calendar-overrides.toml`` and the data shipped with tradesig
(``tradesig/data/calendar.toml``: the exchange's holiday names 2019–2026 and the special sessions of 2019–2026 with
their hours and sources), both in one format (docs/calendar.md).

Format (TOML): ``[[holiday]]`` tables with ``date`` and ``name``; ``[[session]]`` tables with ``date``, ``name``
and optional IST wall times ``open``, ``close``, ``pre_open``, ``pre_open_match``, ``closing_end``,
``post_close_end`` (``HH:MM``), ``breaks`` (a list of ``["HH:MM", "HH:MM"]`` intervals without continuous
trading) and a free-text ``source``; an optional top-level ``extend_to`` date by which the operator asserts the
listed holidays cover days past exchange-calendars' end. A session may fall on a listed holiday (Muhurat trading
on Diwali): the day then has only that session. Parsing does no I/O beyond reading the one file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any

from tradesig.errors import ConfigError

__all__ = ["OVERRIDES_FILE", "SpecialSession", "Overrides", "parse_overrides", "load_overrides", "load_shipped",
           "merge_overrides", "shipped_holiday_names", "dist_info_version"]

OVERRIDES_FILE = "calendar-overrides.toml"
SHIPPED_FILE = "calendar.toml"


@dataclass(frozen=True)
class SpecialSession:
    """A listed session: its date, name and IST wall times (None: the regular time/offset applies); ``breaks``
    are (start, end) wall times without continuous trading; ``source`` the circular it comes from."""

    date: date
    name: str
    open: time | None = None
    close: time | None = None
    pre_open: time | None = None
    pre_open_match: time | None = None
    closing_end: time | None = None
    post_close_end: time | None = None
    breaks: tuple[tuple[time, time], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Overrides:
    """Contents of a calendar file (see docs/calendar.md): holidays by date (name), sessions by date."""

    path: Path | None = None
    holidays: dict[date, str] = field(default_factory=dict)
    sessions: dict[date, SpecialSession] = field(default_factory=dict)
    extend_to: date | None = None


def _parse_time(value: Any, where: str, problems: list[str]) -> time | None:
    if value is None:
        return None
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            parts = value.split(":")
            if len(parts) == 2:
                return time(int(parts[0]), int(parts[1]))
        except ValueError:
            pass
    problems.append(f"{where}: {value!r} is not an HH:MM time")
    return None


def _parse_day(value: Any, where: str, problems: list[str]) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.append(f"{where}: {value!r} is not a date (YYYY-MM-DD)")
    return None


_TIME_KEYS = ("open", "close", "pre_open", "pre_open_match", "closing_end", "post_close_end")
_SESSION_KEYS = {"date", "name", "breaks", "source", *_TIME_KEYS}


def _parse_breaks(value: Any, where: str, problems: list[str]) -> tuple[tuple[time, time], ...]:
    if value is None:
        return ()
    out = []
    if isinstance(value, list):
        for j, item in enumerate(value):
            if isinstance(item, list) and len(item) == 2:
                a, b = (_parse_time(v, f"{where}[{j}]", problems) for v in item)
                if a is not None and b is not None:
                    if a >= b:
                        problems.append(f"{where}[{j}]: break ends before it starts")
                    out.append((a, b))
                continue
            problems.append(f"{where}[{j}]: expected [\"HH:MM\", \"HH:MM\"]")
        return tuple(sorted(out))
    problems.append(f"{where}: expected a list of [\"HH:MM\", \"HH:MM\"] intervals")
    return ()


def parse_overrides(data: dict[str, Any], path: Path | None = None) -> Overrides:
    """Build :class:`Overrides` from the parsed TOML of a calendar file.

    Raises :class:`ConfigError` listing every problem (unknown keys, bad dates/times/breaks, a date listed twice).
    Phase times out of order are reported when the day's session is built (``MarketCalendar.session``).
    """
    problems: list[str] = []
    holidays: dict[date, str] = {}
    sessions: dict[date, SpecialSession] = {}
    for key in data:
        if key not in {"holiday", "session", "extend_to"}:
            problems.append(f"{key}: unknown key (known: holiday, session, extend_to)")
    extend_to = _parse_day(data["extend_to"], "extend_to", problems) if "extend_to" in data else None
    for i, item in enumerate(data.get("holiday", []) if isinstance(data.get("holiday", []), list) else []):
        where = f"holiday[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a table ([[holiday]])")
            continue
        for key in item:
            if key not in {"date", "name", "source"}:
                problems.append(f"{where}.{key}: unknown key (known: date, name, source)")
        day = _parse_day(item.get("date"), f"{where}.date", problems)
        if day is not None:
            if day in holidays:
                problems.append(f"{where}: {day} is listed twice")
            holidays[day] = str(item.get("name") or "holiday (override)")
    for i, item in enumerate(data.get("session", []) if isinstance(data.get("session", []), list) else []):
        where = f"session[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a table ([[session]])")
            continue
        for key in item:
            if key not in _SESSION_KEYS:
                problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(_SESSION_KEYS))})")
        day = _parse_day(item.get("date"), f"{where}.date", problems)
        times = {k: _parse_time(item.get(k), f"{where}.{k}", problems) for k in _TIME_KEYS}
        breaks = _parse_breaks(item.get("breaks"), f"{where}.breaks", problems)
        if day is None:
            continue
        if day in sessions:
            problems.append(f"{where}: {day} is listed twice")
        sessions[day] = SpecialSession(day, str(item.get("name") or "special session"), **times, breaks=breaks,
                                       source=str(item.get("source") or ""))
    for key in ("holiday", "session"):
        if key in data and not isinstance(data[key], list):
            problems.append(f"{key}: expected an array of tables ([[{key}]])")
    if problems:
        where = str(path) if path else OVERRIDES_FILE
        raise ConfigError(f"{where}: {len(problems)} problem(s): " + "; ".join(problems),
                          "fix the file (format: docs/calendar.md)", [f"{where}: {p}" for p in problems])
    return Overrides(path, holidays, sessions, extend_to)


def load_overrides(path: Path) -> Overrides:
    """Read ``calendar-overrides.toml``; an absent file means no overrides. Raises :class:`ConfigError` (also for
    a file that is not UTF-8 or nests too deeply: one line, via :func:`tradesig.config.read_toml`)."""
    from tradesig.config import read_toml

    if not (path.exists() or path.is_symlink()):
        return Overrides(path)
    return parse_overrides(read_toml(path, "fix the file (format: docs/calendar.md)"), path)


_SHIPPED: Overrides | None = None


def load_shipped() -> Overrides:
    """The calendar data shipped with tradesig (``tradesig/data/calendar.toml``), parsed once per process."""
    global _SHIPPED
    if _SHIPPED is None:
        text = resources.files("tradesig").joinpath("data", SHIPPED_FILE).read_text(encoding="utf-8")
        _SHIPPED = parse_overrides(tomllib.loads(text), Path("tradesig/data") / SHIPPED_FILE)
    return _SHIPPED


def shipped_holiday_names() -> dict[str, str]:
    """``{"YYYY-MM-DD": name}`` of the exchange holidays named in the shipped data (display only: which days are
    holidays comes from exchange-calendars and the override file)."""
    return {d.isoformat(): name for d, name in load_shipped().holidays.items()}


def merge_overrides(shipped: Overrides, user: Overrides) -> Overrides:
    """The shipped special sessions with the operator's file on top (date by date: the operator's session or
    holiday replaces a shipped session of that date). Holiday names of the shipped data are not holidays here
    (exchange-calendars decides those); the operator's holidays and ``extend_to`` are kept."""
    sessions = {d: s for d, s in shipped.sessions.items() if d not in user.holidays}
    sessions.update(user.sessions)
    return Overrides(user.path, dict(user.holidays), sessions, user.extend_to)


def dist_info_version(package: str) -> str | None:
    """``Version:`` of the one ``<package>-*.dist-info/METADATA`` in the directory that holds ``package`` (what
    ``importlib.metadata.version`` reads), or None when there is not exactly one (then ask importlib.metadata)."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    site = Path(spec.origin).parent.parent
    try:
        infos = [e.path for e in os.scandir(site) if e.name.startswith(f"{package}-") and e.name.endswith(".dist-info")]
        if len(infos) != 1:
            return None
        with open(Path(infos[0]) / "METADATA", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break
                if line.startswith("Version:"):
                    return line[len("Version:"):].strip()
    except OSError:
        return None
    return None

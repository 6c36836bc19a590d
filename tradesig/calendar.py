"""The market calendar: trading days, session phases, next open, holidays and weekly expiries (IST).

Sources and rules:

- Trading days come from exchange-calendars' ``XBOM`` calendar (BSE; NSE shares the equity-derivatives holiday
  list). Its data ends on 2026-12-31: past the end of coverage every question raises
  :class:`~tradesig.errors.CalendarCoverageError` (exit 255), never a guessed "trading day".
- exchange-calendars needs pandas, which is slow to import. The derived facts (coverage, weekday holidays, weekend
  sessions) are cached as a small JSON file so the common path (``calendar is-trading-day`` in a systemd
  ``ExecCondition=`` every morning) imports neither pandas nor exchange-calendars. Cache directory:
  ``$CACHE_DIRECTORY`` (systemd ``CacheDirectory=``), else ``$XDG_CACHE_HOME/tradesig``, else
  ``~/.cache/tradesig``; the file name carries the exchange-calendars version, so an upgrade rebuilds it.
  Where no cache directory is writable the facts are rebuilt in memory (slower, still correct).
- Session phases (NSE/BSE equity and equity-derivatives market timings, IST): pre-open order entry 09:00–09:08,
  order matching and buffer 09:08–09:15, continuous trading 09:15–15:30, closing session 15:30–15:40,
  post-close 15:40–16:00. The regular times are configurable (``[session]`` in the config).
- Overrides (``calendar-overrides.toml`` in the config directory; format in docs/calendar.md): extra holidays,
  special sessions (Muhurat trading, Saturday budget sessions) with their own hours, and an optional ``extend_to``
  date by which the operator asserts the listed holidays cover days past exchange-calendars' end.
- Weekly expiry: NSE (NIFTY, BANKNIFTY) Tuesday, BSE SENSEX Thursday (NSE/BSE circulars effective September
  2025); a holiday moves the expiry to the previous trading day (shared/SIGNALS.md, DESIGN.md "Market facts").

All datetimes taken and returned are timezone-aware; naive datetimes are refused (``ValueError``). Dates are IST
calendar dates. Results do not depend on the host's ``TZ``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradesig.calendar_files import (
    OVERRIDES_FILE,
    Overrides,
    SpecialSession,
    load_overrides,
    load_shipped,
    merge_overrides,
    parse_overrides,
    shipped_holiday_names,
)
from tradesig.clock import IST
from tradesig.errors import CalendarCoverageError, ConfigError

if TYPE_CHECKING:
    from tradesig.config import LoadedConfig, SessionSettings

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
XC_CALENDAR = "XBOM"

#: Names of the exchange holidays (display only), from the shipped data: NSE's yearly trading-holiday circulars
#: for 2019–2026 (tradesig/data/calendar.toml).
HOLIDAY_NAMES: dict[str, str] = shipped_holiday_names()
UNNAMED_HOLIDAY = "exchange holiday"

# Offsets of a special session's phases from its open/close when the override file gives only open and close:
# the same as a regular session (pre-open 15 min and matching 7 min before the open; closing session 10 min and
# post-close 30 min after the close).
_PRE_OPEN_LEAD = timedelta(minutes=15)
_MATCH_LEAD = timedelta(minutes=7)
_CLOSING_LAG = timedelta(minutes=10)
_POST_CLOSE_LAG = timedelta(minutes=30)


class Phase(Enum):
    """Session phase at an instant (IST boundaries; each phase includes its start and excludes its end)."""

    CLOSED = "CLOSED"
    PRE_OPEN = "PRE_OPEN"  # pre-open order entry, 09:00–09:08
    PRE_OPEN_MATCH = "PRE_OPEN_MATCH"  # pre-open order matching and buffer, 09:08–09:15
    OPEN = "OPEN"  # continuous trading, 09:15–15:30
    CLOSING = "CLOSING"  # closing session, 15:30–15:40
    POST_CLOSE = "POST_CLOSE"  # post-close session, 15:40–16:00


@dataclass(frozen=True)
class SessionHours:
    """One day's session: aware IST datetimes of each phase start, in order.

    ``open``/``close`` bound continuous trading; ``pre_open`` ≤ ``pre_open_match`` ≤ ``open`` < ``close`` ≤
    ``closing_end`` ≤ ``post_close_end``. ``name`` is "regular" or the special session's name (e.g.
    "Muhurat trading"); ``special`` is True for sessions from the override file.
    """

    date: date
    pre_open: datetime
    pre_open_match: datetime
    open: datetime
    close: datetime
    closing_end: datetime
    post_close_end: datetime
    name: str = "regular"
    special: bool = False
    breaks: tuple[tuple[datetime, datetime], ...] = ()
    source: str = ""

    def boundaries(self) -> list[tuple[datetime, Phase]]:
        """``[(start, phase), ...]``: the instants at which the phase changes, in time order. A break
        ``(start, end)`` is CLOSED from its start, then a pre-open of its last 15 minutes (matching in the last
        7) before continuous trading resumes at its end."""
        out = [
            (self.pre_open, Phase.PRE_OPEN),
            (self.pre_open_match, Phase.PRE_OPEN_MATCH),
            (self.open, Phase.OPEN),
        ]
        for start, end in self.breaks:
            out += [(start, Phase.CLOSED), (end - _PRE_OPEN_LEAD, Phase.PRE_OPEN),
                    (end - _MATCH_LEAD, Phase.PRE_OPEN_MATCH), (end, Phase.OPEN)]
        return out + [
            (self.close, Phase.CLOSING),
            (self.closing_end, Phase.POST_CLOSE),
            (self.post_close_end, Phase.CLOSED),
        ]

    def phase_at(self, ts: datetime) -> Phase:
        """The phase at aware ``ts`` (CLOSED outside this session)."""
        current = Phase.CLOSED
        for start, phase in self.boundaries():
            if ts >= start:
                current = phase
        return current

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ISO IST datetimes, ``name``, ``special``."""
        out: dict[str, Any] = {"date": self.date.isoformat(), "name": self.name, "special": self.special}
        for key in ("pre_open", "pre_open_match", "open", "close", "closing_end", "post_close_end"):
            out[key] = getattr(self, key).isoformat()
        if self.breaks:
            out["breaks"] = [[a.isoformat(), b.isoformat()] for a, b in self.breaks]
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class BaseCalendar:
    """Facts derived from exchange-calendars: coverage ``[first, last]``, weekday holidays, weekend sessions."""

    source: str
    first: date
    last: date
    holidays: frozenset[date]
    weekend_sessions: frozenset[date]


@dataclass(frozen=True)
class TradingDay:
    """The answer about one IST date: ``session`` (None when closed) and ``reason`` ("weekend", the holiday's
    name, or the session's name)."""

    date: date
    session: SessionHours | None
    reason: str

    @property
    def trading(self) -> bool:
        return self.session is not None


@dataclass(frozen=True)
class MarketStatus:
    """The market at an instant: ``at`` (aware IST), ``phase``, the day's ``session`` (None when closed all day),
    the ``next_phase`` and its start ``next_change`` (aware IST)."""

    at: datetime
    phase: Phase
    session: SessionHours | None
    next_phase: Phase
    next_change: datetime

    @property
    def seconds_to_next(self) -> int:
        """Whole seconds from ``at`` to ``next_change``."""
        return int((self.next_change - self.at).total_seconds())


# ------------------------------------------------------------------------------------------------ base facts


def _xc_version() -> str:
    """The installed exchange-calendars version ("absent" when it is not installed), without importing it (it
    imports pandas) and, where its ``.dist-info`` sits beside it, without ``importlib.metadata`` (which scans
    every installed distribution: 20-80 ms of every command that reads the calendar)."""
    from tradesig.calendar_files import dist_info_version

    fast = dist_info_version("exchange_calendars")
    if fast is not None:
        return fast
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("exchange-calendars")
    except PackageNotFoundError:
        return "absent"


def cache_dir(env: dict[str, str] | None = None) -> Path:
    """Where the derived calendar is cached: ``$CACHE_DIRECTORY`` (first entry), ``$XDG_CACHE_HOME/tradesig``,
    else ``~/.cache/tradesig``."""
    env = dict(os.environ) if env is None else env
    systemd = (env.get("CACHE_DIRECTORY") or "").split(":")[0]
    if systemd:
        return Path(systemd)
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tradesig"


def cache_path(directory: Path | None = None) -> Path:
    """The cache file for the installed exchange-calendars version."""
    return (directory or cache_dir()) / f"calendar-{XC_CALENDAR.lower()}-{_xc_version()}-v{CACHE_FORMAT}.json"


def build_base_calendar() -> BaseCalendar:
    """Derive :class:`BaseCalendar` from exchange-calendars (imports pandas: slow, ~1 s).

    Raises :class:`CalendarCoverageError` when exchange-calendars is not installed.
    """
    try:
        import exchange_calendars as xc
    except ImportError as exc:
        raise CalendarCoverageError("exchange-calendars is not installed: no market calendar data",
                                    "pip install exchange-calendars") from exc
    import warnings

    with warnings.catch_warnings():  # pandas deprecation warnings raised inside exchange-calendars itself
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        cls = type(xc.get_calendar(XC_CALENDAR))
        cal = xc.get_calendar(XC_CALENDAR, start=cls.bound_min())
        sessions = {ts.date() for ts in cal.sessions}
        first, last = cal.first_session.date(), cal.last_session.date()
    holidays = set()
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in sessions:
            holidays.add(day)
        day += timedelta(days=1)
    weekend = {d for d in sessions if d.weekday() >= 5}
    return BaseCalendar(f"exchange-calendars {_xc_version()} {XC_CALENDAR}", first, last,
                        frozenset(holidays), frozenset(weekend))


def _base_to_json(base: BaseCalendar) -> str:
    return json.dumps({
        "format": CACHE_FORMAT, "source": base.source, "first": base.first.isoformat(),
        "last": base.last.isoformat(), "holidays": sorted(d.isoformat() for d in base.holidays),
        "weekend_sessions": sorted(d.isoformat() for d in base.weekend_sessions),
    }, indent=0)


def _base_from_json(text: str) -> BaseCalendar:
    data = json.loads(text)
    if data.get("format") != CACHE_FORMAT:
        raise ValueError("cache format changed")
    return BaseCalendar(
        data["source"], date.fromisoformat(data["first"]), date.fromisoformat(data["last"]),
        frozenset(date.fromisoformat(d) for d in data["holidays"]),
        frozenset(date.fromisoformat(d) for d in data["weekend_sessions"]),
    )


def load_base_calendar(directory: Path | None = None) -> BaseCalendar:
    """The exchange-calendars facts, from the JSON cache when valid (no pandas import), else rebuilt and cached.

    A corrupt cache is rebuilt; an unwritable cache directory is logged and the facts kept in memory.
    """
    path = cache_path(directory)
    try:
        return _base_from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("calendar cache %s unusable (%s); rebuilding", path, exc)
    base = build_base_calendar()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calendar-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_base_to_json(base))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("calendar cache %s not written (%s)", path, exc)
    return base


# ------------------------------------------------------------------------------------------------ calendar


def _hhmm(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def _at(day: date, wall: time) -> datetime:
    return datetime.combine(day, wall, tzinfo=IST)


def _require_aware(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()} has no time zone")
    return ts.astimezone(IST)


class MarketCalendar:
    """Trading days and session phases of NSE/BSE (IST).

    ``base``: exchange-calendars facts; ``overrides``: the override file; ``session``: regular phase times
    (``SessionSettings``; None: 09:00/09:08/09:15/15:30/15:40/16:00). Every method raises
    :class:`CalendarCoverageError` (exit 255) for a date outside the covered range, and ``ValueError`` for a
    naive datetime.
    """

    def __init__(self, base: BaseCalendar, overrides: Overrides | None = None,
                 session: SessionSettings | None = None) -> None:
        from tradesig.config import SessionSettings

        self.base = base
        self.overrides = overrides or Overrides()
        s = session or SessionSettings()
        self._regular = tuple(_hhmm(t) for t in (s.pre_open, s.pre_open_match, s.open, s.close,
                                                 s.closing_end, s.post_close_end))
        last = base.last
        if self.overrides.extend_to and self.overrides.extend_to > last:
            last = self.overrides.extend_to
        self.first = base.first
        self.last = last

    # -- coverage
    def _check(self, d: date) -> None:
        if not (self.first <= d <= self.last):
            where = str(self.overrides.path) if self.overrides.path else OVERRIDES_FILE
            raise CalendarCoverageError(
                f"no market calendar data for {d.isoformat()} ({self.base.source} covers "
                f"{self.first.isoformat()} to {self.last.isoformat()})",
                f"upgrade exchange-calendars (pip install -U exchange-calendars), or list that year's holidays "
                f"in {where} and set extend_to (docs/calendar.md)",
            )

    def covers(self, d: date) -> bool:
        """True when ``d`` is inside the covered range (no exception)."""
        return self.first <= d <= self.last

    # -- days
    def is_trading_day(self, d: date) -> bool:
        """True when the exchange holds a session (regular or special) on IST date ``d``."""
        self._check(d)
        if d in self.overrides.sessions:
            return True
        if d in self.overrides.holidays:
            return False
        if d > self.base.last:  # covered only by the operator's extend_to: weekdays minus listed holidays
            return d.weekday() < 5
        if d.weekday() >= 5:
            return d in self.base.weekend_sessions
        return d not in self.base.holidays

    def session(self, d: date) -> SessionHours | None:
        """The session of IST date ``d`` (aware IST datetimes), or None on a non-trading day."""
        if not self.is_trading_day(d):
            return None
        reg = [_at(d, t) for t in self._regular]
        special = self.overrides.sessions.get(d)
        if special is None:
            return SessionHours(d, *reg)
        open_ = _at(d, special.open) if special.open else reg[2]
        close = _at(d, special.close) if special.close else reg[3]
        if special.open is None and special.close is None:
            defaults = reg
        else:
            defaults = [open_ - _PRE_OPEN_LEAD, open_ - _MATCH_LEAD, open_, close, close + _CLOSING_LAG,
                        close + _POST_CLOSE_LAG]
        values = [
            _at(d, special.pre_open) if special.pre_open else defaults[0],
            _at(d, special.pre_open_match) if special.pre_open_match else defaults[1],
            open_, close,
            _at(d, special.closing_end) if special.closing_end else defaults[4],
            _at(d, special.post_close_end) if special.post_close_end else defaults[5],
        ]
        breaks = tuple((_at(d, a), _at(d, b)) for a, b in special.breaks)
        inner = [t for a, b in breaks for t in (a, b - _PRE_OPEN_LEAD)]
        ordered = values[:3] + inner + values[3:]
        if any(a > b for a, b in zip(ordered, ordered[1:], strict=False)) or not values[2] < values[3]:
            raise ConfigError(f"special session {d}: phase times out of order",
                              f"fix {self.overrides.path or OVERRIDES_FILE} (pre_open ≤ pre_open_match ≤ open "
                              "< breaks (each 15 min or longer) < close ≤ closing_end ≤ post_close_end)")
        return SessionHours(d, *values, name=special.name, special=True, breaks=breaks, source=special.source)

    def _holiday_session(self, d: date) -> bool:
        """A special session held on an exchange holiday (Muhurat trading on Diwali): no expiry falls on it."""
        return d in self.overrides.sessions and (d in self.base.holidays or d in self.overrides.holidays)

    def day(self, d: date) -> TradingDay:
        """Whether ``d`` is a trading day, with its session or the reason it is not (holiday name, weekend)."""
        sess = self.session(d)
        if sess is not None:
            return TradingDay(d, sess, sess.name)
        if d in self.overrides.holidays:
            return TradingDay(d, None, self.overrides.holidays[d])
        if d.weekday() >= 5:
            return TradingDay(d, None, "weekend")
        return TradingDay(d, None, HOLIDAY_NAMES.get(d.isoformat(), UNNAMED_HOLIDAY))

    def status(self, ts: datetime) -> MarketStatus:
        """The :class:`MarketStatus` at aware ``ts``: phase now, the day's session, the next phase change."""
        local = _require_aware(ts)
        nxt, when = self.next_phase_change(local)
        return MarketStatus(local, self.phase(local), self.session(local.date()), nxt, when)

    def next_trading_day(self, d: date) -> date:
        """The first trading day strictly after ``d``."""
        day = d + timedelta(days=1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def previous_trading_day(self, d: date) -> date:
        """The last trading day strictly before ``d``."""
        day = d - timedelta(days=1)
        while not self.is_trading_day(day):
            day -= timedelta(days=1)
        return day

    def holidays(self, year: int) -> list[tuple[date, str]]:
        """Weekday holidays of ``year`` as ``[(date, name), ...]`` sorted by date (override holidays included).

        A holiday that has a special session (e.g. Diwali with Muhurat trading) stays listed, its name noting
        the session. Raises :class:`CalendarCoverageError` unless the whole year is covered.
        """
        self._check(date(year, 1, 1))
        self._check(date(year, 12, 31))
        found: dict[date, str] = {}
        for d in self.base.holidays:
            if d.year == year:
                found[d] = HOLIDAY_NAMES.get(d.isoformat(), UNNAMED_HOLIDAY)
        for d, name in self.overrides.holidays.items():
            if d.year == year:
                found[d] = name
        for d, sess in self.overrides.sessions.items():
            if d in found:
                hours = self.session(d)
                assert hours is not None
                found[d] = (f"{found[d]} (special session: {sess.name} "
                            f"{hours.open:%H:%M}-{hours.close:%H:%M})")
        return sorted(found.items())

    # -- instants
    def phase(self, ts: datetime) -> Phase:
        """The session phase at aware ``ts``."""
        local = _require_aware(ts)
        sess = self.session(local.date())
        return sess.phase_at(local) if sess else Phase.CLOSED

    def next_phase_change(self, ts: datetime) -> tuple[Phase, datetime]:
        """``(phase, start)``: the next phase after the one at ``ts`` and when it starts (aware IST).

        Searches forward across non-trading days; raises :class:`CalendarCoverageError` past coverage.
        """
        local = _require_aware(ts)
        day = local.date()
        sess = self.session(day)
        if sess is not None:
            for start, phase in sess.boundaries():
                if start > local:
                    return phase, start
        nxt = self.session(self.next_trading_day(day))
        assert nxt is not None
        return Phase.PRE_OPEN, nxt.pre_open

    def next_open(self, ts: datetime) -> datetime:
        """The next start of continuous trading strictly after ``ts`` (aware IST): today's open when ``ts`` is
        before it, else the next trading day's."""
        local = _require_aware(ts)
        sess = self.session(local.date())
        if sess is not None and local < sess.open:
            return sess.open
        nxt = self.session(self.next_trading_day(local.date()))
        assert nxt is not None
        return nxt.open

    def in_window(self, ts: datetime, start: time | None = None, end: time | None = None) -> bool:
        """True when ``ts`` falls on a trading day inside ``[start, end)`` IST wall time.

        Defaults: the day's pre-open start and closing-session end. On a special session with its own hours
        (Muhurat, …) the window is that session's pre-open..closing end whatever ``start``/``end`` say, so units
        scheduled for regular hours do not run a whole day around a one-hour evening session.
        """
        local = _require_aware(ts)
        sess = self.session(local.date())
        if sess is None:
            return False
        own_hours = sess.special and (sess.open.timetz(), sess.close.timetz()) != (
            self._regular[2].replace(tzinfo=IST), self._regular[3].replace(tzinfo=IST))
        lo = sess.pre_open if own_hours or start is None else _at(local.date(), start)
        hi = sess.closing_end if own_hours or end is None else _at(local.date(), end)
        return lo <= local < hi

    def weekly_expiry(self, symbol: str, d: date) -> date:
        """The nearest listed expiry on or after IST date ``d`` for ``symbol`` (any spelling of an index): the
        weekly expiry where the index has weeklies, else its monthly expiry (BANKNIFTY after 2024-11-13).

        Weekdays are the ones in force on each candidate (``tradesig.market.WEEKLY_EXPIRY`` and
        ``MONTHLY_EXPIRY``: today NSE Tuesday and SENSEX Thursday; NIFTY Thursday before September 2025, and so
        on); when that day is not a trading day (or only a Muhurat-style session on a holiday) the expiry moves to
        the previous trading day. If that moved expiry falls before ``d``, the following one is returned. Raises
        ``KeyError`` for an unknown symbol, :class:`CalendarCoverageError` past coverage.
        """
        from tradesig.market import monthly_expiry_nominal, weekly_expiry_weekday

        probe = d
        while True:
            if weekly_expiry_weekday(symbol, probe) is None:
                candidate = monthly_expiry_nominal(symbol, probe.year, probe.month)
                if candidate < probe:
                    nxt = date(probe.year + (probe.month == 12), probe.month % 12 + 1, 1)
                    candidate = monthly_expiry_nominal(symbol, nxt.year, nxt.month)
            else:  # the first day whose weekday is the weekly weekday in force on that day
                candidate = probe
                while weekly_expiry_weekday(symbol, candidate) not in (None, candidate.weekday()):
                    candidate += timedelta(days=1)
            expiry = candidate
            while not self.is_trading_day(expiry) or self._holiday_session(expiry):
                expiry -= timedelta(days=1)
            if expiry >= d:
                return expiry
            probe = candidate + timedelta(days=1)


# ------------------------------------------------------------------------------------------------ factory

_CACHE: dict[tuple[Any, ...], MarketCalendar] = {}


def overrides_path(loaded: LoadedConfig | None = None) -> Path:
    """``calendar-overrides.toml`` beside the config file (the config directory)."""
    from tradesig.config import default_config_path

    if loaded is not None and loaded.source is not None:
        return loaded.source.parent / OVERRIDES_FILE
    return default_config_path().parent / OVERRIDES_FILE


def get_calendar(loaded_config: LoadedConfig | None = None) -> MarketCalendar:
    """The market calendar for a loaded config (None: default paths and session times), cached per process.

    Reads the override file from the config directory. Raises :class:`ConfigError` for a bad override file,
    :class:`CalendarCoverageError` when exchange-calendars is absent and nothing is cached.
    """
    path = overrides_path(loaded_config)
    try:
        stamp: Any = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    session = loaded_config.settings.session if loaded_config is not None else None
    cdir = cache_dir()
    key = (str(path), stamp, session, str(cdir))
    cal = _CACHE.get(key)
    if cal is None:
        overrides = merge_overrides(load_shipped(), load_overrides(path))
        cal = MarketCalendar(load_base_calendar(cdir), overrides, session)
        _CACHE[key] = cal
    return cal


#: Days before the end of the calendar's coverage from which commands warn (config check, token-check, feed);
#: the environment variable ``TRADESIG_CALENDAR_WARN_DAYS`` overrides it (e.g. for a box that updates yearly).
HORIZON_WARN_DAYS = 45
WARN_DAYS_ENV = "TRADESIG_CALENDAR_WARN_DAYS"


def _warn_days() -> int:
    import os

    value = os.environ.get(WARN_DAYS_ENV, "").strip()
    try:
        return int(value) if value else HORIZON_WARN_DAYS
    except ValueError:
        return HORIZON_WARN_DAYS


def horizon_warning(cal: MarketCalendar, today: date, days: int | None = None) -> str | None:
    """One line warning that the calendar's coverage ends within ``days`` (default :data:`HORIZON_WARN_DAYS`) of
    IST date ``today`` (or has ended), saying how to extend it; None when coverage reaches further."""
    days = _warn_days() if days is None else days
    left = (cal.last - today).days
    if left > days:
        return None
    where = str(cal.overrides.path) if cal.overrides.path else OVERRIDES_FILE
    when = f"ends on {cal.last.isoformat()} ({left} days from {today.isoformat()})" if left >= 0 else (
        f"ended on {cal.last.isoformat()}")
    return (f"warning: the market calendar {when}; after it every calendar question exits 255. Add "
            f"{cal.last.year + 1}'s exchange holiday list to {where} ([[holiday]] date/name rows and "
            f"extend_to = {cal.last.year + 1}-12-31; docs/calendar.md) or upgrade exchange-calendars")


def check_calendar(loaded_config: LoadedConfig | None = None,
                   today: date | None = None) -> tuple[list[str], str | None]:
    """For ``config check`` and the other start-up checks: ``(problems, warning)``. ``problems`` lists what is
    wrong with the override file (bad TOML, keys, dates, times, phase order; empty when it is fine or absent);
    ``warning`` is :func:`horizon_warning` for IST date ``today`` (default: the system clock's), or None."""
    from tradesig.clock import SystemClock, ist_date

    today = today or ist_date(SystemClock().now())
    try:
        cal = get_calendar(loaded_config)
        for day in sorted(cal.overrides.sessions):
            if cal.covers(day):
                cal.session(day)
    except ConfigError as exc:
        return (exc.problems or [exc.message]), None
    except CalendarCoverageError as exc:
        return [], f"warning: {exc.message}"
    return [], horizon_warning(cal, today)


def special_session_minutes() -> dict[date, tuple[int, int, tuple[tuple[int, int], ...]]]:
    """The shipped special sessions as ``{date: (open, close, breaks)}`` in minutes after midnight IST (close
    and break ends exclusive), for bar classification (tradesig.store.bars). Regular phase times fill a session
    that gives none. Built once per shipped calendar (it is parsed once per process) and shared between
    callers: do not modify the dict returned."""
    global _SPECIAL_MINUTES
    shipped = load_shipped()
    if _SPECIAL_MINUTES is not None and _SPECIAL_MINUTES[0] is shipped:
        return _SPECIAL_MINUTES[1]
    out = {}
    for day, s in shipped.sessions.items():
        open_m = (s.open.hour * 60 + s.open.minute) if s.open else 9 * 60 + 15
        close_m = (s.close.hour * 60 + s.close.minute) if s.close else 15 * 60 + 30
        out[day] = (open_m, close_m, tuple((a.hour * 60 + a.minute, b.hour * 60 + b.minute) for a, b in s.breaks))
    _SPECIAL_MINUTES = (shipped, out)
    return out


#: (the shipped calendar it was built from, special_session_minutes' answer)
_SPECIAL_MINUTES: tuple[Any, dict[date, tuple[int, int, tuple[tuple[int, int], ...]]]] | None = None


__all__ = [
    "Phase", "SessionHours", "TradingDay", "MarketStatus", "MarketCalendar", "BaseCalendar", "Overrides",
    "SpecialSession", "get_calendar",
    "load_base_calendar", "build_base_calendar", "load_overrides", "parse_overrides", "overrides_path",
    "cache_dir", "cache_path", "HOLIDAY_NAMES", "OVERRIDES_FILE", "horizon_warning", "special_session_minutes",
    "check_calendar",
    "HORIZON_WARN_DAYS",
]

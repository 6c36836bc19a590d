"""Access-token records, their expiry rules, and the 0600 token file that ``feed`` hot-reloads.

One file per broker: ``<data home>/tokens/<broker>.json`` (``kite.json``, ``breeze.json``), mode 0600, in a 0700
directory. The file is replaced atomically (write a temporary file in the same directory, fsync it, ``os.replace``
it over the old one, fsync the directory), so a reader sees either the old complete file or the new complete file,
never a torn one. Readers (``feed``) detect a new login by :meth:`TokenStore.fingerprint` (inode, mtime in ns, size)
changing, then :meth:`TokenStore.load` it. Format and contract: ``docs/login.md``.

Expiry rules (all times computed from a login time that comes from an injected :class:`tradesig.clock.Clock`):

- **Kite**: an access token is valid until 06:00 IST on the next day (Kite Connect v3 docs, "User / Login flow":
  "the access_token ... is valid until 6 AM on the next day (regulatory requirement)"; Zerodha logs every session
  out in the daily 06:00 flush). Precisely: the first 06:00 IST strictly after the login time. For a login at or
  after 06:00 that is 06:00 on the next *calendar* day; a login between 00:00 and 06:00 dies at 06:00 the same
  morning. Trading days play no part: a Friday login dies on Saturday 06:00, a login on the eve of a holiday dies
  at 06:00 on the holiday. Consequence: a token never carries over a weekend or a holiday, so the human login must
  happen every trading day after 06:00 IST and before the feed starts (the 08:50 ``token-check`` timer catches a
  forgotten login before the 08:55 feed).
- **Breeze**: a session key is valid "for 24hrs or before midnight, whichever is earlier" (ICICI Direct, "What is
  a Session Key and how to generate it for using Breeze API?",
  https://www.icicidirect.com/futures-and-options/api/breeze/article/what-is-a-session-key-and-how-to-generate-it-for-using-breezeapi).
  Midnight always comes first, so: 00:00 IST at the start of the next calendar day.

Tokens are secrets: :class:`TokenRecord` never shows its token in ``repr``/``str``; nothing here logs one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets as _secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from tradesig.clock import IST, Clock, SystemClock, to_ist
from tradesig.errors import ConfigError, TokenError, redact

log = logging.getLogger(__name__)

BROKERS = ("kite", "breeze")
FILE_FORMAT = "tradesig-token"
FILE_VERSION = 1
KITE_EXPIRY_TIME_IST = time(6, 0)


# ------------------------------------------------------------------------------------------------- expiry rules


def kite_expiry(login_time: datetime) -> datetime:
    """Expiry of a Kite access token obtained at ``login_time`` (aware; naive is refused with ``ValueError``).

    Returns the first 06:00 IST strictly after ``login_time``, as an aware UTC datetime: 06:00 IST on the next
    calendar day for logins from 06:00 IST on (weekends and holidays do not matter), 06:00 the same morning for a
    login between 00:00 and 05:59:59 IST. Source: Kite Connect v3 docs (see module docstring).
    """
    local = to_ist(login_time)
    candidate = datetime.combine(local.date(), KITE_EXPIRY_TIME_IST, tzinfo=IST)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), KITE_EXPIRY_TIME_IST, tzinfo=IST)
    return candidate.astimezone(UTC)


def breeze_expiry(login_time: datetime) -> datetime:
    """Expiry of a Breeze session key generated at ``login_time`` (aware): 00:00 IST of the next calendar day,
    as aware UTC ("24 hours or midnight, whichever is earlier"; source in the module docstring)."""
    local = to_ist(login_time)
    return datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=IST).astimezone(UTC)


def expiry_for(broker: str, login_time: datetime) -> datetime:
    """The expiry rule of ``broker`` ("kite" or "breeze") applied to ``login_time``; ``ValueError`` otherwise."""
    if broker == "kite":
        return kite_expiry(login_time)
    if broker == "breeze":
        return breeze_expiry(login_time)
    raise ValueError(f"unknown broker {broker!r} (known: {', '.join(BROKERS)})")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``30m``, ``2h``, ``1h30m``, ``90s``, ``1d`` or a bare number of minutes ("45").

    Raises ``ValueError`` naming the text when it is not a duration.
    """
    value = text.strip().lower()
    if not value:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return timedelta(minutes=float(value))
    pos = 0
    total = timedelta(0)
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    for match in _DURATION.finditer(value):
        if match.start() != pos or value[pos:match.start()].strip():
            break
        total += timedelta(**{units[match.group(2)]: float(match.group(1))})
        pos = match.end()
    if pos != len(value) or pos == 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 2h, 1h30m, 90s)")
    return total


def format_remaining(delta: timedelta) -> str:
    """``19h 12m``, ``7m``, ``45s``, or ``expired 3h 5m ago`` for a negative ``delta`` (display only)."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return f"expired {format_remaining(-delta)} ago"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


_SECRET_PATTERNS = (
    re.compile(r"(token\s+[^\s:]+:)[^\s\"',}]+"),                     # Authorization: token key:TOKEN
    re.compile(r"((?:access_token|request_token|refresh_token|public_token|enctoken|session_token|"
               r"checksum|api_secret|SessionToken|API_Session)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]+)"),
)


def scrub(text: str, secrets: tuple[str | None, ...] | list[str | None] = ()) -> str:
    """``text`` with every given secret replaced by its :func:`~tradesig.errors.redact` form, and any value that
    looks like a token (``Authorization: token key:…``, ``access_token=…``, ``"checksum": "…"`` …) masked.
    Use on any broker message before it reaches an exception, a log line or the terminal."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, redact(secret))
    text = _SECRET_PATTERNS[0].sub(lambda m: m.group(1) + "…", text)
    return _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + redact(m.group(2)), text)


# ---------------------------------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class TokenRecord:
    """One broker session, as stored in the token file.

    - ``broker``: "kite" or "breeze".
    - ``api_key``: the app's public API key the token belongs to (a token is valid only with its own key).
    - ``access_token``: the secret (Kite access token; Breeze API session key). Hidden from ``repr``.
    - ``user_id`` / ``user_name``: who logged in (Kite client id such as "AB1234"; Breeze user id).
    - ``login_time``: when the session was created, aware UTC (from the injected clock at exchange time).
    - ``expires_at``: aware UTC, from :func:`kite_expiry` / :func:`breeze_expiry`.
    - ``root``: REST root the token was issued by (``https://api.kite.trade`` or a sim URL); "" when unknown.
    """

    broker: str
    api_key: str
    access_token: str = field(repr=False)
    user_id: str
    user_name: str
    login_time: datetime
    expires_at: datetime
    root: str = ""

    def __post_init__(self) -> None:
        if self.broker not in BROKERS:
            raise ValueError(f"unknown broker {self.broker!r}")
        for name in ("login_time", "expires_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"TokenRecord.{name} must be timezone-aware")

    def remaining(self, now: datetime) -> timedelta:
        """Time left before expiry at ``now`` (aware); negative once expired."""
        return self.expires_at - now

    def is_expired(self, now: datetime, margin: timedelta = timedelta(0)) -> bool:
        """True when fewer than ``margin`` remain at ``now`` (with the default margin: at or after expiry)."""
        return self.remaining(now) <= margin

    @property
    def redacted_token(self) -> str:
        """The token shown as ``abcd…wxyz`` (for diagnostics; never the whole token)."""
        return redact(self.access_token)

    def to_dict(self) -> dict[str, object]:
        """The token file's JSON object (times as ISO 8601 UTC strings). Contains the secret: write it only to
        the 0600 file."""
        return {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "broker": self.broker,
            "api_key": self.api_key,
            "access_token": self.access_token,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "login_time": self.login_time.astimezone(UTC).isoformat(),
            "expires_at": self.expires_at.astimezone(UTC).isoformat(),
            "expires_at_ist": to_ist(self.expires_at).isoformat(),
            "root": self.root,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TokenRecord:
        """Parse a token file's object; ``ValueError`` (never showing the token) when it is malformed."""
        if data.get("format") != FILE_FORMAT:
            raise ValueError(f"not a tradesig token file (format {data.get('format')!r})")
        if data.get("version") != FILE_VERSION:
            raise ValueError(f"unsupported token file version {data.get('version')!r} (this tradesig reads "
                             f"{FILE_VERSION})")
        missing = [k for k in ("broker", "api_key", "access_token", "user_id", "login_time", "expires_at")
                   if not isinstance(data.get(k), str) or not data.get(k)]
        if missing:
            raise ValueError(f"token file lacks {', '.join(missing)}")
        try:
            login_time = datetime.fromisoformat(str(data["login_time"]))
            expires_at = datetime.fromisoformat(str(data["expires_at"]))
        except ValueError as exc:
            raise ValueError(f"token file has a malformed time: {exc}") from None
        return cls(broker=str(data["broker"]), api_key=str(data["api_key"]),
                   access_token=str(data["access_token"]), user_id=str(data["user_id"]),
                   user_name=str(data.get("user_name") or ""), login_time=login_time, expires_at=expires_at,
                   root=str(data.get("root") or ""))


# ----------------------------------------------------------------------------------------------------- the store


class TokenStore:
    """The token files of a data home: ``home/tokens/<broker>.json``.

    ``clock`` decides expiry in :meth:`load` (default: the system clock). Errors:

    - :class:`~tradesig.errors.TokenError` (exit 1): no token file, a malformed one, or an expired token;
      the hint names the login command that fixes it.
    - :class:`~tradesig.errors.ConfigError` (exit 2): the file is accessible by group or others (refused, as
      ssh refuses a loose private key; hint: ``chmod 600``), or it cannot be read/written (OS error).
    """

    def __init__(self, home: Path | str, clock: Clock | None = None) -> None:
        self.home = Path(home)
        self.clock: Clock = clock or SystemClock()

    @property
    def directory(self) -> Path:
        return self.home / "tokens"

    def path(self, broker: str) -> Path:
        """``home/tokens/<broker>.json``; ``ValueError`` for an unknown broker."""
        if broker not in BROKERS:
            raise ValueError(f"unknown broker {broker!r} (known: {', '.join(BROKERS)})")
        return self.directory / f"{broker}.json"

    def exists(self, broker: str) -> bool:
        return self.path(broker).exists()

    def mtime(self, broker: str) -> float | None:
        """Modification time of the token file (POSIX seconds), None when there is none."""
        try:
            return self.path(broker).stat().st_mtime
        except FileNotFoundError:
            return None

    def fingerprint(self, broker: str) -> tuple[int, int, int] | None:
        """(inode, mtime_ns, size) of the token file, None when absent. Changes on every save (atomic replace
        gives a new inode), so a watcher compares fingerprints rather than mtimes alone."""
        try:
            st = self.path(broker).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def save(self, record: TokenRecord) -> Path:
        """Write ``record`` atomically with mode 0600 (directory 0700): temp file in the same directory,
        fsync, ``os.replace``, fsync of the directory. Returns the path. ConfigError on an OS error."""
        target = self.path(record.broker)
        directory = target.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(directory, 0o700)
            tmp = directory / f".{target.name}.{os.getpid()}.{_secrets.token_hex(4)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    os.fchmod(fh.fileno(), 0o600)
                    fh.write(json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise ConfigError(f"cannot write token file {target}: {exc.strerror or exc}",
                              f"check that the data home {self.home} is writable") from None
        log.info("stored %s token for %s in %s (expires %s)", record.broker, record.user_id, target,
                 to_ist(record.expires_at).strftime("%Y-%m-%d %H:%M IST"))
        return target

    def read(self, broker: str) -> TokenRecord:
        """The stored record whatever its expiry (permission and format checked). Errors as in the class doc."""
        target = self.path(broker)
        fix = f"run 'tradesig login --broker {broker}'"
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise TokenError(f"no {broker} token: {target} does not exist", fix) from None
        except OSError as exc:
            raise ConfigError(f"cannot read token file {target}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "r", encoding="utf-8") as fh:
            st = os.fstat(fh.fileno())
            mode = stat.S_IMODE(st.st_mode)
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"token file {target} is accessible by group/others (mode {mode:04o}); refused",
                                  f"run 'chmod 600 {target}' (or log in again to rewrite it)")
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise ConfigError(f"token file {target} belongs to uid {st.st_uid}, not to this user; refused",
                                  f"log in again as this user: {fix}")
            text = fh.read()
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            record = TokenRecord.from_dict(data)
        except (ValueError, json.JSONDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise TokenError(f"token file {target} is unreadable: {reason}", fix) from None
        if record.broker != broker:
            raise TokenError(f"token file {target} holds a {record.broker} token, not {broker}", fix)
        return record

    def load(self, broker: str, margin: timedelta = timedelta(0)) -> TokenRecord:
        """The stored record if it is still valid at ``clock.now()`` with at least ``margin`` left.

        Raises TokenError (missing, malformed, expired or expiring within ``margin``) or ConfigError (loose
        permissions, unreadable), never showing the token.
        """
        record = self.read(broker)
        now = self.clock.now()
        if record.is_expired(now, margin):
            when = to_ist(record.expires_at).strftime("%Y-%m-%d %H:%M IST")
            what = "expired" if now >= record.expires_at else f"expires within {format_remaining(margin)}"
            raise TokenError(f"the {broker} token of {record.user_id} {what} ({when})",
                             f"run 'tradesig login --broker {broker}'")
        return record

    def remove(self, broker: str) -> bool:
        """Delete the token file (a logout); True if there was one."""
        try:
            self.path(broker).unlink()
        except FileNotFoundError:
            return False
        return True


__all__ = [
    "BROKERS", "TokenRecord", "TokenStore", "kite_expiry", "breeze_expiry", "expiry_for", "parse_duration",
    "format_remaining", "scrub",
]

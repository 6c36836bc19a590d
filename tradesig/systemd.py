"""systemd units, timers and the cron file: rendering, installation, alerts and the outbox mailer.

The canonical templates live in the package (``tradesig/units/systemd/``, ``tradesig/units/cron/tradesig``), so a
wheel carries them. A template is rendered by:

- replacing ``@BIN@`` with the absolute path of the ``tradesig`` executable;
- keeping lines prefixed ``#@system `` (prefix removed) and dropping lines prefixed ``#@user `` for system units
  (``/etc/systemd/system``), and the other way round for user units (``systemctl --user``).

``hardening.conf`` becomes ``<unit>.d/10-hardening.conf`` for every service except the sendmail helper
(:data:`UNHARDENED`); ``credentials.conf`` becomes ``<unit>.d/20-credentials.conf`` for the units in
:data:`CREDENTIAL_UNITS`. The repository's top-level ``systemd/`` and ``cron/`` are this rendering with
:data:`REFERENCE_BIN` (a test keeps them identical).

Mail: hardened units never run sendmail (setuid/setgid programs need new privileges). The report and the
``OnFailure=`` alert write ``*.eml`` files atomically into the outbox (``<state dir>/tradesig/outbox``);
``tradesig-mail.path`` starts ``tradesig-mail.service``, which hands each to sendmail (:func:`send_outbox`).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from importlib.resources import files
from pathlib import Path

from tradesig.clock import IST
from tradesig.errors import ConfigError, TradesigError

log = logging.getLogger(__name__)

#: ``tradesig`` path used for the committed top-level ``systemd/`` and ``cron/`` (docs/operations.md installs
#: into this virtual environment).
REFERENCE_BIN = "/opt/tradesig/venv/bin/tradesig"
#: The sendmail helper: no hardening drop-in (sendmail programs are setuid/setgid; see the module docstring).
UNHARDENED = frozenset({"tradesig-mail.service"})
#: Units that get the ``LoadCredential=`` drop-in (they may resolve ``secret:kite_api_secret``).
CREDENTIAL_UNITS = ("tradesig-token-check.service", "tradesig-feed.service", "tradesig-trade.service")
#: Units ``systemd install --enable`` enables and starts.
ENABLE_UNITS = (
    "tradesig-token-check.timer", "tradesig-feed.timer", "tradesig-preflight.timer", "tradesig-trade.timer",
    "tradesig-market-close.timer", "tradesig-report.timer", "tradesig-backup.timer", "tradesig-mail.path",
)
SENDMAIL = ("/usr/sbin/sendmail", "-t", "-oi")
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")

#: What each unit's failure alert means and what to do (also the table in docs/operations.md).
ALERT_MEANINGS: dict[str, tuple[str, str]] = {
    "tradesig-token-check": (
        "The Kite access token is missing, expired or rejected (exit 1), the broker is unreachable (exit 3), "
        "or the market calendar has no data for today (exit 255).",
        "Log in now: 'tradesig login' (the token is valid until 06:00 IST tomorrow), then "
        "'systemctl start tradesig-token-check'. For exit 255, upgrade exchange-calendars or extend "
        "calendar-overrides.toml.",
    ),
    "tradesig-feed": (
        "The market-data feed kept failing and systemd stopped restarting it (start limit hit), or its watchdog "
        "expired; ticks are not being recorded and the engine stopped with it.",
        "Read 'journalctl -u tradesig-feed -b'. Check the token ('tradesig token-check') and the network, then "
        "'systemctl reset-failed tradesig-feed; systemctl start tradesig-feed tradesig-trade'.",
    ),
    "tradesig-preflight": (
        "A morning preflight check failed (the alert's journal lines name each failing check and what to do): "
        "token, ticker, ticks, instruments, calendar, disk, backup or positions.",
        "Fix the failing checks, then run 'tradesig preflight' by hand until every line says ok.",
    ),
    "tradesig-trade": (
        "The strategy engine failed repeatedly; positions may be open without supervision.",
        "Check 'tradesig trade positions'; square off by hand or with 'tradesig trade flatten' if needed; read "
        "'journalctl -u tradesig-trade -b' before restarting it.",
    ),
    "tradesig-market-close": (
        "The end-of-session job failed: the day's positions could not be listed.",
        "Run 'tradesig trade positions' by hand and check for positions carried overnight.",
    ),
    "tradesig-report": (
        "The daily report could not be produced; no report mail today.",
        "Run 'tradesig report daily' by hand to see the error; 'systemctl start tradesig-report' to retry.",
    ),
    "tradesig-backup": (
        "The nightly backup or prune failed; the newest verified backup is older than a day.",
        "Read 'journalctl -u tradesig-backup'; check free space; 'systemctl start tradesig-backup' to retry.",
    ),
}


@dataclass(frozen=True)
class InstallResult:
    """What ``systemd install`` did: files written, systemctl command lines run."""

    unit_dir: Path
    written: list[Path]
    commands: list[list[str]]


# ------------------------------------------------------------------------------------------------ rendering


def _templates() -> dict[str, str]:
    root = files("tradesig") / "units" / "systemd"
    return {entry.name: entry.read_text(encoding="utf-8") for entry in root.iterdir() if entry.is_file()}


def _render_text(text: str, *, bin_path: str, user: bool) -> str:
    keep, drop = ("#@user ", "#@system ") if user else ("#@system ", "#@user ")
    lines = []
    for line in text.splitlines():
        if line.startswith(drop):
            continue
        if line.startswith(keep):
            line = line[len(keep):]
        lines.append(line.replace("@BIN@", bin_path))
    return "\n".join(lines) + "\n"


def render_units(*, bin_path: str, user: bool = False) -> dict[str, str]:
    """All unit files and drop-ins, as ``{relative path: content}`` (pure; nothing written).

    ``bin_path`` must be absolute (systemd requires it; ``ConfigError`` otherwise). ``user`` renders for the
    per-user manager (no ``User=``, home read-only instead of hidden).
    """
    if not os.path.isabs(bin_path):
        raise ConfigError(f"--bin {bin_path!r} is not an absolute path", "systemd needs absolute executables")
    templates = _templates()
    hardening = templates.pop("hardening.conf")
    credentials = templates.pop("credentials.conf")
    out: dict[str, str] = {}
    for name, text in sorted(templates.items()):
        out[name] = _render_text(text, bin_path=bin_path, user=user)
        if name.endswith(".service") and name not in UNHARDENED:
            out[f"{name}.d/10-hardening.conf"] = _render_text(hardening, bin_path=bin_path, user=user)
        if name in CREDENTIAL_UNITS:
            out[f"{name}.d/20-credentials.conf"] = _render_text(credentials, bin_path=bin_path, user=user)
    return out


def render_cron(*, bin_path: str) -> str:
    """The ``/etc/cron.d/tradesig`` file for ``bin_path`` (same schedule as the timers; IST via CRON_TZ)."""
    text = (files("tradesig") / "units" / "cron" / "tradesig").read_text(encoding="utf-8")
    return text.replace("@BIN@", bin_path)


def write_tree(out: Path, rendered: dict[str, str]) -> list[Path]:
    """Write ``{relative path: content}`` under ``out`` (mode 0644, directories 0755); returns the paths.

    Raises :class:`ConfigError` naming the path when it cannot be written (permissions, a file in the way).
    """
    written = []
    for rel, text in sorted(rendered.items()):
        path = out / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}",
                              "run as root for system units, or use --user / another --out") from None
        written.append(path)
    return written


def default_bin() -> str:
    """The absolute path of the running ``tradesig`` executable, else ``tradesig`` on ``$PATH``, else the one
    beside this Python."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "tradesig" and argv0.exists():
        return str(argv0.absolute())
    found = shutil.which("tradesig")
    if found:
        return str(Path(found).absolute())
    return str(Path(sys.executable).parent / "tradesig")


def user_unit_dir(env: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``)."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def install(*, user: bool, enable: bool, bin_path: str, unit_dir: Path | None = None,
            systemctl: str = "systemctl", run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
            check_account: bool = True) -> InstallResult:
    """Write the rendered units into the unit directory, ``daemon-reload``, and with ``enable`` enable and
    start the timers and the outbox path unit.

    System mode needs the ``tradesig`` account (``ConfigError`` naming the ``useradd`` command otherwise) and
    root. A failing ``systemctl`` raises :class:`TradesigError` with its stderr.
    """
    if not user and check_account:
        import pwd

        try:
            pwd.getpwnam("tradesig")
        except KeyError:
            raise ConfigError("the system account 'tradesig' does not exist",
                              "useradd --system --home-dir /var/lib/tradesig --shell /usr/sbin/nologin tradesig "
                              "(docs/operations.md)") from None
    target = unit_dir or (user_unit_dir() if user else SYSTEM_UNIT_DIR)
    if not Path(bin_path).exists():
        raise ConfigError(f"{bin_path} does not exist", "pass --bin with the installed tradesig executable")
    written = write_tree(target, render_units(bin_path=bin_path, user=user))
    base = [systemctl] + (["--user"] if user else [])
    commands = [base + ["daemon-reload"]]
    if enable:
        commands.append(base + ["enable", "--now", *ENABLE_UNITS])
    for cmd in commands:
        try:
            done = run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise TradesigError(f"{systemctl} not found", "is this host running systemd? see cron/tradesig") from None
        if done.returncode != 0:
            raise TradesigError(f"'{' '.join(cmd)}' failed (exit {done.returncode}): {done.stderr.strip()}")
    return InstallResult(target, written, commands)


# ------------------------------------------------------------------------------------------------ alerts


def _base_unit(unit: str) -> str:
    name = unit.rsplit(".", 1)[0] if unit.endswith((".service", ".timer")) else unit
    return name.split("@", 1)[0]


def collect_journal(unit: str, *, user: bool = False, lines: int = 40,
                    run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str:
    """The last ``lines`` journal lines of ``unit`` this boot (``journalctl``), or a note why there are none."""
    cmd = ["journalctl", "--user-unit" if user else "--unit", unit, "-b", "-n", str(lines), "--no-pager",
           "-o", "short-iso"]
    try:
        done = run(cmd, capture_output=True, text=True, check=False, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return f"(journal unavailable: {exc})"
    text = done.stdout.strip() or done.stderr.strip()
    return text or "(no journal lines)"


def alert_message(unit: str, *, journal: str, mail_to: str, mail_from: str, hostname: str,
                  now: datetime) -> EmailMessage:
    """The alert mail for failed ``unit``: subject names host and unit; body says what it means, what to do,
    and quotes the journal. ``now`` is aware (shown in IST). ``mail_to`` empty: ``root``."""
    meaning, action = ALERT_MEANINGS.get(
        _base_unit(unit), ("A tradesig unit failed.", f"Read 'journalctl -u {unit} -b'."))
    msg = EmailMessage()
    msg["Subject"] = f"[tradesig] {hostname}: {unit} failed"
    msg["From"] = mail_from or "tradesig@localhost"
    msg["To"] = mail_to or "root"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=hostname or "localhost")
    msg.set_content(
        f"{unit} failed on {hostname} at {now.astimezone(IST):%Y-%m-%d %H:%M:%S} IST.\n\n"
        f"What it means: {meaning}\n\nWhat to do: {action}\n\n"
        f"Status: systemctl status {unit}\nLog:    journalctl -u {unit} -b\n\n"
        f"Last journal lines:\n{journal}\n"
    )
    return msg


def queue_message(outbox: Path, msg: EmailMessage | bytes, stem: str) -> Path:
    """Write ``msg`` as ``outbox/<stem>.eml`` atomically (temp name without ``.eml``, then rename); mode 0600."""
    outbox.mkdir(parents=True, exist_ok=True)
    final = outbox / f"{stem}.eml"
    tmp = outbox / f".{stem}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(msg if isinstance(msg, bytes) else msg.as_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, final)
    return final


def queued_before(outbox: Path, stem: str) -> Path | None:
    """Where ``<stem>.eml`` already is — waiting in ``outbox``, mailed (``sent/``) or refused (``.eml.failed``) —
    or None: a caught-up job queues a day's message once."""
    for path in (outbox / f"{stem}.eml", outbox / "sent" / f"{stem}.eml", outbox / f"{stem}.eml.failed"):
        if path.exists():
            return path
    return None


def write_alert(unit: str, outbox: Path, *, mail_to: str, mail_from: str, now: datetime, user: bool = False,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                notify: Callable[[str, str], object] | None = None) -> Path:
    """Collect the unit's journal and queue its alert mail in ``outbox``; returns the ``.eml`` path. ``notify``
    (e.g. :func:`tradesig.alerts.send_alert` bound to the config) also gets ``(subject, body)`` of the same alert,
    after the mail is queued."""
    journal = collect_journal(unit, user=user, run=run)
    msg = alert_message(unit, journal=journal, mail_to=mail_to, mail_from=mail_from,
                        hostname=socket.gethostname(), now=now)
    stamp = now.astimezone(IST).strftime("%Y%m%dT%H%M%S")
    path = queue_message(outbox, msg, f"alert-{stamp}-{_base_unit(unit)}")
    if notify is not None:
        notify(f"{unit} failed", msg.get_content())
    return path


# ------------------------------------------------------------------------------------------------ mailer


def send_outbox(outbox: Path, sendmail: Sequence[str] = SENDMAIL,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> tuple[list[Path], list[Path]]:
    """Hand each ``outbox/*.eml`` (oldest first) to ``sendmail`` on stdin; move sent ones to ``outbox/sent/``,
    rename refused ones ``*.eml.failed``. Returns ``(sent, failed)`` paths (final locations)."""
    sent: list[Path] = []
    failed: list[Path] = []
    if not outbox.is_dir():
        return sent, failed
    for path in sorted(outbox.glob("*.eml"), key=lambda p: (p.stat().st_mtime, p.name)):
        with open(path, "rb") as fh:
            try:
                done = run(list(sendmail), stdin=fh, capture_output=True, check=False, timeout=300)
                ok, why = done.returncode == 0, (done.stderr or b"").decode(errors="replace").strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                ok, why = False, str(exc)
        if ok:
            (outbox / "sent").mkdir(exist_ok=True)
            dest = outbox / "sent" / path.name
            os.replace(path, dest)
            sent.append(dest)
            log.info("mailed %s", path.name)
        else:
            dest = path.with_name(path.name + ".failed")
            os.replace(path, dest)
            failed.append(dest)
            log.error("sendmail refused %s (%s); kept as %s", path.name, why or "no reason given", dest.name)
    return sent, failed


__all__ = [
    "render_units", "render_cron", "write_tree", "install", "InstallResult", "default_bin", "user_unit_dir",
    "alert_message", "collect_journal", "queue_message", "queued_before", "write_alert", "send_outbox",
    "ALERT_MEANINGS",
    "ENABLE_UNITS", "UNHARDENED", "CREDENTIAL_UNITS", "REFERENCE_BIN",
]

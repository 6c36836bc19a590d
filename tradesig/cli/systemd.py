"""``tradesig systemd``: render or install the units and timers; the alert and mail helpers the units run."""

from __future__ import annotations

from pathlib import Path

import typer

from tradesig.cli._common import app_context

app = typer.Typer(help="Render or install the systemd units and timers (and the cron file).", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)


def _bin(value: str | None) -> str:
    from tradesig.systemd import default_bin

    return str(Path(value).absolute()) if value else default_bin()


@app.command("render")
def render(
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Directory to write the units and drop-ins into."),
    user: bool = typer.Option(False, "--user", help="Units for the per-user manager (systemctl --user)."),
    bin_path: str = typer.Option(None, "--bin", metavar="PATH", help="tradesig executable the units run "
                                 "(default: this one)."),
    cron: Path = typer.Option(None, "--cron", metavar="FILE", help="Also write the cron.d file here."),
) -> None:
    """Write the unit files (timers, services, hardening and credential drop-ins) into DIR."""
    from tradesig.systemd import render_cron, render_units, write_tree

    exe = _bin(bin_path)
    written = write_tree(out, render_units(bin_path=exe, user=user))
    if cron is not None:
        written += write_tree(cron.parent, {cron.name: render_cron(bin_path=exe)})
    for path in written:
        typer.echo(str(path))


@app.command("install")
def install(
    user: bool = typer.Option(False, "--user", help="Install for the per-user manager (~/.config/systemd/user)."),
    enable: bool = typer.Option(False, "--enable", help="Also enable and start the timers and the outbox watcher."),
    bin_path: str = typer.Option(None, "--bin", metavar="PATH", help="tradesig executable the units run "
                                 "(default: this one)."),
    unit_dir: Path = typer.Option(None, "--unit-dir", metavar="DIR", help="Unit directory (default: "
                                  "/etc/systemd/system, or ~/.config/systemd/user with --user)."),
) -> None:
    """Write the units into the unit directory, run daemon-reload, and with --enable enable the timers."""
    from tradesig.systemd import install as do_install

    result = do_install(user=user, enable=enable, bin_path=_bin(bin_path), unit_dir=unit_dir)
    typer.echo(f"wrote {len(result.written)} files to {result.unit_dir}")
    for cmd in result.commands:
        typer.echo("ran: " + " ".join(cmd))
    if not enable:
        typer.echo("timers not enabled: run again with --enable, or 'systemctl enable --now tradesig-*.timer'")


@app.command("alert")
def alert(
    ctx: typer.Context,
    unit: str = typer.Argument(..., help="The failed unit (%i of tradesig-alert@.service)."),
    outbox: Path = typer.Option(..., "--outbox", metavar="DIR", help="Where to queue the alert mail."),
    user: bool = typer.Option(False, "--user", help="Read the per-user journal of the unit."),
) -> None:
    """Queue an alert mail for a failed unit (run by tradesig-alert@.service; OnFailure= of every unit)."""
    from tradesig.clock import SystemClock
    from tradesig.config import ReportSettings
    from tradesig.errors import ConfigError
    from tradesig.systemd import write_alert

    loaded = None
    try:
        loaded = app_context(ctx).config()
        report = loaded.settings.report
    except ConfigError as exc:  # a broken config may be why the unit failed: alert anyway (to root)
        typer.echo(f"config unusable ({exc.message}); alerting with default recipients", err=True)
        report = ReportSettings()
    now = SystemClock().now()
    delivered: dict[str, bool] = {}

    def notify(title: str, text: str) -> None:  # the webhook and Telegram channels, when configured
        from tradesig.alerts import send_alert

        delivered.update(send_alert(loaded, title, text, kind="unit_failed", now=now))

    try:
        path = write_alert(unit, outbox, mail_to=report.mail_to, mail_from=report.mail_from, now=now, user=user,
                           notify=notify if loaded is not None else None)
    except OSError as exc:  # error mapping: an outbox that cannot be written is a configuration error
        raise ConfigError(f"cannot queue the alert in {outbox}: {exc.strerror or exc}",
                          "check --outbox (tradesig-alert@.service)") from None
    typer.echo(f"queued {path}")
    for name, ok in delivered.items():
        typer.echo(f"{'sent' if ok else 'NOT sent'} via {name}", err=not ok)


@app.command("send-mail")
def send_mail(
    outbox: Path = typer.Option(..., "--outbox", metavar="DIR", help="Outbox of queued *.eml messages."),
    sendmail: str = typer.Option("/usr/sbin/sendmail", "--sendmail", metavar="PATH",
                                 help="sendmail-compatible program (run as PATH -t -oi)."),
) -> None:
    """Hand every queued message to sendmail (run by tradesig-mail.service); exit 1 if any was refused."""
    from tradesig.systemd import send_outbox

    sent, failed = send_outbox(outbox, (sendmail, "-t", "-oi"))
    typer.echo(f"sent {len(sent)}, failed {len(failed)}")
    for path in failed:
        typer.echo(f"refused: {path}", err=True)
    if failed:
        raise typer.Exit(1)

"""``tradesig preflight``: every check a trading morning needs, one line each; exit 1 when any fails."""

from __future__ import annotations

from enum import Enum

import typer

from tradesig.cli._common import Format, app_context, format_option, to_json

app = typer.Typer(help="Every check a trading morning needs, one line each (exit 1 if any fails).",
                  add_completion=False, rich_markup_mode=None)


class Mode(str, Enum):
    paper = "paper"
    live = "live"


@app.command("preflight")
def preflight(
    ctx: typer.Context,
    mode: Mode = typer.Option(Mode.paper, "--mode", help="Which engine's positions to reconcile (live: with the "
                                                         "broker's)."),
    hub: str = typer.Option(None, "--hub", metavar="URL", help="The feed's hub (default: http://<hub.listen>)."),
    sim_url: str = typer.Option(None, "--sim-url", metavar="URL",
                                help="Check against 'tradesig sim' at URL (its replay date is today)."),
    max_tick_age: float = typer.Option(60.0, "--max-tick-age", metavar="SECONDS",
                                       help="Fail when the last tick is older."),
    backup_dir: str = typer.Option(None, "--backup-dir", help="Archives directory (default: <home>/backups)."),
    backup_max_age: float = typer.Option(36.0, "--backup-max-age", metavar="HOURS",
                                         help="Fail when the newest backup is older."),
    horizon: int = typer.Option(14, "--calendar-horizon", metavar="DAYS",
                                help="Fail when the calendar ends sooner."),
    min_free: float = typer.Option(1.0, "--min-free", metavar="GIB", help="Free space wanted at least."),
    alert: bool = typer.Option(False, "--alert", help="Also send the failures to the alert channels (webhook, "
                                                     "Telegram) configured under [alerts]."),
    fmt: Format = format_option(Format.text, Format.json),
) -> None:
    """One line per check (ok / FAIL / skip, what was found, what to do). Exit 0 when none fails, 1 otherwise."""
    from datetime import datetime, timedelta
    from pathlib import Path

    from tradesig.clock import SystemClock
    from tradesig.preflight import GIB, PreflightOptions, run_preflight

    loaded = app_context(ctx).config()
    clock = SystemClock()
    market_now = None
    if sim_url:
        from tradesig.feed.follow import sim_state

        market_now = datetime.fromisoformat(sim_state(sim_url)["sim_time"])
    options = PreflightOptions(mode=mode.value, hub_url=hub, sim_url=sim_url, max_tick_age=max_tick_age,
                               backup_dir=Path(backup_dir) if backup_dir else None,
                               backup_max_age=timedelta(hours=backup_max_age), calendar_horizon_days=horizon,
                               min_free_bytes=int(min_free * GIB))
    checks = run_preflight(loaded, options, clock=clock, market_now=market_now)
    failed = [c for c in checks if not c.ok]
    if fmt is Format.json:
        typer.echo(to_json({"ok": not failed, "checks": [c.to_json() for c in checks]}))
    else:
        for c in checks:
            line = f"{'ok' if c.status == 'ok' else c.status.upper():<4} {c.name:<11} {c.detail}"
            typer.echo(line + (f" -> {c.fix}" if c.fix and not c.ok else ""))
    if failed and alert:
        from tradesig.alerts import send_alert

        send_alert(loaded, "preflight failed: " + ", ".join(c.name for c in failed),
                   "\n".join(f"{c.name}: {c.detail}" + (f" ({c.fix})" if c.fix else "") for c in failed),
                   kind="preflight", now=clock.now())
    if failed:
        raise typer.Exit(1)

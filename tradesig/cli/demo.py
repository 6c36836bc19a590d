"""``tradesig demo``: the whole trading day end to end on loopback (library: tradesig.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tradesig.cli._common import app_context, date_option

app = typer.Typer(help="The whole trading day end to end on recorded data, in one command.",
                  add_completion=False, rich_markup_mode=None)


@app.command()
def demo(
    ctx: typer.Context,
    data: list[Path] = typer.Option(None, "--data", metavar="FILE",
                                    help="Recorded 1-minute bars to replay (repeatable). Without it: a seeded "
                                         "SYNTHETIC session, labelled so everywhere."),
    day: Any = date_option("--date", help="Session to replay (default: the last one)."),
    speed: float = typer.Option(750.0, "--speed", min=1.0, max=1000.0,
                                help="Sim seconds per wall second, at most: the sim waits for a feed that trails "
                                     "it (750: the 375-minute session in 30 s)."),
    interval: str = typer.Option("15m", "--interval", help="Interval of the live signal board."),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary data home for inspection."),
    data_source: str = typer.Option("kite", "--data-source", metavar="kite|breeze",
                                    help="Where the feed streams from: the sim's Kite ticker, or its ICICI Breeze "
                                         "side through breeze_connect (orders go through Kite either way)."),
) -> None:
    """Run sim, login, token-check, history backfill, feed --serve, signals --follow, trade start --mode paper
    and report, each as its own process against the sim on 127.0.0.1, and print the day's report.

    The data home is a new temporary directory, removed at the end unless --keep; a --home is kept. SIGINT and
    SIGTERM are forwarded to the children (each in its own process group), which are waited for."""
    from tradesig.demo import DemoInterrupted, DemoOptions, run_demo

    actx = app_context(ctx)
    if data_source not in ("kite", "breeze"):
        raise typer.BadParameter("use kite or breeze", param_hint="--data-source")
    opts = DemoOptions(data=list(data or []), day=day, speed=speed, home=Path(actx.home) if actx.home else None,
                       interval=interval, keep=keep, data_source=data_source)
    if actx.home:
        from tradesig.config import require_writable_home

        require_writable_home(Path(actx.home))  # exit 2 at once, not a traceback once the sim is up
    try:
        result = run_demo(opts, say=typer.echo)
    except DemoInterrupted as exc:
        typer.echo(f"tradesig demo: stopped by {exc}; its processes were stopped"
                   + ("" if opts.home or keep else " and the temporary data home removed"), err=True)
        raise typer.Exit(128 + exc.signum) from None
    typer.echo("")
    if result.kept:
        typer.echo(f"demo finished in {result.wall_seconds:.0f} s; data home kept at {result.home} "
                   f"(try: tradesig --home {result.home} history show NIFTY --interval 1h --from {result.day})")
    else:
        typer.echo(f"demo finished in {result.wall_seconds:.0f} s; temporary data home removed (--keep keeps it)")

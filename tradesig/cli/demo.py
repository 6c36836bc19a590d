"""``tradesig demo``: the whole trading day end to end on loopback (library: tradesig.demo)."""

from __future__ import annotations

from pathlib import Path

import typer

from tradesig.cli._common import app_context

app = typer.Typer(help="The whole trading day end to end on recorded data, in one command.",
                  add_completion=False, rich_markup_mode=None)


@app.command()
def demo(
    ctx: typer.Context,
    data: list[Path] = typer.Option(None, "--data", metavar="FILE",
                                    help="Recorded 1-minute bars to replay (repeatable). Without it: a seeded "
                                         "SYNTHETIC session, labelled so everywhere."),
    day: str = typer.Option(None, "--date", metavar="YYYY-MM-DD", help="Session to replay (default: the last one)."),
    speed: float = typer.Option(500.0, "--speed", min=1.0, max=1000.0,
                                help="Sim seconds per wall second (500: a full session in about 45 s)."),
    interval: str = typer.Option("15m", "--interval", help="Interval of the live signal board."),
    data_source: str = typer.Option("kite", "--data-source", metavar="kite|breeze",
                                    help="Where the feed streams from: the sim's Kite ticker, or its ICICI Breeze "
                                         "side through breeze_connect (orders go through Kite either way)."),
) -> None:
    """Run sim, login, token-check, history backfill, feed --serve, signals --follow, trade start --mode paper
    and report, each as its own process against the sim on 127.0.0.1, and print the day's report.

    The data home is a new temporary directory unless --home is given; it is kept for inspection."""
    from tradesig.clock import parse_date
    from tradesig.demo import DemoOptions, run_demo
    from tradesig.errors import DataError

    actx = app_context(ctx)
    if data_source not in ("kite", "breeze"):
        raise typer.BadParameter("use kite or breeze", param_hint="--data-source")
    try:
        when = parse_date(day) if day else None
    except ValueError as exc:
        raise DataError(str(exc)) from None
    opts = DemoOptions(data=list(data or []), day=when, speed=speed, home=Path(actx.home) if actx.home else None,
                       interval=interval, data_source=data_source)
    result = run_demo(opts, say=typer.echo)
    typer.echo("")
    typer.echo(f"demo finished in {result.wall_seconds:.0f} s; data home kept at {result.home} "
               f"(try: tradesig --home {result.home} history show NIFTY --interval 1h --from {result.day})")

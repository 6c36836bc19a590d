"""``tradesig signals``: the signal board (13 indicators + aggregate) and the S1–S8 weekly-zone events.

``tradesig signals [SYMBOL...] [--interval 5m] [--at DT | --date D | --from D --to D] [--follow] [--format F]``
prints the board (a first word that is not a subcommand is taken as a symbol: it runs ``signals board``);
``tradesig signals weekly [SYMBOL...] --from D --to D`` lists the S1–S8 events (``--record`` also appends them to
the events log, each once). Output schemas: docs/signals.md.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from tradesig.cli._common import (
    Format,
    Interval,
    app_context,
    date_option,
    datetime_option,
    format_option,
    output,
    to_json,
)


class _SignalsGroup(TyperGroup):
    """A group whose default command is ``board``: ``signals NIFTY --date D`` means ``signals board NIFTY …``."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["board", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_SignalsGroup, add_completion=False, rich_markup_mode=None,
                  help="The 13-indicator board and the S1-S8 weekly-zone signals.\n\n"
                  "'tradesig signals NIFTY --date 2024-06-04' runs 'signals board'; "
                  "'signals weekly' lists S1-S8.")


_SHORT = {"BUY": "BUY", "SELL": "SELL", "NEUTRAL": "-", "UNAVAILABLE": "n/a"}


def _render_boards(boards: list[Any], fmt: Format, timeline: bool) -> str:
    if fmt is Format.json:
        return to_json([b.to_dict() for b in boards])
    if fmt is Format.csv:
        rows = [{"symbol": b.symbol, "interval": b.interval, "ts": b.ts, "close": b.close,
                 "score": round(b.score, 2), "label": b.label, "available": b.available, "signal": r.name,
                 "call": r.call.value, "confidence": round(r.confidence, 4), "weight": r.weight, "reason": r.reason}
                for b in boards for r in b.readings]
        cols = ["symbol", "interval", "ts", "close", "score", "label", "available", "signal", "call", "confidence",
                "weight", "reason"]
        return output(rows, cols, fmt)
    if timeline:
        blocks = []
        for sym in dict.fromkeys(b.symbol for b in boards):
            mine = [b for b in boards if b.symbol == sym]
            names = [r.name for r in mine[0].readings]
            rows = []
            for b in mine:
                row: dict[str, Any] = {"time (IST)": b.ts, "close": b.close}
                row.update({r.name: _SHORT[r.call.value] for r in b.readings})
                row.update({"score": round(b.score, 1), "label": b.label, "avail": b.available})
                rows.append(row)
            head = f"{sym} {mine[0].interval} board, {len(mine)} bars (n/a = unavailable, - = neutral)"
            blocks.append(head + "\n" + output(rows, ["time (IST)", "close", *names, "score", "label", "avail"], fmt))
            notes = sorted({(b.readings[i].name, b.readings[i].reason) for b in mine[-1:]
                            for i in range(len(b.readings)) if b.readings[i].call.value == "UNAVAILABLE"})
            if notes:
                blocks[-1] += "\n" + "\n".join(f"  {n}: {why}" for n, why in notes)
        return "\n\n".join(blocks)
    blocks = []
    for b in boards:
        from tradesig.clock import IST

        head = (f"{b.symbol} {b.interval}  bar {b.ts.astimezone(IST):%Y-%m-%d %H:%M} IST  close {b.close:.2f}  "
                f"score {b.score:+.1f}  {b.label}  ({b.available}/13 available)")
        if b.note:
            head += f"\n{b.note}"
        rows = [{"signal": r.name, "call": r.call.value, "conf": round(r.confidence, 2), "weight": r.weight,
                 "reason": r.reason} for r in b.readings]
        blocks.append(head + "\n" + output(rows, ["signal", "call", "conf", "weight", "reason"], fmt))
    return "\n\n".join(blocks)


@app.command("board")
def board(
    ctx: typer.Context,
    symbols: list[str] = typer.Argument(None, metavar="[SYMBOL]...", help="Indices (default: feed.symbols)."),
    interval: Interval = typer.Option(Interval.m5, "--interval", "-i", help="Bar interval of the board."),
    at: Any = datetime_option("--at", help="Board on the last bar closed at this IST time."),
    day: Any = date_option("--date", help="Board on every closed bar of the date."),
    start: Any = date_option("--from", help="First date of a range (with --to)."),
    end: Any = date_option("--to", help="Last date of a range (default: --from)."),
    follow: bool = typer.Option(False, "--follow", help="Live: follow the feed hub, print each closed bar's board "
                                "and publish S1-S8 events to the hub and the events log."),
    chain: str = typer.Option(None, "--chain", metavar="PATH", help="Option-chain snapshots (Parquet) for PCR."),
    fmt: Format = format_option(Format.table, Format.json, Format.csv),
) -> None:
    """The signal board: 13 signals (BUY/SELL/NEUTRAL/UNAVAILABLE, confidence, reason) and the aggregate."""
    from tradesig.clock import SystemClock

    chosen = [name for name, v in (("--at", at), ("--date", day), ("--from", start)) if v]
    if len(chosen) > 1:
        raise typer.BadParameter(f"use only one of {', '.join(chosen)}")
    if end and not start:
        raise typer.BadParameter("--to needs --from")
    if follow and chosen:
        raise typer.BadParameter("--follow runs live; it takes no --at/--date/--from")
    loaded = app_context(ctx).config()
    chain_df = None
    if chain:
        from tradesig.signals.service import load_chain

        chain_df = load_chain(chain)
    if follow:
        from tradesig.signals.live import follow as run_follow

        run_follow(loaded, symbols or [], interval.value, fmt=fmt.value, chain=chain_df,
                   echo=lambda text: typer.echo(text))
        return
    from tradesig.signals.service import boards

    moment = at
    first = day or start
    last = end or first
    if first and last and last < first:
        raise typer.BadParameter("--to is before --from")
    result = boards(loaded, symbols or [], interval.value, clock=SystemClock(), at=moment, start=first, end=last,
                    chain=chain_df)
    typer.echo(_render_boards(result, fmt, timeline=first is not None))


@app.command("weekly")
def weekly(
    ctx: typer.Context,
    symbols: list[str] = typer.Argument(None, metavar="[SYMBOL]...", help="Indices (default: feed.symbols)."),
    start: Any = date_option("--from", default=..., help="First date (IST)."),
    end: Any = date_option("--to", help="Last date (default: --from)."),
    record: bool = typer.Option(False, "--record/--no-record", help="Also append new events to the events log "
                                "(each event once); a query records nothing."),
    fmt: Format = format_option(Format.table, Format.json, Format.csv),
) -> None:
    """S1-S8 weekly-zone events from stored hourly bars (with --record, each recorded in the events log once)."""
    from tradesig.clock import SystemClock
    from tradesig.signals.service import weekly_events

    loaded = app_context(ctx).config()
    first = start
    last = end or first
    events, added = weekly_events(loaded, symbols or [], first, last, clock=SystemClock(), record=record)
    if fmt is Format.json:
        typer.echo(to_json([e.to_dict() for e in events]))
        return
    rows = [{"bar (IST)": e.bar_ts, "symbol": e.symbol, "signal": e.signal, "name": e.name, "side": e.side,
             "entry": e.entry_price, "stop": e.stop_loss, "option": e.option.option_type,
             "strike": e.option.strike, "hedge": e.option.hedge_strike, "expiry": e.option.expiry,
             "bias": e.context.bias.value} for e in events]
    cols = ["bar (IST)", "symbol", "signal", "name", "side", "entry", "stop", "option", "strike", "hedge", "expiry",
            "bias"]
    typer.echo(output(rows, cols, fmt))
    if fmt is Format.table:
        typer.echo(f"{len(events)} event(s); {added} newly recorded in the events log" if record
                   else f"{len(events)} event(s) (not recorded; --record appends them to the events log)")

"""What every CLI module shares: the app context, the option types, and the one output path.

* :class:`Format` is the one ``--format`` enum; a command declares the subset it supports with
  :func:`format_option` and any other value is a usage error (exit 2, one line).
* :func:`date_option`, :func:`datetime_option` and :func:`time_option` parse IST dates, instants and HH:MM
  times; a bad value is the same usage error everywhere.
* :func:`output` renders records for a format: one writer per format (:data:`WRITERS`). Tables show every time
  in IST without microseconds, in colour on a terminal (rich) and as plain text when piped or ``NO_COLOR`` is set.
* :func:`to_json` is the one JSON writer (encoder: :func:`tradesig.jsonenc.json_default`); times stay ISO 8601
  with the offset they carry (UTC from the engine and the events log).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tradesig.jsonenc import json_default

if TYPE_CHECKING:
    from tradesig.config import LoadedConfig


@dataclass
class AppContext:
    """Global options (accepted before or after the subcommand)."""

    config_path: str | None = None
    home: str | None = None
    verbose: int = 0
    _loaded: Any = None

    def config(self) -> LoadedConfig:
        """The validated configuration (raises ConfigError, exit 2, listing every problem)."""
        if self._loaded is None:
            from tradesig.config import load_config

            self._loaded = load_config(self.config_path, self.home)
        return self._loaded


def app_context(ctx: typer.Context) -> AppContext:
    """The :class:`AppContext` of the root command (a default one when a subcommand is run on its own)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj


# ------------------------------------------------------------------------------------------------ --format


class Format(str, Enum):
    """Every output format of the CLI; each command supports a subset (:func:`format_option`)."""

    table = "table"
    text = "text"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"
    mime = "mime"
    toml = "toml"


class _FormatChoice:
    """Parser of a ``--format`` value restricted to ``choices`` (an unsupported one is a usage error)."""

    def __init__(self, choices: Sequence[Format]) -> None:
        self.choices = [f.value for f in choices]

    def __call__(self, value: Any) -> Format:
        if isinstance(value, Format):
            value = value.value
        if value not in self.choices:
            raise typer.BadParameter(f"{value!r} is not supported here; use one of: {', '.join(self.choices)}")
        return Format(value)


def format_option(*supported: Format, help: str = "Output format.") -> Any:  # noqa: A002 - typer's name
    """A ``--format`` option accepting only ``supported`` (the first is the default)."""
    choice = _FormatChoice(supported)
    return typer.Option(supported[0].value, "--format", parser=choice, metavar=f"[{'|'.join(choice.choices)}]",
                        help=help, autocompletion=lambda: list(choice.choices))


# --------------------------------------------------------------------------------------- dates and times


def _hhmm(text: str) -> time:
    hour, sep, minute = text.strip().partition(":")
    if not sep or not (hour.isdigit() and minute.isdigit()) or int(hour) > 23 or int(minute) > 59:
        raise ValueError(f"{text!r} is not an HH:MM time")
    return time(int(hour), int(minute))


def _option_parser(kind: type, parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A typer ``parser=``: ``parse(text)`` (raising ValueError) as a usage error naming the option."""

    def parser(value: Any) -> Any:
        if value is None or isinstance(value, kind):
            return value
        try:
            return parse(str(value))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parser


def _clock(name: str) -> Callable[[str], Any]:
    def call(text: str) -> Any:
        from tradesig import clock  # imported on use: `tradesig --help` stays light

        return getattr(clock, name)(text)

    return call


#: ``YYYY-MM-DD`` (an IST trading date) → :class:`date`.
parse_date_option = _option_parser(date, _clock("parse_date"))
#: ``YYYY-MM-DD[ HH:MM[:SS]]`` (IST) or ISO 8601 with an offset → aware :class:`datetime`.
parse_datetime_option = _option_parser(datetime, _clock("parse_datetime_ist"))
#: ``HH:MM`` (IST wall time) → :class:`time`.
parse_time_option = _option_parser(time, _hhmm)


def _dt_option(parser: Callable[[Any], Any], metavar: str, default: Any, names: tuple[str, ...], help: str,
               argument: bool) -> Any:
    if argument:
        return typer.Argument(default, parser=parser, metavar=metavar, help=help, show_default=False)
    return typer.Option(default, *names, parser=parser, metavar=metavar, help=help, show_default=False)


def date_option(*names: str, help: str, default: Any = None, argument: bool = False) -> Any:  # noqa: A002
    """An IST date option (``YYYY-MM-DD``), or positional argument with ``argument=True``."""
    return _dt_option(parse_date_option, "YYYY-MM-DD" if not argument else "[DATE]", default, names, help, argument)


def datetime_option(*names: str, help: str, default: Any = None) -> Any:  # noqa: A002
    """An instant option: ``YYYY-MM-DD[ HH:MM]`` in IST or ISO 8601 with an offset."""
    return _dt_option(parse_datetime_option, "DATETIME", default, names, help, False)


def time_option(*names: str, help: str, default: Any = None) -> Any:  # noqa: A002
    """An IST wall-time option (``HH:MM``)."""
    return _dt_option(parse_time_option, "HH:MM", default, names, help, False)


class Interval(str, Enum):
    """Bar intervals a command can ask for (bars are stored at 1m and derived on read)."""

    m1 = "1m"
    m5 = "5m"
    m15 = "15m"
    h1 = "1h"
    h4 = "4h"
    d1 = "1d"


# ----------------------------------------------------------------------------------------------- output


def to_json(data: Any) -> str:
    """Stable JSON (sorted keys, ISO times with their offset, 2-space indent, UTF-8 text)."""
    return json.dumps(data, indent=2, sort_keys=True, default=json_default, ensure_ascii=False)


def _pick(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    return [{c: row.get(c) for c in columns} for row in rows]


def json_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The records as a JSON list of objects with exactly ``columns``."""
    return to_json(_pick(rows, columns))


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The records as CSV with a header row (time strings as stored, floats to 2 places, None empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row.get(c), table=False) for c in columns])
    return buf.getvalue().rstrip("\n")


def table_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The records as an aligned text table (numbers right-aligned, times IST); colour on a terminal."""
    rows = list(rows)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(_is_number(row.get(c)) for row in rows if row.get(c) is not None) for c in columns]
    if use_color():
        return _rich_table(columns, cells, numeric)
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(columns, widths, numeric, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(r, widths, numeric, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


WRITERS: dict[Format, Callable[[Iterable[Mapping[str, Any]], Sequence[str]], str]] = {
    Format.table: table_text, Format.text: table_text, Format.json: json_text, Format.csv: csv_text,
}


def output(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], fmt: Format | str) -> str:
    """``rows`` (records) rendered in ``fmt`` with ``columns`` in that order (:data:`WRITERS`); ValueError for a
    format that is not a rows format (``markdown``, ``html``, ``mime``, ``toml`` have their own renderers)."""
    writer = WRITERS.get(Format(fmt))
    if writer is None:
        raise ValueError(f"--format {Format(fmt).value} does not render rows")
    return writer(rows, columns)


def is_tty() -> bool:
    """Whether stdout is a terminal (progress and colour are for people, never for pipes)."""
    return sys.stdout.isatty()


def use_color() -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set (https://no-color.org) or ``TERM=dumb``."""
    return is_tty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


_CALL_STYLES = {"BUY": "green", "SELL": "red", "bullish": "green", "bearish": "red", "ENGAGED": "bold red"}


def _rich_table(columns: Sequence[str], cells: list[list[str]], numeric: list[bool]) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold cyan")
    for name, num in zip(columns, numeric, strict=True):
        table.add_column(name, justify="right" if num else "left", no_wrap=True)
    for r in cells:
        table.add_row(*[f"[{_style(v, num)}]{_escape(v)}[/]" if _style(v, num) else _escape(v)
                        for v, num in zip(r, numeric, strict=True)])
    width = sum(max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)) + 2 * len(columns) + 4
    console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system="standard")
    console.print(table)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _style(value: str, numeric: bool) -> str:
    if numeric and value.startswith("-") and value != "-":
        return "red"
    return _CALL_STYLES.get(value, "")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


def ist_text(ts: datetime) -> str:
    """An instant as IST wall time for people: ``YYYY-MM-DD HH:MM`` (``:SS`` when not zero), no microseconds.

    An aware time is converted to IST; a naive one is taken as IST already (Kite's order book is naive IST)."""
    from tradesig.clock import IST

    local = ts.astimezone(IST) if ts.tzinfo is not None else ts
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _cell(value: Any, *, table: bool = True) -> str:
    """A table cell (``table``) or a CSV field: times IST for people in tables, as stored in CSV."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        if table:
            return ist_text(value)
        return ist_text(value.replace(second=0, microsecond=0)) if value.tzinfo else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if table and isinstance(value, str) and _ISO_INSTANT.match(value):
        return ist_text(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return str(value)


# ------------------------------------------------------------------------------------------------- modes


#: The configured default trading mode of the views (``report``, and ``trade positions/orders/status`` when no
#: engine is running).
DEFAULT_MODE = "paper"


def running_mode(home: Path | str) -> str:
    """The trading mode to show when none is given: the engine that is running (live before paper), else the
    configured default, ``paper`` — the same default ``tradesig report`` uses."""
    for mode in ("live", "paper"):
        path = Path(home) / "trade" / f"state-{mode}.json"
        try:
            pid = int(json.loads(path.read_text(encoding="utf-8")).get("pid") or 0)
        except (OSError, ValueError, AttributeError):
            continue
        if pid > 0 and _alive(pid):
            return mode
    return DEFAULT_MODE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

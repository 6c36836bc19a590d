"""Helpers shared by the CLI modules: the app context, settings loading, output formats, rendering."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tradesig.config import LoadedConfig


@dataclass
class AppContext:
    """Global options given before the subcommand."""

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


class TableFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def is_tty() -> bool:
    return sys.stdout.isatty()


def to_json(data: Any) -> str:
    """Stable JSON (sorted keys, ISO datetimes, 2-space indent)."""
    return json.dumps(data, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def render_rows(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    """Render a list of records as an aligned text table, CSV or JSON (a list of objects)."""
    if fmt == "json":
        return to_json([{c: row.get(c) for c in columns} for row in rows])
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(_is_number(row.get(c)) for row in rows if row.get(c) is not None) for c in columns]
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(columns, widths, numeric, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w)
                               for v, w, num in zip(r, widths, numeric, strict=True)).rstrip())
    return "\n".join(line.rstrip() for line in lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    if hasattr(value, "isoformat"):
        from tradesig.clock import IST

        if getattr(value, "tzinfo", None) is not None:
            return value.astimezone(IST).strftime("%Y-%m-%d %H:%M")
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)

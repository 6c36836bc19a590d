"""tradesig.cli._typer_fast: option values coerced without pydantic give typer's own values and errors."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer
from typer import _coercion
from typer.testing import CliRunner

from tradesig.cli import _typer_fast
from tradesig.cli._common import Format, date_option, format_option


class Colour(str, Enum):
    red = "red"
    blue = "blue"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def show(day: Any = date_option("--day", help="d", default=None),
             lots: int = typer.Option(0, "--lots", min=0, max=50),
             ratio: float = typer.Option(1.5, "--ratio"),
             name: str = typer.Option("x", "--name"),
             colour: Colour = typer.Option(Colour.red, "--colour", case_sensitive=False),
             path: Path = typer.Option(None, "--path", exists=True),
             fmt: Format = format_option(Format.table, Format.json)) -> None:
        typer.echo(repr((day, lots, ratio, name, colour, path, fmt)))

    return app


CASES = [
    [], ["--day", "2024-06-04"], ["--day", "2024-13-04"], ["--lots", "7"], ["--lots", "-0"], ["--lots", "007"],
    ["--lots", "51"], ["--lots", "-1"], ["--lots", "x"], ["--lots", "1e3"], ["--ratio", "2"], ["--ratio", "nan"],
    ["--ratio", "x"], ["--name", "NIFTY BANK"], ["--colour", "BLUE"], ["--colour", "green"],
    ["--path", "/nonexistent/file"], ["--path", "."], ["--format", "json"], ["--format", "yaml"],
]


def _run(args: list[str], short: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    from typer import core

    with monkeypatch.context() as m:
        if short:
            _typer_fast.install()
        else:
            def typer_only(self):
                if self._runtime_param is None:
                    self._runtime_param = _coercion.build_runtime_param(self.type_descriptor)
                return self._runtime_param

            m.setattr(core._TyperParameter, "get_runtime_param", typer_only)
        result = CliRunner().invoke(_app(), args)
    return result.exit_code, result.output


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_same_value_or_error_as_typer(args, monkeypatch):
    assert _run(args, True, monkeypatch) == _run(args, False, monkeypatch)


def test_a_command_runs_without_importing_pydantic(tmp_path):
    script = ("import sys\nfrom tradesig.cli.main import main\n"
              "try:\n    main(['--home', sys.argv[1], 'trade', 'backtest', '--from', '2024-06-03', '--to',"
              " '2024-06-04', '--lots', '1', '--format', 'json'])\nexcept SystemExit as exc:\n"
              "    print('exit', exc.code)\nprint('pydantic' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "home")], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["exit", "2", "False"], done.stdout + done.stderr
    assert "no NIFTY bars stored" in done.stderr

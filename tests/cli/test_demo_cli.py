"""`tradesig demo --speed`: the CLI's default is the library's (one number, documented in --help)."""

from __future__ import annotations

import typer

from tradesig.cli.main import app
from tradesig.demo import DEFAULT_SPEED


def test_the_demo_speed_default_is_the_librarys():
    group = typer.main.get_command(app)
    command = group.get_command(typer.Context(group), "demo")
    speed = next(p for p in command.params if p.name == "speed")
    assert speed.default == DEFAULT_SPEED == 750.0
    assert "750" in (speed.help or "")

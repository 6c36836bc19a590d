"""``tradesig config``: init, show (secrets redacted), check (every problem, one line each; exit 2 if any)."""

from __future__ import annotations

from pathlib import Path

import typer

from tradesig.cli._common import Format, app_context, format_option, to_json

app = typer.Typer(help="Write, show and check the configuration.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)


def _target(ctx: typer.Context) -> Path:
    from tradesig.config import default_config_path

    path = app_context(ctx).config_path
    return Path(path).expanduser() if path else default_config_path()


@app.command("init")
def init(ctx: typer.Context, force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a complete default config file (refuses to overwrite without --force)."""
    from tradesig.config_render import write_default_config

    path = write_default_config(_target(ctx), force=force)
    typer.echo(f"wrote {path}")
    typer.echo("next: set kite.api_key, put the API secret in TRADESIG_KITE_API_SECRET or the 0600 secrets file, "
               "then run 'tradesig config check'")


@app.command("show")
def show(ctx: typer.Context,
         fmt: Format = format_option(Format.toml, Format.json)) -> None:
    """Print the effective configuration (file + environment + defaults); secrets are never printed."""
    import tomli_w

    from tradesig.config_render import settings_to_dict

    loaded = app_context(ctx).config()
    data = settings_to_dict(loaded.settings, redact_secrets=True)
    data["paths"]["home"] = str(loaded.home)
    if fmt is Format.json:
        typer.echo(to_json({"source": str(loaded.source) if loaded.source else None, "settings": data}))
    else:
        typer.echo(f"# source: {loaded.source or 'defaults (no config file)'}")
        typer.echo(tomli_w.dumps(data).rstrip("\n"))


@app.command("check")
def check(ctx: typer.Context,
          offline: bool = typer.Option(False, "--no-credentials", help="Do not require broker credentials.")) -> None:
    """Validate the configuration: one line per problem, exit 2 if there is any, else 0."""
    from tradesig.config import check_config, load_config
    from tradesig.errors import ConfigError

    actx = app_context(ctx)
    loaded = load_config(actx.config_path, actx.home, strict=False)
    problems = check_config(loaded, need_brokers=not offline)
    from tradesig.calendar import check_calendar

    calendar_problems, horizon = check_calendar(loaded)  # the override file, and the calendar's horizon
    problems += calendar_problems
    if horizon:
        typer.echo(horizon, err=True)
    if problems:
        for line in problems:
            typer.echo(f"{loaded.source or 'config'}: {line}", err=True)
        raise ConfigError(f"{len(problems)} problem(s) in the configuration", "fix the lines above")
    typer.echo(f"{loaded.source or 'defaults'}: ok (data home {loaded.home})")

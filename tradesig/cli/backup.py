"""``tradesig backup``: create, verify, restore, prune (library: tradesig.backup)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer

from tradesig.cli._common import app_context, is_tty

app = typer.Typer(help="Create, verify, restore and prune backups of the data home.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)


@contextmanager
def _progress(label: str, total: int):
    """A progress bar on a terminal; nothing otherwise (the command prints one summary line)."""
    if is_tty() and total:
        with typer.progressbar(length=total, label=label) as bar:
            yield bar.update
    else:
        yield None


def _dest(ctx: typer.Context, dest: Path | None) -> tuple[Path, Path]:
    loaded = app_context(ctx).config()
    return loaded.home, (dest or loaded.home / "backups")


def _last_session(loaded, now):
    """The last completed trading session at ``now`` (the day a nightly backup holds), or None outside the
    calendar's coverage (the archive is still made)."""
    from tradesig.calendar import get_calendar
    from tradesig.clock import last_completed_session
    from tradesig.errors import TradesigError

    try:
        return last_completed_session(get_calendar(loaded), now)
    except TradesigError:
        return None


@app.command("create")
def create(ctx: typer.Context,
           dest: Path = typer.Option(None, "--dest", help="Directory for archives (default: <home>/backups).")) -> None:
    """Write a consistent archive (safe while feed and trade run) with a SHA-256 manifest, then verify it."""
    from tradesig.backup import _home_files, create_backup
    from tradesig.clock import SystemClock

    loaded = app_context(ctx).config()
    home, target = _dest(ctx, dest)
    now = SystemClock().now()
    session = _last_session(loaded, now)
    with _progress("backing up", len(_home_files(home)) if home.is_dir() else 0) as tick:
        result = create_backup(home, target, now=now, config_file=loaded.source, progress=tick, session=session)
    held = f"session {session}, " if session else ""
    typer.echo(f"created {result.archive} ({held}{result.files} files, {result.bytes / 1e6:.1f} MB, verified)")
    if result.skipped:
        more = f" and {len(result.skipped) - 3} more" if len(result.skipped) > 3 else ""
        typer.echo(f"tradesig: not archived (symlinks and special files are never followed): "
                   f"{', '.join(result.skipped[:3])}{more}", err=True)


@app.command("verify")
def verify(archive: Path = typer.Argument(..., help="Archive to check.")) -> None:
    """Check checksums, that every Parquet part reads and every event line parses (exit 1 naming what is wrong)."""
    from tradesig.backup import read_manifest, verify_archive

    total = len(read_manifest(archive).files) if archive.is_file() else 0
    with _progress("verifying", total) as tick:
        result = verify_archive(archive, progress=tick)
    session = read_manifest(archive).session
    held = f"session {session}, " if session else ""
    typer.echo(f"{archive.name}: ok ({held}{result.files} files, {result.parquet_parts} Parquet parts, "
               f"{result.event_lines} event lines)")


@app.command("restore")
def restore(archive: Path = typer.Argument(..., help="Archive to restore."),
            to: Path = typer.Option(..., "--to", help="Target data home (must be empty unless --force)."),
            force: bool = typer.Option(False, "--force", help="Replace a non-empty data home (not a merge: only "
                                       "tokens/, backups/ and secrets.toml are kept).")) -> None:
    """Verify the archive member by member, then make it the data home at --to (exit 1 for a bad archive)."""
    from tradesig.backup_restore import restore_archive

    result = restore_archive(archive, to, force=force)
    typer.echo(f"restored {result.files} files from {archive.name} into {to}")


@app.command("prune")
def prune(ctx: typer.Context,
          dest: Path = typer.Option(None, "--dest", help="Directory of archives (default: <home>/backups)."),
          keep_daily: int = typer.Option(7, "--keep-daily", min=0),
          keep_weekly: int = typer.Option(4, "--keep-weekly", min=0),
          keep_monthly: int = typer.Option(6, "--keep-monthly", min=0),
          ticks_days: int = typer.Option(None, "--ticks-days", min=1,
                                         help="Remove tick partitions older than this many days, once archived."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed; remove nothing.")) -> None:
    """Delete archives outside the retention; optionally old tick partitions already in a verified archive."""
    from tradesig.backup import prune as prune_archives
    from tradesig.clock import SystemClock, ist_date

    home, target = _dest(ctx, dest)
    result = prune_archives(target, home, today=ist_date(SystemClock().now()), keep_daily=keep_daily,
                            keep_weekly=keep_weekly, keep_monthly=keep_monthly, ticks_days=ticks_days,
                            dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for path in result.removed:
        typer.echo(f"{verb} {path.name}")
    for rel in result.tick_partitions_removed:
        typer.echo(f"{verb} {rel}")
    for rel in result.tick_partitions_unprotected:
        typer.echo(f"kept {rel}: not in a verified archive yet", err=True)
    typer.echo(f"kept {len(result.kept)} archive(s), {verb} {len(result.removed)}; "
               f"tick partitions {verb}: {len(result.tick_partitions_removed)}")

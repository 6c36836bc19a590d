"""Backups: create/verify/restore round trip, corruption detection, retention (property test), tick pruning."""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradesig.backup import (
    MANIFEST,
    VerifyFailed,
    archive_name,
    create_backup,
    list_archives,
    prune,
    read_manifest,
    select_kept,
    verify_archive,
)
from tradesig.backup_restore import restore_archive
from tradesig.errors import DataError

NOW = datetime(2024, 6, 4, 21, 0, tzinfo=UTC)


def make_home(root: Path) -> Path:
    home = root / "home"
    for day in ("2024-06-03", "2024-06-04"):
        part = home / "bars" / "interval=1m" / f"date={day}"
        part.mkdir(parents=True)
        pl.DataFrame({"symbol": ["NIFTY"] * 3, "close": [1.0, 2.0, 3.0]}).write_parquet(part / "part-0001.parquet")
        tick = home / "ticks" / f"date={day}"
        tick.mkdir(parents=True)
        pl.DataFrame({"instrument_token": [256265], "last_price": [22000.5]}).write_parquet(tick / "part-0001.parquet")
    (home / "events").mkdir()
    (home / "events" / "2024-06-04.jsonl").write_text('{"kind": "fill", "n": 1}\n{"kind": "fill", "n": 2}\n{"kind"')
    (home / "journal" / "2024-06-04").mkdir(parents=True)
    (home / "journal" / "2024-06-04" / "seg-0001.bin").write_bytes(os.urandom(5000))
    (home / "tokens").mkdir()
    (home / "tokens" / "kite.json").write_text('{"access_token": "SECRETTOKENVALUE1234"}')
    (home / "bars" / "interval=1m" / "date=2024-06-04" / ".part-0002.parquet.tmp").write_bytes(b"half")
    return home


def test_round_trip_excludes_tokens_and_temp_files(tmp_path):
    home = make_home(tmp_path)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[kite]\napi_secret = "secret:kite_api_secret"\n')
    result = create_backup(home, tmp_path / "backups", now=NOW, config_file=cfg)
    assert result.archive.name == "tradesig-20240604T210000Z.tar.gz"
    assert result.archive.with_name(result.archive.name + ".verified").is_file()
    paths = {e.path for e in read_manifest(result.archive).files}
    assert "config/config.toml" in paths
    assert not any(p.startswith("tokens") or p.endswith(".tmp") for p in paths)
    assert "events/2024-06-04.jsonl" in paths
    check = verify_archive(result.archive)
    assert check.parquet_parts == 4 and check.event_lines == 2  # the torn third line is not archived

    target = tmp_path / "restored"
    restore_archive(result.archive, target)
    for rel in ("bars/interval=1m/date=2024-06-03/part-0001.parquet", "journal/2024-06-04/seg-0001.bin"):
        assert (target / rel).read_bytes() == (home / rel).read_bytes()
    assert (target / "events/2024-06-04.jsonl").read_text().count("\n") == 2
    assert not (target / "tokens").exists()


def test_restore_refuses_non_empty_target_without_force(tmp_path):
    home = make_home(tmp_path)
    archive = create_backup(home, tmp_path / "b", now=NOW).archive
    target = tmp_path / "t"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        restore_archive(archive, target)
    restore_archive(archive, target, force=True)
    assert not (target / "keep.txt").exists() and (target / "events").is_dir()


def test_restore_force_replaces_and_keeps_only_tokens_backups_secrets(tmp_path):
    """Issue 15 item 7: --force does not merge; a stray Parquet part the store would read is gone."""
    home = make_home(tmp_path)
    archive = create_backup(home, tmp_path / "b", now=NOW).archive
    target = make_home(tmp_path / "other")
    stray = target / "bars" / "interval=1m" / "date=2024-06-05" / "part-0001.parquet"
    stray.parent.mkdir(parents=True)
    pl.DataFrame({"symbol": ["NIFTY"], "close": [99.0]}).write_parquet(stray)
    (target / "backups").mkdir()
    (target / "backups" / "old.tar.gz").write_bytes(b"kept")
    (target / "secrets.toml").write_text("x = 1\n")
    token = (target / "tokens" / "kite.json").read_text()
    restore_archive(archive, target, force=True)
    assert not stray.exists() and not stray.parent.exists()
    assert (target / "tokens" / "kite.json").read_text() == token
    assert (target / "backups" / "old.tar.gz").read_bytes() == b"kept" and (target / "secrets.toml").exists()
    restored = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    archived = sorted(e.path for e in read_manifest(archive).files)
    assert restored == sorted(archived + ["backups/old.tar.gz", "secrets.toml", "tokens/kite.json"])
    assert sorted(p.name for p in target.parent.iterdir()) == ["home"]  # no staging or old home left beside it


# ------------------------------------------------------------------------ crafted archives (issue 15 item 7)


def _craft(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], manifest_paths: list[str] | None = None) -> Path:
    """An archive with a valid manifest (listing ``manifest_paths``, default every regular member) + ``members``."""
    import hashlib
    import io

    from tradesig.backup import Manifest, ManifestEntry

    files = {m.name: data for m, data in members if m.isreg()}
    listed = files if manifest_paths is None else {p: files.get(p, b"") for p in manifest_paths}
    manifest = Manifest(created_at=NOW, files=[ManifestEntry(p, len(d), hashlib.sha256(d).hexdigest())
                                               for p, d in listed.items()])
    with tarfile.open(path, "w:gz") as tar:
        raw = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
        for member, data in members:
            member.size = len(data) if member.isreg() else 0
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o600
    return info


@pytest.mark.parametrize("member, fragment", [
    (_member("../../evil.txt"), "'..'"),
    (_member("bars/../../evil.txt"), "'..'"),
    (_member("/tmp/evil.txt"), "absolute path refused"),
    (_member("tokens/kite.json"), "outside the data home's layout"),
    (_member("bars/interval=1m/.part.parquet.tmp"), "temporary, hidden or excluded"),
    (_member("events/link.jsonl", tarfile.SYMTYPE, "/etc/passwd"), "symlink refused"),
    (_member("events/hard.jsonl", tarfile.LNKTYPE, "events/a.jsonl"), "hard link refused"),
    (_member("journal/dev", tarfile.CHRTYPE), "device refused"),
    (_member("journal/fifo", tarfile.FIFOTYPE), "FIFO refused"),
    (_member("journal/dir", tarfile.DIRTYPE), "directory entry refused"),
])
def test_verify_refuses_members_outside_the_layout(run_cli, tmp_path, member, fragment):
    archive = _craft(tmp_path / "tradesig-20240604T210000Z.tar.gz",
                     [(_member("events/a.jsonl"), b'{"kind": "fill"}\n'), (member, b"payload\n")])
    with pytest.raises(VerifyFailed) as info:
        verify_archive(archive)
    assert any(p.startswith(f"{member.name}: ") and fragment in p for p in info.value.problems), info.value.problems
    target = tmp_path / "restore-here"
    for args in (("backup", "verify", str(archive)),
                 ("backup", "restore", str(archive), "--to", str(target)),
                 ("backup", "restore", str(archive), "--to", str(target), "--force")):
        code, out, err = run_cli(*args)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err and fragment in err
    assert not target.exists() and not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]  # no staging directory left


def test_manifest_entry_outside_the_layout_is_refused(tmp_path):
    archive = _craft(tmp_path / "a.tar.gz", [(_member("events/a.jsonl"), b"{}\n")],
                     manifest_paths=["events/a.jsonl", "../x"])
    with pytest.raises(VerifyFailed, match=r"manifest entry \.\./x: path with '\.\.'"):
        verify_archive(archive)


def test_create_does_not_follow_symlinks_out_of_the_home(run_cli, tmp_path):
    home = make_home(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"private": true}\n')
    (home / "events" / "leak.jsonl").symlink_to(outside / "secret.jsonl")
    (home / "bars" / "interval=5m").symlink_to(outside, target_is_directory=True)
    (home / "state").symlink_to(outside, target_is_directory=True)
    os.mkfifo(home / "journal" / "2024-06-04" / "pipe")  # would block a reader forever
    code, out, err = run_cli("--home", str(home), "backup", "create")
    assert code == 0, err
    assert err.count("\n") == 1 and "not archived" in err and "events/leak.jsonl" in err
    archive = list_archives(home / "backups")[0][1]
    paths = {e.path for e in read_manifest(archive).files}
    assert not any("leak" in p or p.startswith(("state", "bars/interval=5m")) or p.endswith("pipe") for p in paths)
    with tarfile.open(archive) as tar:
        assert all(m.isreg() for m in tar.getmembers())


def _rewrite_gz(archive: Path, mutate) -> None:
    raw = bytearray(gzip.decompress(archive.read_bytes()))
    mutate(raw)
    archive.write_bytes(gzip.compress(bytes(raw)))


def test_flipped_byte_names_the_file(tmp_path):
    home = make_home(tmp_path)
    archive = create_backup(home, tmp_path / "b", now=NOW).archive
    needle = (home / "journal/2024-06-04/seg-0001.bin").read_bytes()[100:116]

    def flip(raw: bytearray) -> None:
        at = raw.find(needle)
        raw[at] ^= 0xFF

    _rewrite_gz(archive, flip)
    with pytest.raises(VerifyFailed) as info:
        verify_archive(archive)
    assert any("journal/2024-06-04/seg-0001.bin: checksum mismatch" in p for p in info.value.problems)


def test_flipped_byte_in_compressed_stream_fails(tmp_path):
    home = make_home(tmp_path)
    archive = create_backup(home, tmp_path / "b", now=NOW).archive
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    archive.write_bytes(bytes(raw))
    with pytest.raises(VerifyFailed):
        verify_archive(archive)


def test_truncated_archive_fails(tmp_path):
    home = make_home(tmp_path)
    archive = create_backup(home, tmp_path / "b", now=NOW).archive
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(VerifyFailed) as info:
        verify_archive(archive)
    assert any("truncated or corrupt" in p for p in info.value.problems)


def test_manifest_is_first_member_and_parses(tmp_path):
    import tarfile

    archive = create_backup(make_home(tmp_path), tmp_path / "b", now=NOW).archive
    with tarfile.open(archive) as tar:
        first = tar.next()
        assert first.name == MANIFEST
        data = json.loads(tar.extractfile(first).read())
    assert data["format"] == 1 and all(len(f["sha256"]) == 64 for f in data["files"])


# ---------------------------------------------------------------------------------------- retention


def reference_kept(times, daily, weekly, monthly):
    """Straightforward restatement: walk newest→oldest, keep the first archive of each new period until each
    rule has its count."""
    ordered = sorted(set(times), reverse=True)
    kept = set(ordered[:1])
    for count, fmt in ((daily, "%Y-%m-%d"), (weekly, "%G-%V"), (monthly, "%Y-%m")):
        seen = []
        for t in ordered:
            p = t.strftime(fmt)
            if p not in seen and len(seen) < count:
                seen.append(p)
                kept.add(t)
    return kept


@settings(max_examples=200, deadline=None)
@given(offsets=st.lists(st.integers(min_value=0, max_value=400 * 24), min_size=0, max_size=40),
       daily=st.integers(0, 10), weekly=st.integers(0, 6), monthly=st.integers(0, 8))
def test_select_kept_matches_reference(offsets, daily, weekly, monthly):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    times = [base + timedelta(hours=h) for h in offsets]
    kept = select_kept(times, daily, weekly, monthly)
    assert kept == reference_kept(times, daily, weekly, monthly)
    if times:
        assert max(times) in kept
    days = {t.date() for t in kept if t != max(times)} if times else set()
    assert len({t.date() for t in kept}) <= daily + weekly + monthly + 1
    assert days <= {t.date() for t in times}


def test_prune_keeps_the_right_archives(tmp_path):
    dest = tmp_path / "b"
    dest.mkdir()
    start = datetime(2025, 3, 1, 2, 30, tzinfo=UTC)
    for i in range(60):
        (dest / archive_name(start + timedelta(days=i))).write_bytes(b"x")
    result = prune(dest, tmp_path / "home", today=date(2025, 4, 30), keep_daily=7, keep_weekly=4, keep_monthly=6)
    left = [t for t, _ in list_archives(dest)]
    assert len(left) == len(result.kept)
    assert set(left) == select_kept([start + timedelta(days=i) for i in range(60)], 7, 4, 6)
    newest7 = [start + timedelta(days=i) for i in range(53, 60)]
    assert set(newest7) <= set(left)


def test_tick_partitions_removed_only_when_in_verified_archive(tmp_path):
    home = make_home(tmp_path)
    dest = tmp_path / "b"
    # nothing archived yet: old ticks are kept and reported
    dest.mkdir()
    result = prune(dest, home, today=date(2024, 6, 20), keep_daily=7, keep_weekly=4, keep_monthly=6, ticks_days=7)
    assert result.tick_partitions_removed == []
    assert len(result.tick_partitions_unprotected) == 2
    create_backup(home, dest, now=NOW)
    # a tick part added after the backup keeps its partition
    pl.DataFrame({"instrument_token": [1]}).write_parquet(home / "ticks/date=2024-06-04/part-0002.parquet")
    result = prune(dest, home, today=date(2024, 6, 20), keep_daily=7, keep_weekly=4, keep_monthly=6, ticks_days=7)
    assert result.tick_partitions_removed == ["ticks/date=2024-06-03"]
    assert result.tick_partitions_unprotected == ["ticks/date=2024-06-04"]
    assert not (home / "ticks/date=2024-06-03").exists()
    assert (home / "bars/interval=1m/date=2024-06-03").exists()


def test_cli_create_verify_restore(run_cli, home, tmp_path):
    src = make_home(tmp_path)
    code, out, err = run_cli("--home", str(src), "backup", "create")
    assert code == 0, err
    assert out.startswith("created ") and "verified" in out and "\x1b" not in out
    archive = list_archives(src / "backups")[0][1]
    code, out, _ = run_cli("--home", str(src), "backup", "verify", str(archive))
    assert code == 0 and ": ok (" in out
    archive.write_bytes(archive.read_bytes()[:-200])
    code, _, err = run_cli("--home", str(src), "backup", "verify", str(archive))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run_cli("backup", "restore", str(archive), "--to", str(tmp_path / "x"))
    assert code == 1


# ------------------------------------------------------------------------ backup while a writer is writing


def test_backup_while_writing_restores_identical_duckdb_results(tmp_path):
    """A writer adds one day's 1m bars (one immutable part) and an event line at a time, as the feed and trade
    do, while backups are taken. Each restored home answers DuckDB queries exactly as the source does over the
    days and event lines the archive holds."""
    import threading

    from tests.conftest import shared_file
    from tradesig.clock import IST
    from tradesig.store.datasets import Store
    from tradesig.store.db import connect, query
    from tradesig.store.events import EventLog

    source = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    bars = (pl.read_parquet(source).filter(pl.col("ts").dt.date() <= date(2024, 2, 29))
            .with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC")))
    days = bars.get_column("ts").dt.convert_time_zone(IST.key).dt.date().unique().sort().to_list()
    home = tmp_path / "home"
    store, events = Store(home), EventLog(home)
    day_col = pl.col("ts").dt.convert_time_zone(IST.key).dt.date()
    store.write_bars(bars.filter(day_col == days[0]), "1m", source="test")
    stop = threading.Event()

    def writer() -> None:
        for i, day in enumerate(days[1:], 1):
            if stop.is_set():
                return
            store.write_bars(bars.filter(day_col == day), "1m", source="test")
            events.append("feed_stats", {"ticks": i, "day": day.isoformat()},
                          datetime(2024, 3, 1, 4, 0, tzinfo=UTC) + timedelta(seconds=i))

    thread = threading.Thread(target=writer)
    thread.start()
    archives = []
    try:
        for n in range(3):
            archives.append(create_backup(home, tmp_path / "b", now=NOW + timedelta(seconds=n)).archive)
    finally:
        thread.join()
    assert len(archives) == 3

    bar_sql = ("SELECT symbol, CAST(ts AS DATE) AS d, count(*) AS n, sum(open) AS o, max(high) AS h, min(low) AS l, "
               "sum(close) AS c FROM bars GROUP BY ALL ORDER BY ALL")
    for i, archive in enumerate(archives):
        target = tmp_path / f"restored-{i}"
        restore_archive(archive, target)
        archived_days = sorted({e.path.split("date=")[1].split("/")[0] for e in read_manifest(archive).files
                                if e.path.startswith("bars/interval=1m/")})
        got = query(connect(target), bar_sql)
        want = query(connect(home), bar_sql).filter(pl.col("d").cast(pl.Utf8).is_in(archived_days))
        assert got.height == len(archived_days) >= 1
        assert got.equals(want)
        ev_got = query(connect(target), "SELECT kind, ts FROM events ORDER BY ts") if (target / "events").exists() \
            else pl.DataFrame()
        ev_all = query(connect(home), "SELECT kind, ts FROM events ORDER BY ts")
        assert ev_got.height <= ev_all.height
        if ev_got.height:
            assert ev_got.equals(ev_all.head(ev_got.height))


def test_restore_force_without_an_atomic_exchange_still_replaces(tmp_path, monkeypatch):
    """Where renameat2(RENAME_EXCHANGE) is missing, two renames do the swap; the result is the same."""
    import tradesig.backup_restore as br

    monkeypatch.setattr(br, "_exchange", lambda a, b: False)
    home = make_home(tmp_path)
    archive = create_backup(home, tmp_path / "b", now=NOW).archive
    target = tmp_path / "t"
    (target / "ticks" / "date=2020-01-01").mkdir(parents=True)
    (target / "ticks" / "date=2020-01-01" / "part-9.parquet").write_bytes(b"stray")
    restore_archive(archive, target, force=True)
    assert not (target / "ticks" / "date=2020-01-01").exists() and (target / "events").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "home", "t"]


def test_restore_into_a_target_that_cannot_be_written_is_one_line(run_cli, tmp_path):
    home = make_home(tmp_path)
    archive = create_backup(home, tmp_path / "b", now=NOW).archive
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code, out, err = run_cli("backup", "restore", str(archive), "--to", str(blocker / "home"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "cannot restore into" in err
    code, out, err = run_cli("backup", "restore", str(archive), "--to", str(blocker))
    assert code == 2 and err.count("\n") == 1 and "is not a directory" in err
    assert blocker.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["b", "blocker", "home"]


@pytest.mark.parametrize(("created_ist", "session"), [
    ((2024, 6, 11, 2, 45), date(2024, 6, 10)),   # the nightly run after Monday's session holds Monday
    ((2024, 6, 10, 9, 0), date(2024, 6, 7)),     # a catch-up on Monday morning holds Friday
    ((2024, 6, 10, 16, 0), date(2024, 6, 10)),   # after the close: today
])
def test_manifest_records_the_session_the_archive_holds(tmp_path, created_ist, session):
    """Same "which day" rule as the report (tradesig.clock.last_completed_session), in the manifest."""
    from tradesig.backup import read_manifest
    from tradesig.calendar import get_calendar
    from tradesig.clock import ist, last_completed_session

    now = ist(*created_ist)
    held = last_completed_session(get_calendar(), now)
    assert held == session
    archive = create_backup(make_home(tmp_path), tmp_path / "b", now=now, session=held).archive
    assert read_manifest(archive).session == session
    old = create_backup(make_home(tmp_path / "o"), tmp_path / "o" / "b", now=now).archive
    assert read_manifest(old).session is None  # older archives (no session) still read


def test_cli_create_and_verify_name_the_session(run_cli, tmp_path):
    from tradesig.calendar import get_calendar
    from tradesig.clock import SystemClock, last_completed_session
    from tradesig.errors import CalendarCoverageError

    try:  # outside the calendar's coverage the archive is made without a session
        shown = f"(session {last_completed_session(get_calendar(), SystemClock().now())}, "
    except CalendarCoverageError:
        shown = "("
    src = make_home(tmp_path)
    code, out, err = run_cli("--home", str(src), "backup", "create")
    assert code == 0, err
    assert shown in out
    archive = list_archives(src / "backups")[0][1]
    code, out, _ = run_cli("--home", str(src), "backup", "verify", str(archive))
    assert code == 0 and f": ok {shown}" in out

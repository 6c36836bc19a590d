"""Backups of the data home: create, verify, restore, prune.

An archive is a gzip'd tar named ``tradesig-YYYYMMDDTHHMMSSZ.tar.gz`` (UTC) whose first member is
``MANIFEST.json``: format version, creation time, tradesig version, and for every other member its path, size
(bytes) and SHA-256. It holds the journal, the Parquet datasets (ticks, bars), the events log, the DuckDB catalog
and the config file — never the token files, the secrets file or earlier backups.

Consistency while ``feed`` and ``trade`` write (DESIGN.md storage rules make this cheap):
- Parquet parts are immutable once renamed into place: copied whole; temp files (``*.tmp``, dot-files) skipped.
- Append-only files (journal segments, ``events/*.jsonl``) are copied up to the length seen when the snapshot
  starts; an events file is cut at its last complete line, so every archived line parses.
- ``tradesig.duckdb`` is replaced atomically by its writer, so reading it whole gives one version.

``create`` writes to a temporary name, verifies the result and only then renames it into place and writes
``<archive>.verified`` (the manifest's SHA-256): ``prune --ticks-days`` deletes a tick partition only when a verified
archive holds every one of its files with the same checksum. ``create`` archives regular files only: a symlink
(file or directory, at any depth, including a top-level entry such as ``ticks``) is never followed, so nothing
outside the home is read; each one skipped is named in :attr:`BackupResult.skipped`.

Archives are checked member by member against the home's layout (:func:`member_problem`) before anything is
written: only regular files named ``journal/…``, ``ticks/…``, ``bars/…``, ``events/…``, ``state/…``,
``tradesig.duckdb`` or ``config/NAME``; no absolute path, no ``..`` or empty component, no dot/temp files, no
symlink, hard link, device, FIFO or directory entry, no name twice, each listed in the manifest.

``restore --force`` into a non-empty home does not merge: it *replaces* the home. The archive is unpacked into a
staging directory beside the target; the entries backups never hold (``tokens/``, ``backups/``, ``secrets.toml``)
are carried over by hard link; then the staging directory and the target are swapped atomically (Linux
``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, with the old home at ``.NAME.old-PID`` beside it in between)
and the old home is removed. So anything else that was in the target — stray Parquet files the store would read,
datasets newer than the archive — is gone. Stop ``feed`` and ``trade`` on that home first.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tradesig import __version__
from tradesig.errors import DataError, TradesigError

MANIFEST = "MANIFEST.json"
FORMAT = 1
ARCHIVE_PREFIX = "tradesig-"
ARCHIVE_SUFFIX = ".tar.gz"
#: Top-level entries of the data home that are backed up (relative paths); everything else is left out.
INCLUDED = ("journal", "ticks", "bars", "events", "state", "tradesig.duckdb")
EXCLUDED_NAMES = ("tokens", "backups", "secrets.toml")
_CHUNK = 1 << 20


class VerifyFailed(TradesigError):
    """An archive failed verification (exit 1): ``problems`` names each bad member."""

    exit_code = 1

    def __init__(self, archive: Path, problems: list[str]) -> None:
        super().__init__(f"{archive.name}: {len(problems)} problem(s): " + "; ".join(problems[:5])
                         + (" …" if len(problems) > 5 else ""), "take a new backup; do not restore from this one")
        self.problems = problems


@dataclass(frozen=True)
class ManifestEntry:
    """One archived file: ``path`` relative to the home (``config/config.toml`` for the config), size in bytes."""

    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    """``created_at`` aware UTC; ``session`` the IST date of the last completed trading session when the archive
    was made (the day a nightly backup holds: :func:`tradesig.clock.last_completed_session`; None when unknown,
    e.g. archives of older versions or outside the calendar's coverage)."""

    created_at: datetime
    files: list[ManifestEntry] = field(default_factory=list)
    version: str = __version__
    format: int = FORMAT
    session: date | None = None

    def to_json(self) -> bytes:
        return json.dumps({
            "format": self.format, "version": self.version, "created_at": self.created_at.isoformat(),
            "session": self.session.isoformat() if self.session else None,
            "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.files],
        }, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        session = data.get("session")
        return cls(created_at=datetime.fromisoformat(data["created_at"]), version=data["version"],
                   format=data["format"], session=date.fromisoformat(session) if session else None,
                   files=[ManifestEntry(f["path"], int(f["size"]), f["sha256"]) for f in data["files"]])


@dataclass(frozen=True)
class BackupResult:
    """``files`` archived, ``bytes`` of file data; ``skipped``: home-relative paths not archived because they are
    symlinks or not regular files (never followed)."""

    archive: Path
    files: int
    bytes: int
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    archive: Path
    files: int
    parquet_parts: int
    event_lines: int


Progress = Callable[[int], None]


def archive_name(created_at: datetime) -> str:
    """``tradesig-YYYYMMDDTHHMMSSZ.tar.gz`` for an aware creation time (stored in UTC)."""
    return f"{ARCHIVE_PREFIX}{created_at.astimezone(UTC):%Y%m%dT%H%M%SZ}{ARCHIVE_SUFFIX}"


def archive_time(path: Path) -> datetime | None:
    """The creation time encoded in an archive's name, or None for a file that is not a tradesig archive."""
    name = path.name
    if not (name.startswith(ARCHIVE_PREFIX) and name.endswith(ARCHIVE_SUFFIX)):
        return None
    stamp = name[len(ARCHIVE_PREFIX):-len(ARCHIVE_SUFFIX)]
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _snapshot_length(path: Path) -> int:
    """Bytes of ``path`` to archive: all of it, except an events log is cut at its last complete line."""
    size = path.stat().st_size
    if path.suffix != ".jsonl" or size == 0:
        return size
    with _open_regular(path) as fh:
        pos = size
        while pos > 0:
            step = min(_CHUNK, pos)
            fh.seek(pos - step)
            block = fh.read(step)
            idx = block.rfind(b"\n")
            if idx >= 0:
                return pos - step + idx + 1
            pos -= step
    return 0


def scan_home(home: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """Files to archive as (path, home-relative name), and what was skipped because it is a symlink or not a
    regular file (named relative to the home). Symlinks are never followed, so nothing outside the home is read."""
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    for top in INCLUDED:
        root = home / top
        try:
            mode = root.lstat().st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode):
            files.append((root, top))
            continue
        if not stat.S_ISDIR(mode):
            skipped.append(top)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            base = Path(dirpath)
            keep = []
            for d in sorted(dirnames):
                if d.startswith(".") or d in EXCLUDED_NAMES:
                    continue
                if (base / d).is_symlink():
                    skipped.append((base / d).relative_to(home).as_posix())
                    continue
                keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                if name.startswith(".") or ".tmp" in name:
                    continue
                full = base / name
                rel = full.relative_to(home).as_posix()
                if stat.S_ISREG(full.lstat().st_mode):
                    files.append((full, rel))
                else:
                    skipped.append(rel)
    return files, skipped


def _home_files(home: Path) -> list[tuple[Path, str]]:
    return scan_home(home)[0]


def _open_regular(path: Path):
    """Open ``path`` for reading without following a symlink (ELOOP if it became one since the scan)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def _sha256_range(path: Path, length: int) -> str:
    digest = hashlib.sha256()
    with _open_regular(path) as fh:
        remaining = length
        while remaining:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                raise DataError(f"{path} shrank while being backed up", "append-only files must never be truncated")
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


class _LimitedReader(io.RawIOBase):
    """Reads at most ``length`` bytes of a file (the snapshot length), feeding a running SHA-256."""

    def __init__(self, path: Path, length: int) -> None:
        self._fh = _open_regular(path)
        self._left = length
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        n = self._fh.readinto(view)
        if not n:
            return 0
        self.digest.update(view[:n])
        self._left -= n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def create_backup(home: Path, dest: Path, *, now: datetime, config_file: Path | None = None,
                  progress: Progress | None = None, session: date | None = None) -> BackupResult:
    """Write a consistent, verified archive of ``home`` into directory ``dest``; return where and how much.

    ``now`` (aware) names the archive; ``session`` (IST date of the last completed trading session) is recorded
    in the manifest as the day the archive holds. ``config_file`` (the TOML config; secrets are references, never
    values) is stored as ``config/<name>``. Raises :class:`DataError` if ``home`` does not exist, cannot be read,
    ``dest`` cannot be written, or the written archive does not verify because a file of the home is corrupt (an
    unreadable Parquet part, an events line that is not JSON); nothing is left behind then.
    """
    if not home.is_dir():
        raise DataError(f"data home {home} does not exist", "check --home / $TRADESIG_HOME")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        found, skipped = scan_home(home)
        sources = [(path, rel, _snapshot_length(path)) for path, rel in found]
        if config_file is not None and config_file.is_file():
            sources.append((config_file, f"config/{config_file.name}", config_file.stat().st_size))
        final = dest / archive_name(now)
        if final.exists():
            raise DataError(f"{final} already exists", "wait a second and run again")
        fd, tmp_name = tempfile.mkstemp(prefix=".backup-", suffix=".tmp", dir=dest)
        os.close(fd)
    except OSError as exc:
        raise DataError(f"cannot back up {home} into {dest}: {exc.strerror or exc}"
                        + (f" ({exc.filename})" if exc.filename else "")) from None
    tmp = Path(tmp_name)
    total = 0
    try:
        # The manifest must be the first member, but checksums are known only after reading: hash first, then
        # write. Files are immutable or append-only, and the snapshot length is fixed, so both reads agree.
        manifest = Manifest(created_at=now.astimezone(UTC), session=session)
        for path, rel, length in sources:
            manifest.files.append(ManifestEntry(rel, length, _sha256_range(path, length)))
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            raw = manifest.to_json()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(raw), int(now.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(raw))
            for (path, rel, length), entry in zip(sources, manifest.files, strict=True):
                info = tarfile.TarInfo(rel)
                info.size, info.mode = length, 0o600
                info.mtime = int(path.stat().st_mtime)
                reader = _LimitedReader(path, length)
                try:
                    tar.addfile(info, reader)
                finally:
                    reader.close()
                if reader.digest.hexdigest() != entry.sha256:
                    raise DataError(f"{rel} changed while being backed up", "it must be immutable or append-only")
                total += length
                if progress:
                    progress(1)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            verify_archive(tmp)
        except VerifyFailed as exc:  # what was read from the home does not verify: a corrupt file in the home
            raise DataError(f"{home} holds files a restore could not use: " + "; ".join(exc.problems[:3])
                            + (" …" if len(exc.problems) > 3 else ""),
                            "restore those files from an earlier archive or move them aside; no archive was "
                            "written") from None
        os.replace(tmp, final)
        _write_verified_marker(final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write the backup into {dest}: {exc.strerror or exc}"
                        + (f" ({exc.filename})" if exc.filename else ""), "nothing was left behind") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupResult(final, len(sources), total, tuple(skipped))


def _write_verified_marker(archive: Path) -> None:
    manifest = read_manifest(archive)
    digest = hashlib.sha256(manifest.to_json()).hexdigest()
    marker = archive.with_name(archive.name + ".verified")
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(digest + "\n", encoding="utf-8")
    os.replace(tmp, marker)


def read_manifest(archive: Path) -> Manifest:
    """The manifest of an archive. Raises :class:`VerifyFailed` when it is missing or unreadable."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise VerifyFailed(archive, [f"{MANIFEST} is not the first member"])
            fh = tar.extractfile(first)
            assert fh is not None
            return Manifest.from_json(fh.read())
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError) as exc:
        raise VerifyFailed(archive, [f"unreadable archive: {exc}"]) from None


_DIR_TOPS = tuple(t for t in INCLUDED if t != "tradesig.duckdb")


def member_problem(name: str) -> str | None:
    """Why an archive member (or manifest) path does not belong in a data home, or None when it does.

    Allowed: ``MANIFEST.json``, ``tradesig.duckdb``, ``config/NAME`` and ``TOP/…`` for TOP in journal, ticks,
    bars, events, state; never absolute, never a ``..``/``.``/empty component, no dot or temp files, nothing named
    like the entries backups leave out (tokens, backups, secrets.toml)."""
    if name == MANIFEST:
        return None
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path refused"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\\" in name or "\x00" in name:
        return "path with '..', '.', an empty component or a backslash refused"
    top, rest = parts[0], parts[1:]
    fits = ((top == "tradesig.duckdb" and not rest) or (top == "config" and len(rest) == 1)
            or (top in _DIR_TOPS and len(rest) >= 1))
    if not fits:
        return ("outside the data home's layout (journal/, ticks/, bars/, events/, state/, tradesig.duckdb, "
                "config/NAME)")
    if any(part.startswith(".") or part in EXCLUDED_NAMES for part in rest) or ".tmp" in parts[-1]:
        return "a temporary, hidden or excluded file refused"
    return None


def _type_problem(member: tarfile.TarInfo) -> str | None:
    if member.isreg():
        return None
    kind = ("symlink" if member.issym() else "hard link" if member.islnk() else "directory entry" if member.isdir()
            else "device" if member.ischr() or member.isblk() else "FIFO" if member.isfifo() else "special member")
    return f"{kind} refused (only regular files are restored)"


def _content_problems(name: str, data: bytes) -> tuple[list[str], int, int]:
    """Problems of a member's content (Parquet reads, events lines parse) and the (parts, lines) it counts."""
    if name.endswith(".parquet"):
        import polars as pl

        try:
            pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - any reader failure means "unreadable part"
            return [f"{name}: unreadable Parquet ({type(exc).__name__})"], 0, 0
        return [], 1, 0
    if name.endswith(".jsonl"):
        lines = 0
        for n, line in enumerate(data.splitlines(), 1):
            try:
                json.loads(line)
            except ValueError:
                return [f"{name}: line {n} is not JSON"], 0, lines
            lines += 1
        return [], 0, lines
    return [], 0, 0


def verify_archive(archive: Path, progress: Progress | None = None) -> VerifyResult:
    """Check every member against the home's layout (:func:`member_problem`: name, type) and the manifest (size,
    SHA-256), that every Parquet part reads and every events line parses. Raises :class:`VerifyFailed` naming each
    bad member (a truncated or corrupt archive, a traversal or absolute name, a link or device included);
    :class:`DataError` when the file does not exist. Reads only; writes nothing."""
    if not archive.is_file():
        raise DataError(f"{archive} does not exist")
    problems: list[str] = []
    parts = lines = 0
    manifest: Manifest | None = None
    expected: dict[str, ManifestEntry] = {}
    seen: set[str] = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                bad = member_problem(member.name) or _type_problem(member)
                if bad:
                    problems.append(f"{member.name}: {bad}")
                    continue
                if member.name in seen or (member.name == MANIFEST and manifest is not None):
                    problems.append(f"{member.name}: appears twice")
                    continue
                fh = tar.extractfile(member)
                data = fh.read() if fh is not None else b""
                if manifest is None:
                    if member.name != MANIFEST:
                        problems.append(f"{MANIFEST} is not the first member")
                        break
                    manifest = Manifest.from_json(data)
                    expected = {e.path: e for e in manifest.files}
                    problems += [f"manifest entry {e.path}: {why}" for e in manifest.files
                                 if (why := member_problem(e.path)) or e.path == MANIFEST]
                    continue
                entry = expected.get(member.name)
                if entry is None:
                    problems.append(f"{member.name}: not in the manifest")
                    continue
                seen.add(member.name)
                if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
                    problems.append(f"{member.name}: checksum mismatch")
                    continue
                bad_content, n_parts, n_lines = _content_problems(member.name, data)
                problems += bad_content
                parts, lines = parts + n_parts, lines + n_lines
                if progress:
                    progress(1)
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"truncated or corrupt archive ({type(exc).__name__}: {exc})")
    problems += [f"{name}: both a file and a directory" for name in sorted(seen)
                 if any("/".join(name.split("/")[:i]) in seen for i in range(1, name.count("/") + 1))]
    if manifest is None:
        problems.append(f"no {MANIFEST}")
    else:
        missing = sorted(set(expected) - seen)
        if missing and not any("truncated" in p for p in problems):
            problems.extend(f"{path}: missing from the archive" for path in missing)
        elif missing:
            problems.append(f"{len(missing)} file(s) not reached, first {missing[0]}")
    if problems:
        raise VerifyFailed(archive, problems)
    assert manifest is not None
    return VerifyResult(archive, len(manifest.files), parts, lines)


# ------------------------------------------------------------------------------------------------------ prune


def select_kept(times: Iterable[datetime], keep_daily: int, keep_weekly: int, keep_monthly: int) -> set[datetime]:
    """Retention as borg/restic define it: for each of the last ``keep_daily`` days that have archives keep the
    newest archive of that day; likewise ISO weeks and calendar months (UTC). An archive may count for several
    rules. The newest archive overall is always kept. Returns the kept creation times."""
    ordered = sorted(set(times), reverse=True)
    kept: set[datetime] = set(ordered[:1])
    for count, key in ((keep_daily, lambda t: t.date()),
                       (keep_weekly, lambda t: tuple(t.isocalendar())[:2]),
                       (keep_monthly, lambda t: (t.year, t.month))):
        periods: list[object] = []
        for t in ordered:
            period = key(t)
            if period in periods:
                continue
            if len(periods) >= count:
                break
            periods.append(period)
            kept.add(t)
    return kept


@dataclass(frozen=True)
class PruneResult:
    kept: list[Path]
    removed: list[Path]
    tick_partitions_removed: list[str]
    tick_partitions_unprotected: list[str]


def list_archives(dest: Path) -> list[tuple[datetime, Path]]:
    """Archives in ``dest`` (by name), oldest first."""
    if not dest.is_dir():
        return []
    found = [(archive_time(p), p) for p in dest.iterdir() if p.is_file()]
    return sorted((t, p) for t, p in found if t is not None)


def verified_manifest(archive: Path) -> Manifest | None:
    """The archive's manifest when its ``.verified`` marker (written by ``create`` after verifying it) matches
    the manifest's SHA-256; None without a marker or on a mismatch. Raises :class:`VerifyFailed` for an unreadable
    archive."""
    marker = archive.with_name(archive.name + ".verified")
    if not marker.is_file():
        return None
    manifest = read_manifest(archive)
    if marker.read_text(encoding="utf-8").strip() != hashlib.sha256(manifest.to_json()).hexdigest():
        return None
    return manifest


def prune(dest: Path, home: Path, *, today: date, keep_daily: int, keep_weekly: int, keep_monthly: int,
          ticks_days: int | None = None, dry_run: bool = False) -> PruneResult:
    """Delete archives outside the retention (:func:`select_kept`) and, with ``ticks_days``, tick partitions
    (``ticks/date=D``) older than ``today - ticks_days`` whose every file is held, with the same SHA-256, by a kept
    archive that verified (its ``.verified`` marker matches). Bars are never pruned. ``today`` is the IST date."""
    archives = list_archives(dest)
    kept_times = select_kept([t for t, _ in archives], keep_daily, keep_weekly, keep_monthly)
    kept = [p for t, p in archives if t in kept_times]
    removed = [p for t, p in archives if t not in kept_times]
    removed_ticks: list[str] = []
    unprotected: list[str] = []
    if ticks_days is not None:
        protected: dict[str, str] = {}
        for archive in kept:
            manifest = verified_manifest(archive)
            if manifest is None:
                continue
            protected.update({e.path: e.sha256 for e in manifest.files if e.path.startswith("ticks/")})
        cutoff = today - timedelta(days=ticks_days)
        ticks_root = home / "ticks"
        for part_dir in sorted(ticks_root.glob("date=*")) if ticks_root.is_dir() else []:
            try:
                day = date.fromisoformat(part_dir.name.split("=", 1)[1])
            except ValueError:
                continue
            if day >= cutoff:
                continue
            files = [f for f in part_dir.rglob("*") if f.is_file() and not f.is_symlink()]
            rel = part_dir.relative_to(home).as_posix()
            safe = all(protected.get(f.relative_to(home).as_posix()) == _sha256_range(f, f.stat().st_size)
                       for f in files)
            if safe:
                removed_ticks.append(rel)
                if not dry_run:
                    shutil.rmtree(part_dir)
            else:
                unprotected.append(rel)
    if not dry_run:
        for path in removed:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".verified").unlink(missing_ok=True)
    return PruneResult(kept, removed, removed_ticks, unprotected)


def __getattr__(name: str):  # noqa: ANN202
    """``restore_archive`` moved to :mod:`tradesig.backup_restore`; the old name stays importable from here."""
    if name == "restore_archive":
        from tradesig.backup_restore import restore_archive

        return restore_archive
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

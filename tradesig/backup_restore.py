"""``backup restore``: unpack a verified archive into a staging directory beside the target and swap it in.

The policy (replace, never merge; what is carried over; the atomic swap) is in :mod:`tradesig.backup`'s docstring.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from tradesig.backup import (
    _CHUNK,
    EXCLUDED_NAMES,
    MANIFEST,
    VerifyFailed,
    VerifyResult,
    _type_problem,
    member_problem,
    read_manifest,
    verify_archive,
)
from tradesig.errors import DataError


def _unpack(archive: Path, staging: Path) -> None:
    """Write every member of a verified archive under ``staging``, re-checking name, type and checksum as it goes
    (the archive may have changed since it was verified); files are created new (O_EXCL), never through a link."""
    manifest = read_manifest(archive)
    expected = {e.path: e for e in manifest.files}
    root = os.path.realpath(staging)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name == MANIFEST:
                continue
            entry = expected.get(member.name)
            bad = member_problem(member.name) or _type_problem(member) or (None if entry else "not in the manifest")
            if bad or entry is None:
                raise VerifyFailed(archive, [f"{member.name}: {bad}"])
            dest = staging.joinpath(*member.name.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            if os.path.commonpath([root, os.path.realpath(dest.parent)]) != root:
                raise VerifyFailed(archive, [f"{member.name}: would be written outside the target"])
            fh = tar.extractfile(member)
            assert fh is not None
            digest = hashlib.sha256()
            with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb") as out:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != entry.sha256:
                raise VerifyFailed(archive, [f"{member.name}: checksum mismatch"])


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False when the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_dir(staging: Path, target: Path) -> Path:
    """Put ``staging`` in place of the existing directory ``target``; return where the old one now is."""
    if _exchange(staging, target):
        return staging
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old, target)
        raise
    return old


def restore_archive(archive: Path, target: Path, *, force: bool = False) -> VerifyResult:
    """Verify ``archive``, then make ``target`` the data home it holds (the config goes to ``target/config/``).

    Refuses (:class:`DataError`) a non-empty ``target`` unless ``force``; with ``force`` the home is *replaced*,
    not merged (module docstring: only tokens/, backups/ and secrets.toml are carried over). Everything is unpacked
    into a staging directory beside ``target`` first and swapped in at the end, so a failure leaves ``target`` as
    it was and no file is ever written outside it. Raises :class:`VerifyFailed` (exit 1) for a bad archive,
    :class:`DataError` (exit 2) when the target cannot be written or replaced (e.g. it is a mount point)."""
    result = verify_archive(archive)
    target = Path(os.path.abspath(target))
    if target.exists() and not target.is_dir():
        raise DataError(f"{target} is not a directory", "restore into a new or empty directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise DataError(f"{target} is not empty", "restore into an empty directory, or pass --force to replace it")
    staging: Path | None = None
    old: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
        _unpack(archive, staging)
        if target.is_dir():
            os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
            for name in EXCLUDED_NAMES:
                src = target / name
                if src.is_symlink() or src.is_file():
                    _link_or_copy(str(src), str(staging / name))
                elif src.is_dir():
                    shutil.copytree(src, staging / name, symlinks=True, copy_function=_link_or_copy)
            old = _replace_dir(staging, target)
        else:
            os.rename(staging, target)
        staging = None
    except OSError as exc:
        raise DataError(f"cannot restore into {target}: {exc.strerror or exc}"
                        + (f" ({exc.filename})" if exc.filename else ""),
                        "restore into a new directory on the same file system (not a mount point)") from None
    finally:
        for leftover in (staging, old):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)
    return result


__all__ = ["restore_archive"]

"""The data home as a place to write: can it be created and written, before a command starts its work.

Where the home *is* comes from :func:`tradesig.config.resolve_home`; this module only answers whether a command
that writes there (the feed, trade, an import, a login) can, so that it fails at once with one line (exit 2)
instead of after waiting for a token or a redirect.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tradesig.errors import ConfigError


def home_problem(home: Path) -> str | None:
    """Why the data home cannot be created or written, without creating anything; None when it can."""
    probe = home
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        writable = (probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
                    and not os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError as exc:
        return f"data home {home}: cannot be used ({probe}: {exc.strerror or exc})"
    if not writable:
        verb = "cannot be written" if probe == home else "cannot be created"
        return f"data home {home}: {verb} ({probe} is not a writable directory)"
    return None


def require_writable_home(home: Path) -> Path:
    """Create the data home if needed and prove it writable (a probe file is created and removed), before a
    command that writes starts its work (the feed before it waits for a token, an import before it reads).

    Returns ``home``. Raises :class:`ConfigError` (exit 2, one line) naming the path and the reason: under a
    file, no permission, read-only file system, full disk."""
    problem = home_problem(home)
    if problem is None:
        try:
            home.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=home)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            verb = "cannot be written" if home.is_dir() else "cannot be created"
            problem = f"data home {home}: {verb} ({exc.strerror or exc})"
    if problem is not None:
        raise ConfigError(problem, "choose a writable data home with --home or $TRADESIG_HOME")
    return home


__all__ = ["home_problem", "require_writable_home"]

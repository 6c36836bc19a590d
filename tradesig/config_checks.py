"""The checks a settings field carries (``_f(default, doc, check=between(1, 400))`` in :mod:`tradesig.config`).

A :class:`Check` is a pure test of one value plus the short text ``docs/configuration.md`` prints for it. It
returns ``None`` when the value is fine, else the problem without the key (the loader prefixes
``section.key:``). Numeric checks refuse NaN and infinities (TOML allows ``nan`` and ``inf``) before any range.
No I/O here: checks that need the file system (secrets file, data home) live in ``config.check_config``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Check:
    """``doc``: what the docs print (e.g. ``1 … 400``); ``test(value)``: None if fine, else the problem."""

    doc: str
    test: Callable[[Any], str | None]

    def __call__(self, value: Any) -> str | None:
        return self.test(value)


def _number(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def between(lo: float, hi: float) -> Check:
    """``lo <= value <= hi`` (inclusive), finite."""

    def test(value: Any) -> str | None:
        if (bad := _number(value)) or lo <= value <= hi:
            return bad
        return f"must be between {_fmt(lo)} and {_fmt(hi)}, got {value}"

    return Check(f"{_fmt(lo)} … {_fmt(hi)}", test)


def above(lo: float, hi: float) -> Check:
    """``lo < value <= hi`` (``positive`` amounts with a sane upper bound), finite."""

    def test(value: Any) -> str | None:
        if (bad := _number(value)) or lo < value <= hi:
            return bad
        if value <= lo:
            return f"must be greater than {_fmt(lo)}, got {value}"
        return f"must be at most {_fmt(hi)}, got {value}"

    return Check(f"> {_fmt(lo)}, ≤ {_fmt(hi)}", test)


def market_protection() -> Check:
    """Kite's ``market_protection``: -1 (automatic) or a percentage 0 < x ≤ 100; 0 is rejected by Kite.

    Source: Kite Connect team, kite.trade forum comment 52970 (2026): "Orders placed with market protection set to
    0 will be rejected ... use market_protection=-1 for automatic protection, or a positive value"."""

    def test(value: Any) -> str | None:
        if (bad := _number(value)) or value == -1 or 0 < value <= 100:
            return bad
        return f"must be -1 (automatic) or a percentage above 0 and at most 100, got {value}"

    return Check("-1 (automatic) or > 0, ≤ 100", test)


def hhmm() -> Check:
    """An ``HH:MM`` wall-clock time (IST)."""

    def test(value: Any) -> str | None:
        parts = value.split(":")
        ok = (len(parts) == 2 and all(len(p) == 2 and p.isdigit() for p in parts)
              and int(parts[0]) < 24 and int(parts[1]) < 60)
        return None if ok else f"{value!r} is not an HH:MM time"

    return Check("HH:MM", test)


def iso_date() -> Check:
    def test(value: Any) -> str | None:
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"{value!r} is not a YYYY-MM-DD date"
        return None

    return Check("YYYY-MM-DD", test)


def split_host_port(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` or ``[IPv6]:PORT`` → (host, port), or None when malformed (port must be 1–65535)."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def host_port() -> Check:
    """A listening address ``HOST:PORT`` (``[::1]:PORT`` for IPv6), port 1–65535."""

    def test(value: Any) -> str | None:
        if split_host_port(value.strip()) is None:
            return f"{value!r} is not HOST:PORT with a port from 1 to 65535"
        return None

    return Check("HOST:PORT, port 1 … 65535", test)


def url(*schemes: str) -> Check:
    """An absolute URL with one of ``schemes`` and a host (a port, if given, 1–65535)."""
    from urllib.parse import urlsplit

    def test(value: Any) -> str | None:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return f"{value!r} is not a URL with a valid port"
        if parts.scheme not in schemes or not parts.hostname or port == 0:
            return f"{value!r} is not a {'/'.join(schemes)} URL"
        return None

    return Check(f"{'/'.join(schemes)} URL", test)


def each(check: Check) -> Check:
    """Every item of a list passes ``check``."""

    def test(value: Any) -> str | None:
        problems = [p for item in value if (p := check(item))]
        return "; ".join(problems) or None

    return Check(f"each: {check.doc}", test)


def one_of(choices: Iterable[str] | Callable[[], Iterable[str]], what: str) -> Check:
    """The value is one of ``choices`` (a callable is read lazily, e.g. the index table)."""

    def names() -> list[str]:
        return list(choices() if callable(choices) else choices)

    def test(value: Any) -> str | None:
        known = names()
        return None if value in known else f"unknown {what} {value!r} (known: {', '.join(known)})"

    return Check(f"a known {what}", test)


def optional(check: Check) -> Check:
    """An empty value (the feature turned off) or one that passes ``check``."""

    def test(value: Any) -> str | None:
        return None if value in ("", None) else check(value)

    return Check(f"empty, or {check.doc}", test)


def secret_reference() -> Check:
    """A secret field holds ``secret:NAME`` (or is empty), never a value; the value is never repeated."""

    def test(value: Any) -> str | None:
        if value and not value.startswith("secret:"):
            return ("a literal secret in the config file; write 'secret:NAME' and put the value in env, "
                    "a credential or the secrets file")
        return None

    return Check("secret:NAME", test)


__all__ = ["Check", "between", "above", "market_protection", "hhmm", "iso_date", "host_port", "split_host_port",
           "url", "each", "one_of", "optional", "secret_reference"]

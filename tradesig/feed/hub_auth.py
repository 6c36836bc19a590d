"""Tokens and addresses of the viewer hub: how strong a token must be, how a token file must be kept, which
listen addresses are loopback.

A viewer token gates every request of a hub bound off loopback; the publish token lets a viewer publish signals
and flatten. Both are bearer secrets sent in URLs, so they must be unguessable: at least :data:`MIN_TOKEN_BITS`
bits of entropy (:func:`token_bits`), kept in a file only its owner can read (:func:`read_token_file`), like
tradesig's other secrets (DESIGN.md: "secrets only from env, a 0600 file, or systemd credentials").
"""

from __future__ import annotations

import ipaddress
import math
import os
import stat
import string
from pathlib import Path

from tradesig.errors import ConfigError

#: Least entropy (bits) of a viewer token off loopback and of any publish token (NIST SP 800-63B's 112-bit floor
#: for secrets, rounded up to 128; the estimate of :func:`token_bits` is conservative, so use what TOKEN_ADVICE
#: makes, ``secrets.token_urlsafe(32)``, which always passes).
MIN_TOKEN_BITS = 128
TOKEN_ADVICE = "make one: python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE && chmod 600 FILE"
def token_bits(token: str) -> float:
    """Estimated entropy of a token, bits: ``len × log2(alphabet)``, the alphabet being the character classes the
    token uses (hex digits 16; else lower 26, upper 26, digits 10, other printable ASCII 33, summed); 0 when the
    token repeats few characters (fewer distinct than half of min(length, alphabet)) — "aaaa…" is not random."""
    if not token:
        return 0.0
    chars = set(token)
    if chars <= set(string.hexdigits.lower()) or chars <= set(string.digits + "ABCDEF"):
        pool = 16
    else:
        pool = sum(size for cls, size in ((string.ascii_lowercase, 26), (string.ascii_uppercase, 26),
                                          (string.digits, 10), (string.punctuation, 33)) if chars & set(cls))
        pool = max(pool, len(chars))
    if len(chars) < min(len(token), pool) / 2:
        return 0.0
    return len(token) * math.log2(pool)


def check_token(token: str, what: str) -> None:
    """Raise :class:`ConfigError` when ``token`` carries fewer than :data:`MIN_TOKEN_BITS` bits (:func:`token_bits`)."""
    bits = token_bits(token)
    if bits < MIN_TOKEN_BITS:
        raise ConfigError(f"the {what} carries about {bits:.0f} bits of entropy; at least {MIN_TOKEN_BITS} are "
                          "required", TOKEN_ADVICE)


def read_token_file(path: str | Path, what: str) -> str:
    """The token in ``path`` (stripped). Raises :class:`ConfigError` (exit 2) when the file is unreadable, empty,
    or readable/writable by group or others (it must be mode 0600 or stricter, like tradesig's own secrets)."""
    path = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the {what} file {path}: {reason}") from None
    if mode & 0o077:
        raise ConfigError(f"the {what} file {path} has mode {mode:04o}: group and others may read it",
                          f"chmod 600 {path}")
    if not text:
        raise ConfigError(f"the {what} file {path} is empty", TOKEN_ADVICE)
    return text


__all__ = ["MIN_TOKEN_BITS", "TOKEN_ADVICE", "token_bits", "check_token", "read_token_file"]


def is_loopback_host(host: str) -> bool:
    """True for ``127.0.0.0/8``, ``::1`` and ``localhost``; any other name or address is not loopback."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Parse ``[HOST:]PORT`` (``"8765"``, ``"0.0.0.0:8765"``, ``"[::1]:8765"``); ``ValueError`` if malformed."""
    text = text.strip()
    host, port = default_host, text
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"not a [HOST:]PORT address: {text!r}")
    return host or default_host, int(port)

"""The single exception root of tradesig and its exit codes.

Exit codes are part of the public interface (docs/README.md):

====  =============================================================
0     success
1     "the answer is no": token invalid or expired, not a trading day, order rejected
2     usage, configuration or input-data error
3     broker or network unreachable, or the peer sent malformed data
255   unknown: e.g. the market calendar has no data for the date
====  =============================================================

Library code raises these; ``tradesig.cli`` turns them into one line on stderr and the exit code.
Messages never contain secrets: tokens are shown redacted (``abcd…wxyz``, see :func:`redact`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_UNKNOWN = 255


class TradesigError(Exception):
    """Base of every expected failure.

    ``message`` says what is wrong; ``hint`` says what to do. ``exit_code`` is the process exit code
    the CLI uses for it.
    """

    exit_code: int = EXIT_USAGE
    #: lines the CLI prints before the message, one problem each (e.g. every problem of an invalid config)
    details: tuple[str, ...] = ()

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(TradesigError):
    """The configuration is missing, malformed or invalid (exit 2). ``problems`` lists every problem found."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None, problems: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.problems = problems or []


class DataError(TradesigError):
    """Input data is unusable: unreadable file, wrong columns, no rows for the request (exit 2)."""

    exit_code = EXIT_USAGE


class CalendarCoverageError(TradesigError):
    """The market calendar has no data for the date asked (exit 255); never guessed."""

    exit_code = EXIT_UNKNOWN


class BrokerError(TradesigError):
    """The broker (Kite, Breeze or the sim) is unreachable or failed (exit 3)."""

    exit_code = EXIT_UNREACHABLE


class TokenError(TradesigError):
    """The access token is missing, expired or rejected (Kite 403 TokenException) (exit 1)."""

    exit_code = EXIT_NO


class ProtocolError(TradesigError):
    """Malformed data from the peer, or a misuse of the protocol by us; ``ours`` says whose fault (exit 3)."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, message: str, hint: str | None = None, ours: bool = False) -> None:
        super().__init__(message, hint)
        self.ours = ours


class OrderRejected(TradesigError):
    """The broker or our risk checks refused an order (exit 1)."""

    exit_code = EXIT_NO


def redact(secret: str | None) -> str:
    """Show a secret as ``abcd…wxyz`` (first and last four characters), or ``…`` when it is short or empty."""
    if not secret:
        return "…"
    if len(secret) < 12:
        return "…"
    return f"{secret[:4]}…{secret[-4:]}"

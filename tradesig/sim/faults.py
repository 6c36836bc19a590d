"""The sim's fault injection: fault specs, their validation, and the timed fault state the exchange consults.

A fault spec is the JSON of ``POST /_sim/fault`` (``{"kind": ..., "seconds": ..., "at": "HH:MM[:SS]"}``), or the
CLI's ``KIND[,key=value...]`` text (:func:`parse_fault_spec`). Kinds (:data:`FAULT_KINDS`): ``drop`` (abort every
ticker connection; ``seconds``: refuse new ones that long, 503), ``stall`` (``seconds``, default 30: no ticks,
heartbeats or postbacks, connections kept open), ``expire_token`` (every token issued or seen answers 403; ticker
connections closed), ``rate_limit`` (``seconds``, default 10: every REST call answers 429), ``delay`` (``seconds``
per response, default 2, for ``count`` responses, default 1), ``reject_next_order`` (``message``),
``timeout_next_order`` (``seconds``, default 30: the next order's response is held that long), ``clear``.
Durations are wall-clock seconds (non-negative); ``count`` is a positive integer.

:class:`FaultState` keeps the timed part (stall, rate limit, refused connections, delays, held order responses,
scheduled faults); the exchange performs the one-off actions (dropping connections, expiring tokens).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Any

from tradesig.clock import IST
from tradesig.errors import DataError

FAULT_KINDS = ("drop", "stall", "expire_token", "rate_limit", "delay", "reject_next_order", "timeout_next_order",
               "clear")
#: Default ``seconds`` of the timed kinds.
DEFAULT_SECONDS = {"stall": 30.0, "rate_limit": 10.0, "delay": 2.0, "timeout_next_order": 30.0}
_KINDS_HINT = f"kinds: {', '.join(FAULT_KINDS)}"


def validate_fault(spec: dict[str, Any]) -> None:
    """Raise :class:`DataError` (one line) for an unknown kind, a non-numeric or negative ``seconds``, a ``count``
    that is not a positive integer, or an ``at`` that is not HH:MM[:SS]."""
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise DataError(f"unknown fault kind {kind!r}", _KINDS_HINT)
    if "seconds" in spec:
        s = spec["seconds"]
        if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s):
            raise DataError(f"fault {kind}: seconds must be a number")
        if s < 0:
            raise DataError(f"fault {kind}: seconds={s:g} is negative", "give a duration of 0 seconds or more")
    if "count" in spec:
        c = spec["count"]
        if isinstance(c, bool) or not isinstance(c, int | float) or c != int(c) or c < 1:
            raise DataError(f"fault {kind}: count={c!r} must be a positive integer")
    if "at" in spec:
        try:
            time.fromisoformat(str(spec["at"]))
        except ValueError:
            raise DataError(f"fault {kind}: at={spec['at']!r} is not HH:MM[:SS]") from None


def parse_fault_spec(text: str) -> dict[str, Any]:
    """``"KIND[,key=value...]"`` (the CLI's ``--fault``) → the JSON spec of ``POST /_sim/fault``, validated.

    Example: ``"stall,at=10:30,seconds=20"`` → ``{"kind": "stall", "at": "10:30", "seconds": 20.0}``. Numbers
    become floats (``count`` an int). Raises :class:`DataError` for an empty or unknown kind, a part without
    ``=``, or a value :func:`validate_fault` refuses.
    """
    kind, *rest = [p.strip() for p in text.split(",")]
    if not kind:
        raise DataError(f"fault {text!r} has no kind", _KINDS_HINT)
    spec: dict[str, Any] = {"kind": kind}
    for part in rest:
        if "=" not in part:
            raise DataError(f"fault {text!r}: {part!r} is not key=value", "e.g. stall,at=10:30,seconds=20")
        key, value = (x.strip() for x in part.split("=", 1))
        if key == "seconds":
            try:
                spec[key] = float(value)
            except ValueError:
                raise DataError(f"fault {text!r}: {key} must be a number") from None
        elif key == "count":
            try:
                spec[key] = int(value)
            except ValueError:
                raise DataError(f"fault {text!r}: count must be an integer") from None
        else:
            spec[key] = value
    validate_fault(spec)
    return spec


class FaultState:
    """Timed faults by wall-clock monotonic seconds, and faults scheduled at a sim time of the replayed ``day``."""

    def __init__(self, day: date) -> None:
        self.day = day
        self._until: dict[str, float] = {}  # stall / rate_limit / refuse_ws -> monotonic end
        self._delay: dict[str, float] | None = None  # {"seconds", "count"}
        self._order_timeout: float | None = None
        self.scheduled: list[dict[str, Any]] = []  # specs with "_at" (aware datetime)

    # ----------------------------------------------------------------------------------------------- setting

    def schedule(self, spec: dict[str, Any]) -> None:
        """Keep ``spec`` (with ``at`` = HH:MM[:SS] IST on the replayed day) until :meth:`due`."""
        at = datetime.combine(self.day, time.fromisoformat(str(spec["at"])), IST)
        self.scheduled.append({**{k: v for k, v in spec.items() if k != "at"}, "_at": at})

    def due(self, now: datetime) -> list[dict[str, Any]]:
        """The scheduled specs due at sim time ``now`` (removed from the schedule)."""
        due = [s for s in self.scheduled if s["_at"] <= now]
        if due:
            self.scheduled = [s for s in self.scheduled if s["_at"] > now]
        return [{k: v for k, v in s.items() if k != "_at"} for s in due]

    def arm(self, kind: str, seconds: float, spec: dict[str, Any], mono: float) -> None:
        """Start a timed fault (stall, rate_limit, delay, timeout_next_order; ``drop`` with seconds refuses new
        ticker connections) at monotonic ``mono``; other kinds leave no timed state."""
        if kind == "drop":
            if seconds:
                self._until["refuse_ws"] = mono + seconds
        elif kind in ("stall", "rate_limit"):
            self._until[kind] = mono + (seconds or DEFAULT_SECONDS[kind])
        elif kind == "delay":
            self._delay = {"seconds": seconds or DEFAULT_SECONDS["delay"], "count": int(spec.get("count", 1))}
        elif kind == "timeout_next_order":
            self._order_timeout = seconds or DEFAULT_SECONDS["timeout_next_order"]

    def clear(self) -> None:
        self._until.clear()
        self._delay = None
        self._order_timeout = None
        self.scheduled.clear()

    # ----------------------------------------------------------------------------------------------- reading

    def active(self, kind: str, mono: float) -> bool:
        """Whether the timed fault ``kind`` (stall, rate_limit, refuse_ws) is in force at monotonic ``mono``."""
        until = self._until.get(kind)
        return until is not None and mono < until

    def take_delay(self) -> float:
        """Seconds to hold the next REST response (0 when no ``delay`` fault); counts one response down."""
        if not self._delay:
            return 0.0
        seconds = self._delay["seconds"]
        self._delay["count"] -= 1
        if self._delay["count"] <= 0:
            self._delay = None
        return seconds

    def take_order_timeout(self) -> float | None:
        """Seconds to hold the next order's response (``timeout_next_order``), once; None when not armed."""
        seconds, self._order_timeout = self._order_timeout, None
        return seconds

    def describe(self, mono: float) -> dict[str, Any]:
        """The active timed faults and the schedule (the ``faults`` of ``GET /_sim/state``)."""
        out: dict[str, Any] = {}
        for key in ("stall", "rate_limit", "refuse_ws"):
            if self.active(key, mono):
                out[key] = {"seconds_left": round(self._until[key] - mono, 3)}
        if self._delay:
            out["delay"] = dict(self._delay)
        if self._order_timeout is not None:
            out["timeout_next_order"] = {"seconds": self._order_timeout}
        return out

    def describe_schedule(self) -> list[dict[str, Any]]:
        return [{**{k: v for k, v in s.items() if k != "_at"}, "at": s["_at"].astimezone(IST).strftime("%H:%M:%S")}
                for s in self.scheduled]


__all__ = ["DEFAULT_SECONDS", "FAULT_KINDS", "FaultState", "parse_fault_spec", "validate_fault"]

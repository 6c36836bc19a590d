"""Where a command's time goes: the process's age and per-phase wall/CPU seconds, for ``-v`` log lines.

Pure standard library; the numbers are measurements of this run on this machine, never inputs to a decision.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field


def process_age() -> float | None:
    """Wall seconds since this process was started (interpreter start-up and imports included), from
    ``/proc/self/stat`` (field 22, start time in clock ticks since boot) and ``/proc/uptime``; resolution one clock
    tick (10 ms). None where /proc is not available."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            stat = fh.read()
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # fields after "(comm)" start at field 3
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Phases:
    """Wall and CPU seconds of consecutive phases: ``lap(name)`` closes the phase that ran since the previous lap
    (or since construction). ``summary()`` → ``"read 0.12 s (cpu 0.10 s), engine …"``."""

    laps: list[tuple[str, float, float]] = field(default_factory=list)
    _wall: float = field(default_factory=time.perf_counter)
    _cpu: float = field(default_factory=time.process_time)

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps.append((name, wall - self._wall, cpu - self._cpu))
        self._wall, self._cpu = wall, cpu

    def summary(self) -> str:
        return ", ".join(f"{name} {wall:.3f} s (cpu {cpu:.3f} s)" for name, wall, cpu in self.laps)


def startup_summary() -> str:
    """``"start-up 0.31 s (cpu 0.25 s)"``: the process's age and CPU seconds so far (``"start-up n/a"`` without
    /proc)."""
    age = process_age()
    return "start-up n/a" if age is None else f"start-up {age:.3f} s (cpu {time.process_time():.3f} s)"


__all__ = ["process_age", "Phases", "startup_summary"]

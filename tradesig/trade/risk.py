"""Risk: entry checks (kill switch, max concurrent positions, daily loss, signal cooldown) and the kill switch.

Limits come from ``settings.risk`` (see tradesig/config.py RiskSettings). The daily P&L is in rupees, net of
charges (realised today + unrealised mark-to-market of open positions), per IST trading date. The kill switch is
a flag file in the data home (``<home>/trade/kill-switch.json``) so that it survives restarts and is seen by every
process: `trade flatten` engages it, `trade resume` releases it. Pure logic except :class:`KillSwitch` (file I/O).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tradesig.clock import Clock, ist_date
from tradesig.config import RiskSettings

__all__ = ["Decision", "RiskManager", "KillSwitch"]


@dataclass(frozen=True)
class Decision:
    """An entry decision: ``allowed`` and the ``reason`` (one line, with the numbers that decided it)."""

    allowed: bool
    reason: str


class KillSwitch:
    """The persistent kill-switch flag: ``<home>/trade/kill-switch.json`` ({"reason", "ts"}), written
    atomically. Raises ``OSError`` only when the data home is not writable."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / "trade" / "kill-switch.json"

    def engaged(self) -> dict[str, Any] | None:
        """The flag's contents when engaged, else None (an unreadable flag counts as engaged)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"reason": "unreadable kill-switch file", "ts": None}

    def engage(self, reason: str, ts: datetime, closer: int | None = None) -> None:
        """Write the flag. ``closer``: pid of a process that is itself squaring off the broker's positions
        (`trade flatten --mode live`); running engines leave the broker alone until it calls :meth:`done`."""
        data: dict[str, Any] = {"reason": reason, "ts": ts.isoformat()}
        if closer is not None:
            data.update(closer=closer, done=False)
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)

    def done(self) -> None:
        """The closer finished: the flag stays engaged, engines may act on what is left."""
        flag = self.engaged()
        if flag is not None:
            self._write({**flag, "done": True})

    def closing_elsewhere(self) -> bool:
        """True while another live process named in the flag is still squaring off positions."""
        flag = self.engaged() or {}
        pid = flag.get("closer")
        if not pid or flag.get("done") or pid == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def release(self) -> bool:
        """Remove the flag; True when it was engaged."""
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False


class RiskManager:
    """Entry gate and daily-loss tracker.

    ``kill_switch`` may be None (no persistent flag, e.g. a backtest). ``can_enter(symbol)`` answers before each
    entry; ``on_entry``/``on_exit`` keep the open-position count; ``update_pnl(day_pnl)`` (rupees, net) returns
    True exactly once per day, when the daily loss limit is first breached (the engine then flattens if
    ``flatten_on_daily_loss``). New entries stay blocked for the rest of that IST day.
    """

    def __init__(self, settings: RiskSettings, clock: Clock, kill_switch: KillSwitch | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.kill_switch = kill_switch
        self.open_positions = 0
        self._last_entry: dict[str, datetime] = {}
        self._day: date | None = None
        self.day_pnl = 0.0
        self._breached_day: date | None = None

    def _roll_day(self) -> None:
        today = ist_date(self.clock.now())
        if today != self._day:
            self._day = today
            self.day_pnl = 0.0

    @property
    def loss_breached(self) -> bool:
        self._roll_day()
        return self._breached_day == self._day

    def update_pnl(self, day_pnl: float) -> bool:
        """Record today's net P&L (rupees); True when this update first breaches the daily loss limit."""
        self._roll_day()
        self.day_pnl = day_pnl
        if day_pnl <= -self.settings.max_daily_loss and self._breached_day != self._day:
            self._breached_day = self._day
            return True
        return False

    def can_enter(self, symbol: str) -> Decision:
        """Whether a new basket on ``symbol`` may be entered now, and why (checks in order: kill switch, daily
        loss, max concurrent positions, cooldown)."""
        self._roll_day()
        if self.kill_switch is not None:
            flag = self.kill_switch.engaged()
            if flag is not None:
                return Decision(False, f"kill switch engaged ({flag.get('reason')}); run 'tradesig trade resume'")
        if self.loss_breached or self.day_pnl <= -self.settings.max_daily_loss:
            return Decision(False, f"daily loss {self.day_pnl:.2f} breached the limit "
                                   f"-{self.settings.max_daily_loss:.2f}; no new entries today")
        if self.open_positions >= self.settings.max_positions:
            return Decision(False, f"{self.open_positions} positions open (max {self.settings.max_positions})")
        last = self._last_entry.get(symbol)
        cooldown = timedelta(minutes=self.settings.signal_cooldown_minutes)
        if last is not None and self.clock.now() - last < cooldown:
            return Decision(False, f"cooldown: last {symbol} entry at {last.isoformat()} "
                                   f"(< {self.settings.signal_cooldown_minutes} min ago)")
        return Decision(True, f"ok: {self.open_positions}/{self.settings.max_positions} open, "
                              f"day P&L {self.day_pnl:.2f}")

    def on_entry(self, symbol: str) -> None:
        self.open_positions += 1
        self._last_entry[symbol] = self.clock.now()

    def on_exit(self) -> None:
        self.open_positions = max(0, self.open_positions - 1)

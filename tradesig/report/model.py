"""The report's data: trades, per-signal statistics, totals, equity curve, feed health — no I/O, no rendering.

Money is in rupees (float, two decimals when shown); times are aware datetimes (shown in IST).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Leg:
    """One option leg of a basket: ``quantity`` in units (lots × lot size); prices in rupees per unit."""

    tradingsymbol: str
    role: str  # "main" | "hedge"
    side: str  # "SELL" | "BUY" (entry side)
    quantity: int
    entry_price: float
    exit_price: float | None
    last_price: float | None = None  # the latest mark of an open leg (rupees per unit); None when never marked


@dataclass(frozen=True)
class TradeRow:
    """A closed (or still open) basket. P&L in rupees; ``charges`` per the dated rate table in config (an open
    basket: the charges paid so far, on its entry orders).

    Closed: ``gross_pnl`` realised. Open: ``unrealised_pnl`` is the gross P&L of the held quantity at the legs'
    last marks (``Leg.last_price``, taken at ``marked_at``), None when the basket was never marked; ``gross_pnl``
    is then that mark-to-market value (0.0 without a mark), so ``net_pnl`` is the open basket's net value now."""

    trade_id: str
    symbol: str
    signal: str
    side: str  # "bullish" | "bearish"
    entry_ts: datetime
    exit_ts: datetime | None
    legs: tuple[Leg, ...]
    gross_pnl: float
    charges: float
    exit_reason: str | None
    modelled: bool = False
    price_source: str | None = None  # e.g. "quote", "modelled [iv flat 15% (backtest.iv)]" ("a+b" when mixed)
    unrealised_pnl: float | None = None
    marked_at: datetime | None = None

    @property
    def net_pnl(self) -> float:
        return self.gross_pnl - self.charges

    @property
    def is_open(self) -> bool:
        return self.exit_ts is None


@dataclass(frozen=True)
class SignalStat:
    signal: str
    fired: int
    trades: int
    wins: int
    net_pnl: float

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


@dataclass(frozen=True)
class FeedHealth:
    """The feed's day: ticks received, gap details (instrument, from, to, cause), reconnects, token events, ticks
    taken by REST polling while the ticker was down; ``gap_count`` when runs report more gaps than details."""

    ticks: int
    gaps: tuple[dict, ...]
    reconnects: int
    token_events: tuple[str, ...]
    polled: int
    gap_count: int = 0

    @property
    def gaps_total(self) -> int:
        return max(self.gap_count, len(self.gaps))


@dataclass(frozen=True)
class SignalFiredRow:
    ts: datetime
    symbol: str
    signal: str
    side: str
    entry_price: float
    stop_loss: float


@dataclass
class ReportData:
    """Everything a report shows. ``missing`` names data that was absent (shown, never papered over)."""

    period: str  # "daily" | "weekly" | "monthly"
    start: date
    end: date
    mode: str  # "paper" | "live" | "backtest"
    trades: list[TradeRow] = field(default_factory=list)
    signals: list[SignalFiredRow] = field(default_factory=list)
    feed: FeedHealth | None = None
    missing: list[str] = field(default_factory=list)
    synthetic: bool = False

    @property
    def closed(self) -> list[TradeRow]:
        return [t for t in self.trades if not t.is_open]

    @property
    def gross_pnl(self) -> float:
        return round(sum(t.gross_pnl for t in self.closed), 2)

    @property
    def charges(self) -> float:
        return round(sum(t.charges for t in self.closed), 2)

    @property
    def net_pnl(self) -> float:
        return round(self.gross_pnl - self.charges, 2)

    @property
    def open_trades(self) -> list[TradeRow]:
        return [t for t in self.trades if t.is_open]

    @property
    def realised_pnl(self) -> float:
        """Net P&L of the closed baskets (gross − charges), rupees: :attr:`net_pnl`."""
        return self.net_pnl

    @property
    def unrealised_pnl(self) -> float:
        """Gross P&L of the open baskets at their legs' last marks, rupees (baskets never marked count 0 and are
        named in :attr:`unmarked`)."""
        return round(sum(t.unrealised_pnl or 0.0 for t in self.open_trades), 2)

    @property
    def open_charges(self) -> float:
        """Charges already paid on the open baskets (their entry orders), rupees."""
        return round(sum(t.charges for t in self.open_trades), 2)

    @property
    def total_pnl(self) -> float:
        """The period's P&L marked to market: realised + unrealised − open charges, rupees."""
        return round(self.realised_pnl + self.unrealised_pnl - self.open_charges, 2)

    @property
    def unmarked(self) -> list[str]:
        """Ids of open baskets without any mark (their unrealised P&L is unknown, not zero)."""
        return [t.trade_id for t in self.open_trades if t.unrealised_pnl is None]

    @property
    def win_rate(self) -> float | None:
        closed = self.closed
        return sum(1 for t in closed if t.net_pnl > 0) / len(closed) if closed else None

    @property
    def modelled(self) -> bool:
        return any(t.modelled for t in self.trades)

    @property
    def modelled_sources(self) -> list[str]:
        """The distinct modelled price labels of the trades (each naming its IV source), sorted."""
        parts = {p for t in self.trades for p in (t.price_source or "").split("+") if "modelled" in p}
        return sorted(parts)

    def equity_curve(self) -> list[tuple[datetime, float]]:
        """Cumulative net P&L (rupees) after each closed trade, in exit order."""
        total = 0.0
        curve = []
        for t in sorted(self.closed, key=lambda t: t.exit_ts):  # type: ignore[arg-type, return-value]
            total += t.net_pnl
            curve.append((t.exit_ts, round(total, 2)))
        return curve  # type: ignore[return-value]

    @property
    def max_drawdown(self) -> float:
        """Largest fall of cumulative net P&L from a previous peak (rupees, ≥ 0); the curve starts at 0."""
        peak = worst = 0.0
        for _, value in self.equity_curve():
            peak = max(peak, value)
            worst = max(worst, peak - value)
        return round(worst, 2)

    def per_signal(self) -> list[SignalStat]:
        names = sorted({t.signal for t in self.trades} | {s.signal for s in self.signals})
        stats = []
        for name in names:
            closed = [t for t in self.closed if t.signal == name]
            stats.append(SignalStat(name, sum(1 for s in self.signals if s.signal == name), len(closed),
                                    sum(1 for t in closed if t.net_pnl > 0),
                                    round(sum(t.net_pnl for t in closed), 2)))
        return stats

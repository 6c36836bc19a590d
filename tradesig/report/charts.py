"""The report's pictures as PNG bytes: equity curve with drawdown underneath, net P&L per signal, and the index's
bars of the period with the trades' entries and exits.

Drawn with matplotlib's Agg backend, imported inside :func:`draw_charts` only (``report --format html|mime``), so
text, csv and json reports never load it. The PNGs carry no timestamp metadata: the same report draws the same
bytes with the same matplotlib. Money in rupees; times shown in IST. A chart that cannot be drawn (no closed trade,
no stored bars) is not faked: it comes back as a :class:`Chart` with ``png=None`` and a ``note`` saying why.

:func:`load_index` is the one reader of stored bars (the index's closes), kept apart from drawing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tradesig.clock import IST
from tradesig.report.model import ReportData

#: Bar interval drawn per report period (one session of 1m bars; a week of 15m; a month of 1h).
INTERVALS = {"daily": "1m", "weekly": "15m", "monthly": "1h"}
WIDTH_IN, DPI = 8.0, 100  # 800 px wide: fits a mail client's reading pane


@dataclass(frozen=True)
class Chart:
    """One picture: ``name`` (a token, also the MIME Content-ID stem), ``title``, ``alt`` text, ``png`` bytes
    (None when not drawable, then ``note`` says why)."""

    name: str
    title: str
    alt: str
    png: bytes | None
    note: str = ""


Series = dict[str, list[tuple[datetime, float]]]


def chart_symbols(data: ReportData) -> list[str]:
    """Symbols the index chart shows: those traded, else those with signals; at most three, sorted."""
    names = sorted({t.symbol for t in data.trades}) or sorted({s.symbol for s in data.signals})
    return names[:3]


def load_index(home: Path, data: ReportData) -> Series:
    """Closes of :func:`chart_symbols` over the report's dates from the stored bars (interval per
    :data:`INTERVALS`): ``{symbol: [(ts UTC, close rupees), ...]}``; a symbol without bars maps to ``[]``."""
    from tradesig.store.datasets import Store

    store = Store(home)
    out: Series = {}
    for symbol in chart_symbols(data):
        frame = store.read_bars(symbol, INTERVALS.get(data.period, "1h"), data.start, data.end)
        out[symbol] = list(zip(frame["ts"].to_list(), (float(c) for c in frame["close"].to_list()), strict=True)) \
            if frame.height else []
    return out


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _ist(values: Sequence[datetime]) -> list[datetime]:
    return [v.astimezone(IST).replace(tzinfo=None) for v in values]


def _time_axis(ax, period: str) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M" if period == "daily" else "%d %b"))
    ax.set_xlabel("IST")


def _session_axis(ax, times: Sequence[datetime]) -> None:
    """Label an axis whose x is the bar's position (nights and holidays closed up) with each session's date."""
    days = _ist(times)
    starts = [i for i, t in enumerate(days) if i == 0 or t.date() != days[i - 1].date()]
    step = max(1, len(starts) // 12)
    ax.set_xticks(starts[::step], [days[i].strftime("%d %b") for i in starts[::step]])
    ax.set_xlabel("IST sessions (nights and holidays closed up)")


def _equity(plt, data: ReportData) -> Chart:
    name, title = "equity", "Equity curve and drawdown (net P&L, Rs)"
    curve = data.equity_curve()
    if not curve:
        return Chart(name, title, "no equity curve", None, "No closed trades: no equity curve.")
    daily = data.period == "daily"
    times = _ist([data.closed[0].entry_ts] + [ts for ts, _ in curve]) if daily else list(range(len(curve) + 1))
    equity = [0.0] + [v for _, v in curve]
    peak, drawdown = 0.0, []
    for v in equity:
        peak = max(peak, v)
        drawdown.append(v - peak)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(WIDTH_IN, 4.2),
                                      gridspec_kw={"height_ratios": [3, 1.3]}, layout="constrained")
    top.step(times, equity, where="post", color="#1565c0", linewidth=2, label="cumulative net P&L")
    top.axhline(0, color="#888", linewidth=0.8, linestyle="--")
    top.set_ylabel("Rs")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.fill_between(times, drawdown, 0, step="post", color="#c62828", alpha=0.45)
    bottom.set_ylabel("drawdown Rs")
    bottom.grid(alpha=0.3)
    if daily:
        _time_axis(bottom, data.period)
    else:
        step = max(1, len(curve) // 12)
        bottom.set_xticks(times[1::step], [f"{ts.astimezone(IST):%d %b}" for ts, _ in curve][::step])
        bottom.set_xlabel("closed trades in exit order (exit date, IST)")
    png = _png(fig)
    plt.close(fig)
    return Chart(name, title, f"equity curve ending at Rs {equity[-1]:,.2f}, max drawdown Rs "
                              f"{data.max_drawdown:,.2f}", png)


def _per_signal(plt, data: ReportData) -> Chart:
    name, title = "signals", "Net P&L per signal (Rs)"
    stats = [s for s in data.per_signal() if s.trades]
    if not stats:
        return Chart(name, title, "no per-signal P&L", None, "No closed trades: no P&L per signal.")
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.2), layout="constrained")
    values = [s.net_pnl for s in stats]
    pad = max(0, 3 - len(stats)) / 2  # a lone bar does not fill the width
    ax.set_xlim(-0.5 - pad, len(stats) - 0.5 + pad)
    colours = ["#2e7d32" if v >= 0 else "#c62828" for v in values]
    bars = ax.bar([s.signal for s in stats], values, width=0.6, color=colours)
    for bar, s in zip(bars, stats, strict=True):
        ax.annotate(f"{s.trades} trade{'s' if s.trades != 1 else ''}", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), ha="center", va="bottom" if s.net_pnl >= 0 else "top", fontsize=8)
    ax.axhline(0, color="#888", linewidth=0.8)
    ax.set_ylabel("Rs")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    png = _png(fig)
    plt.close(fig)
    return Chart(name, title, ", ".join(f"{s.signal} Rs {s.net_pnl:,.2f}" for s in stats), png)


def _nearest(series: list[tuple[datetime, float]], ts: datetime) -> int:
    """Position of the bar nearest to ``ts``."""
    return min(range(len(series)), key=lambda i: abs((series[i][0] - ts).total_seconds()))


def _index(plt, data: ReportData, index: Series) -> Chart:
    name = "index"
    symbols = [s for s in chart_symbols(data) if index.get(s)]
    title = f"{', '.join(symbols) or 'Index'} ({INTERVALS.get(data.period, '1h')} closes) with entries and exits"
    if data.synthetic:
        title += " - SYNTHETIC data"
    if not symbols:
        wanted = ", ".join(chart_symbols(data))
        note = (f"No stored bars for {wanted} in this period: no index chart." if wanted
                else "No trades or signals: no index chart.")
        return Chart(name, title, "no index chart", None, note)
    fig, axes = plt.subplots(len(symbols), 1, figsize=(WIDTH_IN, 2.0 + 1.8 * len(symbols)), squeeze=False,
                             layout="constrained")
    for ax, symbol in zip((row[0] for row in axes), symbols, strict=True):
        series = index[symbol]
        daily = data.period == "daily"
        ax.plot(_ist([ts for ts, _ in series]) if daily else range(len(series)), [c for _, c in series],
                color="#37474f", linewidth=1)

        def at(moments: list[datetime], series=series, daily=daily) -> tuple[list, list[float]]:
            where = [_nearest(series, ts) for ts in moments]
            return (_ist(moments) if daily else where), [series[i][1] for i in where]

        trades = [t for t in data.trades if t.symbol == symbol]
        for side, marker, colour in (("bullish", "^", "#2e7d32"), ("bearish", "v", "#c62828")):
            entries = [t.entry_ts for t in trades if t.side == side]
            if entries:
                ax.scatter(*at(entries), marker=marker, s=70, color=colour, zorder=3, label=f"{side} entry")
        exits = [t.exit_ts for t in trades if t.exit_ts is not None]
        if exits:
            ax.scatter(*at(exits), marker="x", s=60, color="#000", zorder=3, label="exit")
        ax.set_ylabel(f"{symbol} (index points)")
        ax.grid(alpha=0.3)
        if trades:
            ax.legend(loc="best", fontsize=8)
        if daily:
            _time_axis(ax, data.period)
        else:
            _session_axis(ax, [ts for ts, _ in series])
    axes[0][0].set_title(title)
    png = _png(fig)
    plt.close(fig)
    return Chart(name, title, f"{', '.join(symbols)} with {len(data.trades)} trade entries and exits", png)


def draw_charts(data: ReportData, index: Series) -> list[Chart]:
    """The three charts of a report, in display order: equity with drawdown, P&L per signal, the index.

    ``index``: closes as :func:`load_index` returns them. Imports matplotlib (Agg) here, not at module import."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": 9, "svg.hashsalt": "tradesig"}):
        return [_equity(plt, data), _per_signal(plt, data), _index(plt, data, index)]


__all__ = ["Chart", "draw_charts", "load_index", "chart_symbols", "INTERVALS"]

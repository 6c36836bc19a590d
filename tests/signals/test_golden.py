"""Golden run: every S1–S8 event over all real NIFTY 50 and NIFTY BANK hourly bars in ../shared/data.

Hourly bars are resampled with the store's session-aligned ``resample`` (one implementation) from: NIFTY 50 and
NIFTY BANK 1m 2024, NIFTY BANK 15m 2018–2023, NIFTY 50 1m 2009 (09:55 session). Expiries come from the market
calendar (today's Tuesday rule, applied to history as the calendar documents).

Regenerate after a deliberate rule change (and review the diff):
    python -m tests.signals.test_golden --write
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path

import polars as pl

from tests.conftest import SHARED_DATA, shared_file

GOLDEN = Path(__file__).parent / "golden" / "weekly_events.csv"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "signals.md"

DATASETS = [
    ("nifty50_1m_2024", "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet", "NIFTY", "1m"),
    ("niftybank_1m_2024", "intraday/niftybank_1min_2024-01-01_2024-08-23.parquet", "BANKNIFTY", "1m"),
    ("niftybank_15m_2018_2023", "intraday/niftybank_15min_2018-01-01_2023-08-04.parquet", "BANKNIFTY", "15m"),
    ("nifty50_1m_2009", "intraday/nifty50_1min_2009.parquet", "NIFTY", "1m"),
]
COLUMNS = ["dataset", "symbol", "signal", "name", "side", "bar_ist", "entry_ist", "entry_price", "stop_loss",
           "option_type", "strike", "hedge_strike", "expiry", "bias", "res_bottom", "res_top", "sup_bottom",
           "sup_top", "pw_close"]


def hourly(path: Path, symbol: str, source_interval: str) -> pl.DataFrame:
    from tradesig.store.bars import conform, resample

    raw = pl.read_parquet(path)
    bars = conform(raw.select(pl.lit(symbol).alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"),
                              "open", "high", "low", "close"))
    return resample(bars, "1h", source_interval=source_interval)


def golden_rows(paths: dict[str, Path]) -> list[dict[str, str]]:
    from tradesig.clock import IST
    from tradesig.config import Settings
    from tradesig.signals.strategies import WeeklyZoneEngine

    rows = []
    for name, _, symbol, source in DATASETS:
        events = WeeklyZoneEngine(symbol, Settings()).scan(hourly(paths[name], symbol, source))
        for e in events:
            ctx = e.context
            rows.append({
                "dataset": name, "symbol": e.symbol, "signal": e.signal, "name": e.name, "side": e.side,
                "bar_ist": e.bar_ts.astimezone(IST).strftime("%Y-%m-%d %H:%M"),
                "entry_ist": e.entry_ts.astimezone(IST).strftime("%Y-%m-%d %H:%M"),
                "entry_price": f"{e.entry_price:.2f}", "stop_loss": f"{e.stop_loss:.2f}",
                "option_type": e.option.option_type, "strike": f"{e.option.strike:.0f}",
                "hedge_strike": f"{e.option.hedge_strike:.0f}", "expiry": e.option.expiry.isoformat(),
                "bias": ctx.bias.value, "res_bottom": f"{ctx.res_bottom:.2f}", "res_top": f"{ctx.res_top:.2f}",
                "sup_bottom": f"{ctx.sup_bottom:.2f}", "sup_top": f"{ctx.sup_top:.2f}",
                "pw_close": f"{ctx.pw_close:.2f}",
            })
    return rows


def to_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def summary_table(rows: list[dict[str, str]]) -> str:
    """Markdown: events per signal per (symbol, year)."""
    counts = Counter((r["symbol"], r["bar_ist"][:4], r["signal"]) for r in rows)
    keys = sorted({(s, y) for s, y, _ in counts}, key=lambda k: (k[0], k[1]))
    sigs = [f"S{i}" for i in range(1, 9)]
    lines = ["| symbol | year | " + " | ".join(sigs) + " | total |",
             "|---|---|" + "---:|" * (len(sigs) + 1)]
    for sym, year in keys:
        cells = [counts.get((sym, year, s), 0) for s in sigs]
        lines.append(f"| {sym} | {year} | " + " | ".join(str(c) for c in cells) + f" | {sum(cells)} |")
    total = [sum(counts.get((s_, y, s), 0) for s_, y in keys) for s in sigs]
    lines.append("| all | all | " + " | ".join(str(c) for c in total) + f" | {sum(total)} |")
    return "\n".join(lines)


def _paths() -> dict[str, Path]:
    return {name: shared_file(rel) for name, rel, _, _ in DATASETS}


def test_golden_weekly_events():
    rows = golden_rows(_paths())
    assert GOLDEN.exists(), "golden file missing: python -m tests.signals.test_golden --write"
    want = GOLDEN.read_text(encoding="utf-8")
    got = to_csv(rows)
    if got != want:
        got_lines, want_lines = got.splitlines(), want.splitlines()
        diff = [f"- {w}\n+ {g}" for w, g in zip(want_lines, got_lines, strict=False) if w != g][:5]
        raise AssertionError(f"{len(got_lines)} rows vs golden {len(want_lines)}; first differences:\n"
                             + "\n".join(diff))


def test_golden_run_sanity():
    rows = list(csv.DictReader(io.StringIO(GOLDEN.read_text(encoding="utf-8"))))
    assert len(rows) > 100
    # one signal per (symbol, dataset, week)
    from datetime import date, timedelta

    weeks = Counter()
    for r in rows:
        d = date.fromisoformat(r["bar_ist"][:10])
        weeks[(r["dataset"], d - timedelta(days=d.weekday()))] += 1
    assert max(weeks.values()) == 1
    # the election-day breakdown is in it
    assert any(r["symbol"] == "NIFTY" and r["bar_ist"].startswith("2024-06-04") and r["side"] == "bearish"
               for r in rows)
    # strikes follow the rounding rule
    for r in rows:
        step = 50 if r["symbol"] == "NIFTY" else 100
        strike, stop = float(r["strike"]), float(r["stop_loss"])
        if r["option_type"] == "PE":
            assert strike <= stop < strike + step and float(r["hedge_strike"]) == strike - 200
        else:
            assert strike - step < stop <= strike and float(r["hedge_strike"]) == strike + 200


def test_docs_summary_matches_golden():
    rows = list(csv.DictReader(io.StringIO(GOLDEN.read_text(encoding="utf-8"))))
    assert summary_table(rows) in DOCS.read_text(encoding="utf-8"), \
        "docs/signals.md summary table is stale: python -m tests.signals.test_golden --write"


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    if not SHARED_DATA.exists():
        sys.exit(f"{SHARED_DATA} is absent")
    rows = golden_rows({name: SHARED_DATA / rel for name, rel, _, _ in DATASETS})
    if "--write" in sys.argv:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(to_csv(rows), encoding="utf-8")
        print(f"wrote {GOLDEN} ({len(rows)} events)")
    print(summary_table(rows))

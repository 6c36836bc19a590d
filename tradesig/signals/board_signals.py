"""The 13 board signals (shared/SIGNALS.md, "The board"), one registered function each, in board order.

Each function reads :class:`~tradesig.signals.board_core.Inputs` and returns an
:class:`~tradesig.signals.board_core.Answer`; the registry encodes the calls (tradesig.signals.board_core).
Reading i uses bars 0..i only. Confidence rules are ours (SIGNALS.md leaves them open; listed in docs/signals.md).
Prices in index points.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from tradesig.clock import IST
from tradesig.errors import DataError
from tradesig.signals import indicators as ind
from tradesig.signals.board_core import (
    Answer,
    Inputs,
    _fmt,
    _Frame,
    _scaled,
    _session_accumulate,
    board_signal,
)


def _everywhere(n: int) -> np.ndarray:
    return np.ones(n, dtype=bool)


@board_signal("trend", weight=12, summary="EMA20 > EMA50 with the close above (EMA200 adds confidence)")
def trend(x: Inputs) -> Answer:
    fr, p = x.fr, x.p
    e1, e2, e3 = ind.ema(fr.c, p.ema_fast), ind.ema(fr.c, p.ema_mid), ind.ema(fr.c, p.ema_slow)
    c = fr.c
    avail = ~np.isnan(e2)
    buy = avail & (c > e1) & (e1 > e2)
    sell = avail & (c < e1) & (e1 < e2)
    conf = np.where(buy, np.where(c > e3, 1.0, 0.7), np.where(sell, np.where(c < e3, 1.0, 0.7), 0.0))

    def reason(i: int) -> str:
        if not avail[i]:
            return f"not enough bars: EMA{p.ema_mid} needs {p.ema_mid}, have {i + 1}"
        return (f"close {_fmt(c[i])}, EMA{p.ema_fast} {_fmt(e1[i])}, EMA{p.ema_mid} {_fmt(e2[i])}, "
                f"EMA{p.ema_slow} {_fmt(e3[i])}")

    return Answer(avail, buy, sell, conf, reason)


@board_signal("supertrend", weight=10, summary="SuperTrend(ATR 10, ×3): BUY in an uptrend, SELL in a downtrend")
def supertrend(x: Inputs) -> Answer:
    fr, p = x.fr, x.p
    line, direction = ind.supertrend(fr.h, fr.lo, fr.c, p.supertrend_atr, p.supertrend_mult)
    a = ind.atr(fr.h, fr.lo, fr.c, p.supertrend_atr)
    avail = ~np.isnan(direction)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = _scaled(np.abs(fr.c - line) / a)

    def reason(i: int) -> str:
        if not avail[i]:
            return f"not enough bars: ATR{p.supertrend_atr} needs {p.supertrend_atr + 1}, have {i + 1}"
        trend_ = "up" if direction[i] > 0 else "down"
        return f"{trend_}trend: close {_fmt(fr.c[i])} vs SuperTrend {_fmt(line[i])} (ATR {_fmt(a[i])})"

    return Answer(avail, direction > 0, direction < 0, conf, reason)


@board_signal("vwap", weight=9, summary="close vs session VWAP ±0.1 %; needs volume")
def vwap(x: Inputs) -> Answer:
    fr, p = x.fr, x.p
    has = fr.has_volume
    # a session counts as having volume only when every bar so far has it
    missing = _session_accumulate((~has).astype(np.int64), fr.session_start, np.add) > 0
    vw = ind.session_vwap(fr.day, fr.h, fr.lo, fr.c, np.where(has, fr.v, 0.0))
    avail = ~missing & ~np.isnan(vw)
    up, dn = vw * (1 + p.vwap_band), vw * (1 - p.vwap_band)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = (fr.c - vw) / vw
    conf = _scaled(np.abs(dev) / 0.005)

    def reason(i: int) -> str:
        if missing[i]:
            return "no volume (index bars carry none; VWAP needs the future's volume)"
        if not avail[i]:
            return "no volume traded yet this session"
        return f"close {_fmt(fr.c[i])} vs session VWAP {_fmt(vw[i])} ({dev[i] * 100:+.2f} %, band ±{p.vwap_band:.1%})"

    return Answer(avail, fr.c > up, fr.c < dn, conf, reason)


@board_signal("structure", weight=9, summary="fractal swings: HH+HL → BUY, LH+LL → SELL")
def structure(x: Inputs) -> Answer:
    fr, p = x.fr, x.p
    sh, sl = ind.fractals(fr.h, fr.lo, p.fractal_side)
    h1, h0 = ind.last_swings(fr.h, sh, p.fractal_side)
    l1, l0 = ind.last_swings(fr.lo, sl, p.fractal_side)
    avail = ~np.isnan(h0) & ~np.isnan(l0)
    hh, hl = h1 > h0, l1 > l0
    lh, ll = h1 < h0, l1 < l0

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: needs two confirmed swing highs and two swing lows (fractals)"
        hs = "HH" if hh[i] else "LH" if lh[i] else "EH"
        ls = "HL" if hl[i] else "LL" if ll[i] else "EL"
        return (f"{hs} {_fmt(h0[i])}→{_fmt(h1[i])}, {ls} {_fmt(l0[i])}→{_fmt(l1[i])} "
                f"(fractals {p.fractal_side} bars each side)")

    return Answer(avail, hh & hl, lh & ll, np.full(len(fr.c), 0.8), reason)


@board_signal("pivots", weight=8, summary="classic floor pivots of the previous session: above R1 BUY, below S1 SELL")
def pivots(x: Inputs) -> Answer:
    _, ph, pl_, pc = x.prev
    piv = ind.floor_pivots(ph, pl_, pc)
    avail = ~np.isnan(piv.p)
    c = x.fr.c
    buy, sell = c > piv.r1, c < piv.s1
    conf = np.where(buy, np.where(c > piv.r2, 1.0, 0.7), np.where(sell, np.where(c < piv.s2, 1.0, 0.7), 0.0))

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: no previous session"
        return (f"close {_fmt(c[i])}; P {_fmt(piv.p[i])}, R1 {_fmt(piv.r1[i])}, R2 {_fmt(piv.r2[i])}, "
                f"S1 {_fmt(piv.s1[i])}, S2 {_fmt(piv.s2[i])}; CPR {_fmt(piv.bc[i])}/{_fmt(piv.tc[i])}")

    return Answer(avail, buy, sell, conf, reason)


@board_signal("camarilla", weight=6, summary="Camarilla H4/L4 breakouts and L3/H3 reversals of the previous session")
def camarilla(x: Inputs) -> Answer:
    fr = x.fr
    _, ph, pl_, pc = x.prev
    cam = ind.camarilla(ph, pl_, pc)
    avail = ~np.isnan(cam.h4)
    c = fr.c
    session_low = _session_accumulate(fr.lo, fr.session_start, np.minimum)
    session_high = _session_accumulate(fr.h, fr.session_start, np.maximum)
    brk_up, brk_dn = avail & (c > cam.h4), avail & (c < cam.l4)
    rev_up = avail & ~brk_up & ~brk_dn & (session_low < cam.l3) & (c > cam.l3)
    rev_dn = avail & ~brk_up & ~brk_dn & (session_high > cam.h3) & (c < cam.h3)

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: no previous session"
        what = ("breakout above H4" if brk_up[i] else "breakdown below L4" if brk_dn[i]
                else "both reversals this session" if rev_up[i] and rev_dn[i]
                else "back above L3" if rev_up[i] else "back below H3" if rev_dn[i] else "inside")
        return (f"{what}: close {_fmt(c[i])}; H4 {_fmt(cam.h4[i])}, H3 {_fmt(cam.h3[i])}, L3 {_fmt(cam.l3[i])}, "
                f"L4 {_fmt(cam.l4[i])}; session range {_fmt(session_low[i])}-{_fmt(session_high[i])}")

    return Answer(avail, brk_up | (rev_up & ~rev_dn), brk_dn | (rev_dn & ~rev_up),
                  np.where(brk_up | brk_dn, 1.0, 0.7), reason)


@board_signal("orb", weight=6, summary="close vs the 09:15–09:30 opening range")
def orb(x: Inputs) -> Answer:
    fr, p, bar_minutes = x.fr, x.p, x.bar_minutes
    rh, rl = ind.opening_range(fr.day, fr.minute, bar_minutes, fr.h, fr.lo, range_minutes=p.orb_minutes)
    avail = ~np.isnan(rh)
    c = fr.c
    buy, sell = c > rh, c < rl
    width = np.where(rh > rl, rh - rl, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = _scaled(np.where(buy, (c - rh) / width, (rl - c) / width))

    starts = np.flatnonzero(fr.session_start)
    first_minute = np.repeat(fr.minute[starts], np.diff(np.append(starts, len(c)))) if len(c) else fr.minute

    def reason(i: int) -> str:
        if not avail[i]:
            if bar_minutes > p.orb_minutes:
                return f"interval {bar_minutes}m is coarser than the {p.orb_minutes}-minute opening range"
            if first_minute[i] != 9 * 60 + 15:
                hh, mm = divmod(int(first_minute[i]), 60)
                return f"session's first bar starts {hh:02d}:{mm:02d}, not 09:15: no opening range"
            return f"opening range ({p.orb_minutes} min from 09:15) not complete"
        return f"close {_fmt(c[i])} vs opening range {_fmt(rl[i])}-{_fmt(rh[i])}"

    return Answer(avail, buy, sell, conf, reason)


@board_signal("rsi", weight=8, summary="RSI(14) above 60 BUY, below 40 SELL")
def rsi(x: Inputs) -> Answer:
    p = x.p
    r = ind.rsi(x.fr.c, p.rsi_period)
    avail = ~np.isnan(r)
    buy, sell = r > p.rsi_buy, r < p.rsi_sell
    conf = _scaled(np.where(buy, (r - p.rsi_buy) / 20.0, (p.rsi_sell - r) / 20.0))

    def reason(i: int) -> str:
        if not avail[i]:
            return f"not enough bars: RSI{p.rsi_period} needs {p.rsi_period + 1}, have {i + 1}"
        return f"RSI{p.rsi_period} {r[i]:.1f} (BUY > {p.rsi_buy:g}, SELL < {p.rsi_sell:g})"

    return Answer(avail, buy, sell, conf, reason)


@board_signal("volume", weight=7, summary="volume ≥ 1.5× its SMA20 on a green (BUY) or red (SELL) bar")
def volume(x: Inputs) -> Answer:
    fr, p = x.fr, x.p
    ratio = ind.volume_ratio(np.where(fr.has_volume, fr.v, np.nan), p.volume_sma)
    no_vol = ~fr.has_volume
    avail = ~no_vol & ~np.isnan(ratio)
    hot = ratio >= p.volume_ratio
    conf = _scaled((ratio - p.volume_ratio) / p.volume_ratio)

    def reason(i: int) -> str:
        if no_vol[i]:
            return "no volume (index bars carry none)"
        if not avail[i]:
            return f"not enough bars: volume SMA{p.volume_sma} needs {p.volume_sma} bars with volume"
        colour = "green" if fr.c[i] > fr.o[i] else "red" if fr.c[i] < fr.o[i] else "flat"
        return f"volume {fr.v[i]:.0f} = {ratio[i]:.2f}× SMA{p.volume_sma} (threshold {p.volume_ratio:g}), {colour} bar"

    return Answer(avail, hot & (fr.c > fr.o), hot & (fr.c < fr.o), conf, reason)


@board_signal("candle", weight=6, summary="TA-Lib candle patterns, else wick absorption/rejection")
def candle(x: Inputs) -> Answer:
    fr = x.fr
    pat_dir, pat = ind.candle_patterns(fr.o, fr.h, fr.lo, fr.c)
    wick_dir, ls, us = ind.wick_body(fr.o, fr.h, fr.lo, fr.c)
    direction = np.where(pat_dir != 0, pat_dir, wick_dir)

    def reason(i: int) -> str:
        bar = f"O {_fmt(fr.o[i])} H {_fmt(fr.h[i])} L {_fmt(fr.lo[i])} C {_fmt(fr.c[i])}"
        if pat_dir[i] != 0:
            return f"{ind.CANDLE_LABELS[pat[i]]} (TA-Lib); {bar}"
        lw = "n/a" if np.isnan(ls[i]) else f"{ls[i]:.0%}"
        uw = "n/a" if np.isnan(us[i]) else f"{us[i]:.0%}"
        what = "absorption (long lower wick)" if wick_dir[i] > 0 else (
            "rejection (long upper wick)" if wick_dir[i] < 0 else "no pattern")
        return f"{what}: lower wick {lw}, upper wick {uw} of range; {bar}"

    return Answer(_everywhere(len(fr.c)), direction > 0, direction < 0, np.where(pat_dir != 0, 0.8, 0.5), reason)


@board_signal("pcr", weight=8, summary="put/call OI ratio of the nearest expiry: > 1.2 BUY, < 0.8 SELL")
def pcr(x: Inputs) -> Answer:
    fr, p, chain = x.fr, x.p, x.chain
    n = len(fr.c)
    value = np.full(n, np.nan)
    detail: list[str] = [""] * n
    if chain is not None and not chain.is_empty():
        for (lo_i, hi_i, reading, stamp) in _chain_readings(fr, chain):
            if reading is None:
                continue
            value[lo_i:hi_i] = reading.pcr
            text = (f"PCR {reading.pcr:.3f} = put OI {reading.put_oi:,.0f} / call OI {reading.call_oi:,.0f}, "
                    f"expiry {reading.expiry}{stamp}")
            detail[lo_i:hi_i] = [text] * (hi_i - lo_i)
    avail = ~np.isnan(value)
    buy, sell = value > p.pcr_buy, value < p.pcr_sell
    conf = _scaled(np.where(buy, (value - p.pcr_buy) / 0.3, (p.pcr_sell - value) / 0.3))

    def reason(i: int) -> str:
        return detail[i] if avail[i] else "no option chain for this session"

    return Answer(avail, buy, sell, conf, reason)


def _chain_readings(fr: _Frame, chain: pl.DataFrame) -> list[tuple[int, int, ind.PCRReading | None, str]]:
    """(first bar, end bar, PCR, label) spans: each bar gets the latest snapshot taken no later than the bar's
    start and on the same IST date; a chain without ``snapshot_ts`` applies to every bar."""
    need = {"expiry", "option_type", "oi"} - set(chain.columns)
    if need:
        raise DataError(f"option chain lacks column(s) {', '.join(sorted(need))}",
                        "pass a chain with expiry (date), option_type (PE/CE) and oi")
    n = len(fr.c)
    if "snapshot_ts" not in chain.columns:
        r = ind.put_call_ratio(chain.get_column("expiry").to_list(), chain.get_column("option_type").to_list(),
                               chain.get_column("oi").to_list())
        return [(0, n, r, "")]
    snaps = chain.with_columns(pl.col("snapshot_ts").dt.convert_time_zone("UTC")).sort("snapshot_ts")
    stamps = snaps.get_column("snapshot_ts").unique(maintain_order=True).to_list()
    bar_ts = fr.ts_us / 1e6
    out = []
    groups = {k[0]: g for k, g in snaps.group_by("snapshot_ts", maintain_order=True)}
    for k, stamp in enumerate(stamps):
        nxt = stamps[k + 1].timestamp() if k + 1 < len(stamps) else np.inf
        sday = (stamp.astimezone(IST).date() - date(1970, 1, 1)).days
        sel = np.flatnonzero((bar_ts >= stamp.timestamp()) & (bar_ts < nxt) & (fr.day == sday))
        if len(sel) == 0:
            continue
        g = groups[stamp]
        r = ind.put_call_ratio(g.get_column("expiry").to_list(), g.get_column("option_type").to_list(),
                               g.get_column("oi").to_list(), on_or_after=stamp.astimezone(IST).date())
        out.append((int(sel[0]), int(sel[-1]) + 1, r, f" (snapshot {stamp.astimezone(IST):%Y-%m-%d %H:%M} IST)"))
    return out


@board_signal("sar", weight=5, summary="Parabolic SAR (0.02, 0.2): close above BUY, below SELL")
def sar(x: Inputs) -> Answer:
    fr, p = x.fr, x.p
    s = ind.parabolic_sar(fr.h, fr.lo, p.sar_step, p.sar_max)
    a = ind.atr(fr.h, fr.lo, fr.c, p.atr_period)
    avail = ~np.isnan(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(np.isnan(a), 0.5, _scaled(np.abs(fr.c - s) / a))

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: SAR needs 2"
        return f"close {_fmt(fr.c[i])} vs SAR {_fmt(s[i])} (step {p.sar_step:g}, max {p.sar_max:g})"

    return Answer(avail, fr.c > s, fr.c < s, conf, reason)


_LEVEL_NAMES = ("prev day high", "prev day low", "prev week high", "prev week low", "{n}-bar high", "{n}-bar low")


@board_signal("levels", weight=6,
              summary="nearest support below / resistance above the close (prev day, prev week, 20-bar H/L)")
def levels(x: Inputs) -> Answer:
    """Support is the nearest candidate level at or below the close, resistance the nearest at or above it
    (candidates: previous day H/L, previous week H/L, the 20 bars before this one H/L — SIGNALS.md #13); the
    day's direction is the close against the previous session's close. Within the band of a support on an up
    day → BUY; within the band of a resistance on a down day → SELL."""
    fr, p = x.fr, x.p
    _, ph, pl_, pc = x.prev
    wh, wl = x.week
    hi_n = ind.rolling_extreme(fr.h, p.levels_window, "max")
    lo_n = ind.rolling_extreme(fr.lo, p.levels_window, "min")
    c = fr.c
    cand = np.vstack([ph, pl_, wh, wl, hi_n, lo_n])  # (6, N)
    below = np.where(cand <= c, cand, np.nan)
    above = np.where(cand >= c, cand, np.nan)
    has_sup, has_res = ~np.all(np.isnan(below), axis=0), ~np.all(np.isnan(above), axis=0)
    sup_k = np.argmax(np.nan_to_num(below, nan=-np.inf), axis=0)
    res_k = np.argmin(np.nan_to_num(above, nan=np.inf), axis=0)
    cols = np.arange(len(c))
    support = np.where(has_sup, cand[sup_k, cols], np.nan)
    resistance = np.where(has_res, cand[res_k, cols], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_sup = (c - support) / c
        d_res = (resistance - c) / c
        day_move = (c - pc) / pc
    avail = ~np.isnan(hi_n) & (has_sup | has_res)
    up, down = day_move > 0, day_move < 0
    buy = (d_sup <= p.levels_band) & up
    sell = (d_res <= p.levels_band) & down
    conf = np.where(buy, _scaled(1 - d_sup / p.levels_band), _scaled(1 - d_res / p.levels_band))
    names = [s.format(n=p.levels_window) for s in _LEVEL_NAMES]

    def reason(i: int) -> str:
        if np.isnan(hi_n[i]):
            return f"not enough bars: {p.levels_window}-bar high/low needs {p.levels_window + 1}, have {i + 1}"
        day = "day n/a (no previous close)" if np.isnan(day_move[i]) else (
            f"day {'up' if up[i] else 'down' if down[i] else 'unchanged'} {day_move[i] * 100:+.2f} % "
            f"(prev close {_fmt(pc[i])})")
        sup = (f"support {names[sup_k[i]]} {_fmt(support[i])} ({d_sup[i] * 100:.2f} % below)" if has_sup[i]
               else "no support below (all levels above the close)")
        res = (f"resistance {names[res_k[i]]} {_fmt(resistance[i])} ({d_res[i] * 100:.2f} % above)" if has_res[i]
               else "no resistance above (all levels below the close)")
        return f"close {_fmt(c[i])}, {day}; {sup}; {res}; band {p.levels_band:.2%}"

    return Answer(avail, buy, sell, conf, reason)

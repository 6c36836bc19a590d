"""Market state of the sim: index LTP/day OHLC from the replayed ticks; futures and options priced from spot.

Units: internal index prices in **paise** (int); everything returned to clients in **rupees** (float).

Models (docs/sim.md, "Prices"):

* Index (256265, 260105, 265): the replayed ticks. Day OHLC is the running open/high/low of the day's bars
  replayed so far; ``close`` is the previous session's last 1-minute close (Kite's index packets carry the
  previous close there; the official parser's ``change`` is computed against it).
* Futures: cost of carry, ``F = S·e^(r·τ)``, r = ``backtest.rate`` (6.5 %/year), τ = ACT/365 years to the
  expiry's 15:30 IST close; rounded to the contract's tick size. **Modelled**.
* Options: from real chain snapshots (:mod:`tradesig.sim.chain`: the latest snapshot's LTP, OI and volume) where
  a chain file holds the contract on the replayed day; otherwise Black-Scholes (:func:`tradesig.pricing.
  black_scholes`) from spot with a flat IV ``backtest.iv`` (15 %/year) and the same r and τ, rounded to 0.05, at
  least 0.05 — **modelled**.
* Day OHLC of a derivative: its price at the day's open/high/low spot (high and low swap for puts).
* Volume, OI, last traded quantity and average traded price are **0** unless a chain snapshot holds them: the
  data holds none (never invented).
* Depth (tradable instruments): 5 levels each side one tick apart around LTP (bid = LTP − 1 tick, ask = LTP +
  1 tick); each level holds 5–40 lots, seeded per (instrument, minute, level). This is the sim's liquidity
  model, used for matching and partial fills, not market data.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from tradesig.clock import IST
from tradesig.pricing import black_scholes, year_fraction
from tradesig.sim.chain import ChainSnapshots
from tradesig.sim.data import BarSeries, MarketData
from tradesig.sim.instruments import Catalog, Instrument

DEPTH_LEVELS = 5
CLOSE_TIME = time(15, 30)


@dataclass
class IndexState:
    """Running state of one index on the replayed day (paise; ``ts`` epoch seconds of the last tick)."""

    token: int
    ltp: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    prev_close: int = 0
    ts: int = 0
    started: bool = False
    # the 1-minute bar being formed: start epoch and OHLC (paise)
    bar_start: int = 0
    bar: tuple[int, int, int, int] | None = None

    def apply(self, ts: int, price: int) -> None:
        if not self.started:
            self.open = self.high = self.low = price
            self.started = True
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.ltp = price
        self.ts = ts
        minute = ts - ts % 60
        if self.bar is None or minute != self.bar_start:
            self.bar_start = minute
            self.bar = (price, price, price, price)
        else:
            o, h, lo, _ = self.bar
            self.bar = (o, max(h, price), min(lo, price), price)


def _ist_text(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, IST).strftime("%Y-%m-%d %H:%M:%S")


def round_to_tick(price: float, tick: float) -> float:
    """Nearest multiple of ``tick`` (rupees), as a float with two decimals."""
    if tick <= 0:
        return round(price, 2)
    return round(round(price / tick) * tick, 2)


class MarketState:
    """Quotes, ticks and candles for every instrument of the catalog, at a given sim time.

    ``rate``/``iv`` annualised decimals; ``seed`` drives the depth quantities.
    """

    def __init__(self, data: MarketData, catalog: Catalog, day: date, *, rate: float = 0.065, iv: float = 0.15,
                 seed: int = 0, chain: ChainSnapshots | None = None) -> None:
        self.data = data
        self.chain = chain
        self.catalog = catalog
        self.day = day
        self.rate = rate
        self.iv = iv
        self.seed = seed
        self.index: dict[int, IndexState] = {}
        self.underlying_token = {ins.underlying: ins.instrument_token for ins in catalog.instruments if ins.is_index}
        for token, series in data.series.items():
            st = IndexState(token)
            sl = series.day_slice(day)
            prev = series.ts < int(datetime.combine(day, time(0), IST).timestamp())
            if prev.any():
                st.prev_close = int(series.close[np.nonzero(prev)[0][-1]])
            elif sl.stop > sl.start:
                st.prev_close = int(series.open[sl.start])
            if sl.stop > sl.start:
                st.ltp = st.prev_close or int(series.open[sl.start])
            self.index[token] = st

    def models(self) -> dict[str, str]:
        """How each kind of price is made (``models`` of ``GET /_sim/state``; "modelled" where it is a model)."""
        chain = self.chain
        return {"futures": f"cost of carry F = S*exp(r*t), r = {self.rate} (modelled)",
                "options": (f"real chain snapshots for {len(chain)} contracts ({', '.join(chain.sources)}) from "
                            "their first snapshot on; otherwise " if chain else "")
                + f"Black-Scholes from spot, flat IV {self.iv}, r = {self.rate} (modelled)",
                "volume_oi": "from chain snapshots where present; otherwise 0: the data holds none",
                "depth": "5 levels one tick apart, 5-40 lots each (sim liquidity model)"}

    # ------------------------------------------------------------------------------------------------ replay

    def seed_before(self, start_epoch: int) -> None:
        """Fold the day's bars that start before ``start_epoch`` into the day OHLC (replay from --start)."""
        for token, series in self.data.series.items():
            sl = series.day_slice(self.day)
            idx = [i for i in range(sl.start, sl.stop) if series.ts[i] < start_epoch]
            if not idx:
                continue
            st = self.index[token]
            st.open = int(series.open[idx[0]])
            st.high = int(series.high[idx].max())
            st.low = int(series.low[idx].min())
            st.ltp = int(series.close[idx[-1]])
            st.ts = int(series.ts[idx[-1]]) + 59
            st.started = True

    def apply_tick(self, token: int, ts: int, price: int) -> None:
        self.index[token].apply(ts, price)

    # ----------------------------------------------------------------------------------------------- pricing

    def spot(self, underlying: str) -> float | None:
        """Current spot of an index key (rupees), or None when the sim has no data for it."""
        token = self.underlying_token.get(underlying)
        st = self.index.get(token) if token is not None else None
        if st is None or st.ltp == 0:
            return None
        return st.ltp / 100.0

    def expiry_close(self, ins: Instrument) -> datetime:
        assert ins.expiry is not None
        return datetime.combine(ins.expiry, CLOSE_TIME, IST)

    def derivative_price(self, ins: Instrument, spot: float, at: datetime) -> float:
        """Model price (rupees) of a future or option at spot ``spot`` and time ``at`` (see module doc)."""
        tau = year_fraction(at, self.expiry_close(ins))
        if ins.instrument_type == "FUT":
            return round_to_tick(spot * math.exp(self.rate * tau), ins.tick_size or 0.05)
        premium = black_scholes(spot, ins.strike, tau, self.rate, self.iv, ins.instrument_type)
        return max(round_to_tick(premium, ins.tick_size or 0.05), ins.tick_size or 0.05)

    def _chain(self, ins: Instrument, now: datetime) -> tuple[float, int, int] | None:
        """(ltp, oi, volume) from a real chain snapshot, for an option the chain file holds; else None."""
        if self.chain is None or ins.instrument_type not in ("CE", "PE") or ins.expiry is None:
            return None
        return self.chain.quote((ins.underlying, ins.expiry, ins.strike, ins.instrument_type), int(now.timestamp()))

    def is_modelled(self, ins: Instrument, now: datetime) -> bool:
        """True when the instrument's price comes from a model (futures; options without a chain snapshot)."""
        return not ins.is_index and self._chain(ins, now) is None

    def price(self, ins: Instrument, now: datetime) -> float | None:
        """LTP (rupees) of any catalog instrument at sim time ``now``; None when its underlying has no data."""
        real = self._chain(ins, now)
        if real is not None:
            return real[0]
        if ins.is_index:
            st = self.index.get(ins.instrument_token)
            return None if st is None or st.ltp == 0 else st.ltp / 100.0
        s = self.spot(ins.underlying)
        return None if s is None else self.derivative_price(ins, s, now)

    def day_ohlc(self, ins: Instrument, now: datetime) -> dict[str, float]:
        """Kite's ``ohlc``: open/high/low of the day so far, ``close`` = previous session close (rupees)."""
        token = ins.instrument_token if ins.is_index else self.underlying_token.get(ins.underlying)
        st = self.index.get(token) if token is not None else None
        if st is None:
            return {"open": 0.0, "high": 0.0, "low": 0.0, "close": 0.0}
        o = st.open if st.started else st.ltp
        h = st.high if st.started else st.ltp
        lo = st.low if st.started else st.ltp
        if ins.is_index:
            return {"open": o / 100, "high": h / 100, "low": lo / 100, "close": st.prev_close / 100}
        if self._chain(ins, now) is not None:
            ohlc = self.chain.day_ohlc((ins.underlying, ins.expiry, ins.strike, ins.instrument_type),
                                       int(now.timestamp()))
            if ohlc is not None:
                return ohlc
        open_at = datetime.combine(self.day, time(9, 15), IST)
        prev_at = datetime.combine(self.day - timedelta(days=1), CLOSE_TIME, IST)
        ltp = self.derivative_price(ins, st.ltp / 100, now)
        p_open = self.derivative_price(ins, o / 100, min(open_at, now))
        p_h = self.derivative_price(ins, (lo if ins.instrument_type == "PE" else h) / 100, now)
        p_l = self.derivative_price(ins, (h if ins.instrument_type == "PE" else lo) / 100, now)
        p_close = self.derivative_price(ins, st.prev_close / 100, prev_at) if st.prev_close else 0.0
        return {"open": p_open, "high": max(p_h, p_open, ltp), "low": min(p_l, p_open, ltp), "close": p_close}

    # ------------------------------------------------------------------------------------------------- depth

    def depth(self, ins: Instrument, ltp: float, now: datetime) -> dict[str, list[dict[str, float | int]]]:
        """Five levels a side (see module doc); empty (zeros) for indices."""
        empty = [{"price": 0.0, "quantity": 0, "orders": 0} for _ in range(DEPTH_LEVELS)]
        if ins.is_index or ltp <= 0:
            return {"buy": empty, "sell": [dict(e) for e in empty]}
        tick = ins.tick_size or 0.05
        minute = int(now.timestamp()) // 60
        buy, sell = [], []
        for k in range(DEPTH_LEVELS):
            for side, out, sign in (("b", buy, -1), ("s", sell, 1)):
                h = zlib.crc32(f"{self.seed}:{ins.instrument_token}:{minute}:{side}{k}".encode())
                lots = 5 + h % 36
                price = round_to_tick(ltp + sign * (k + 1) * tick, tick)
                if price <= 0:
                    out.append({"price": 0.0, "quantity": 0, "orders": 0})
                else:
                    out.append({"price": price, "quantity": lots * max(ins.lot_size, 1), "orders": 1 + lots // 4})
        return {"buy": buy, "sell": sell}

    # ------------------------------------------------------------------------------------------ REST shapes

    def quote(self, ins: Instrument, now: datetime) -> dict | None:
        """Kite's /quote entry for ``ins`` (shape of kite_mocks/quote.json), or None without data."""
        ltp = self.price(ins, now)
        if ltp is None:
            return None
        ohlc = self.day_ohlc(ins, now)
        depth = self.depth(ins, ltp, now)
        st = self.index.get(ins.instrument_token if ins.is_index else self.underlying_token.get(ins.underlying, -1))
        ts = st.ts if st is not None and st.ts else int(now.timestamp())
        _, oi, volume = self._chain(ins, now) or (0.0, 0, 0)
        return {
            "instrument_token": ins.instrument_token,
            "timestamp": _ist_text(int(now.timestamp())),
            "last_trade_time": None if ins.is_index else _ist_text(ts),
            "last_price": ltp,
            "last_quantity": 0,
            "buy_quantity": sum(int(d["quantity"]) for d in depth["buy"]),
            "sell_quantity": sum(int(d["quantity"]) for d in depth["sell"]),
            "volume": volume,
            "average_price": 0,
            "oi": oi,
            "oi_day_high": 0,
            "oi_day_low": 0,
            "net_change": round(ltp - ohlc["close"], 2) if ohlc["close"] else 0,
            "lower_circuit_limit": 0 if ins.is_index else round_to_tick(ohlc["close"] * 0.8, ins.tick_size or 0.05),
            "upper_circuit_limit": 0 if ins.is_index else round_to_tick(ohlc["close"] * 1.2 + 1, ins.tick_size or 0.05),
            "ohlc": ohlc,
            "depth": depth,
        }

    # ------------------------------------------------------------------------------------------ tick shapes

    def tick(self, ins: Instrument, mode: str, now: datetime) -> dict | None:
        """A tick dict as the official KiteTicker parser returns it (plus ``mode``), for the codec's encoder.

        Index: ltp (8 B), index quote (28 B) or index full (32 B, with exchange_timestamp). Tradable: ltp, quote
        (44 B) or full (184 B with depth). Timestamps are aware datetimes. None without data.
        """
        ltp = self.price(ins, now)
        if ltp is None:
            return None
        d: dict = {"tradable": not ins.is_index, "mode": mode, "instrument_token": ins.instrument_token,
                   "last_price": ltp}
        if mode == "ltp":
            return d
        ohlc = self.day_ohlc(ins, now)
        change = (ltp - ohlc["close"]) * 100 / ohlc["close"] if ohlc["close"] else 0
        ts = datetime.fromtimestamp(int(now.timestamp()), IST)
        if ins.is_index:
            d.update({"ohlc": ohlc, "change": change})
            if mode == "full":
                st = self.index[ins.instrument_token]
                d["exchange_timestamp"] = datetime.fromtimestamp(st.ts or int(now.timestamp()), IST)
            return d
        depth = self.depth(ins, ltp, now)
        _, oi, volume = self._chain(ins, now) or (0.0, 0, 0)
        d.update({"last_traded_quantity": 0, "average_traded_price": 0.0, "volume_traded": volume,
                  "total_buy_quantity": sum(int(x["quantity"]) for x in depth["buy"]),
                  "total_sell_quantity": sum(int(x["quantity"]) for x in depth["sell"]),
                  "ohlc": ohlc, "change": change})
        if mode == "full":
            d.update({"last_trade_time": ts, "oi": oi, "oi_day_high": 0, "oi_day_low": 0,
                      "exchange_timestamp": ts, "depth": depth})
        return d

    # ------------------------------------------------------------------------------------------- historical

    def candles(self, ins: Instrument, interval: str, start: datetime, end: datetime, now: datetime,
                with_oi: bool = False) -> list[list]:
        """Kite historical candles ``[ts "YYYY-MM-DDTHH:MM:SS+0530", o, h, l, c, volume(, oi)]`` of bars that
        started in ``[start, end]`` and before ``now`` (the forming bar included with what was replayed of it).

        ``interval``: minute, 3minute, 5minute, 10minute, 15minute, 30minute, 60minute, day. Volume/OI are 0
        (index data has none). Derivatives: each underlying bar mapped through the price model at the bar
        start. Raises ``KeyError`` for an unknown interval.
        """
        minutes = INTERVAL_MINUTES[interval]
        token = ins.instrument_token if ins.is_index else self.underlying_token.get(ins.underlying)
        series = self.data.series.get(token) if token is not None else None
        if series is None:
            return []
        lo_e, hi_e = int(start.timestamp()), int(end.timestamp())
        bars = _bars_until(series, self.index.get(series.token), now, lo_e, hi_e)
        rows: list[list] = []
        buckets: dict[int, list[int]] = {}
        order: list[int] = []
        for (t, o, h, lw, c) in bars:
            if t < lo_e or t > hi_e:
                continue
            b = _bucket(t, minutes)
            if b not in buckets:
                buckets[b] = [o, h, lw, c]
                order.append(b)
            else:
                agg = buckets[b]
                agg[1] = max(agg[1], h)
                agg[2] = min(agg[2], lw)
                agg[3] = c
        for b in order:
            o, h, lw, c = (v / 100 for v in buckets[b])
            if not ins.is_index:
                at = datetime.fromtimestamp(b, IST)
                po, pc = (self.derivative_price(ins, x, at) for x in (o, c))
                ph, pl = (self.derivative_price(ins, x, at) for x in ((lw, h) if ins.instrument_type == "PE"
                                                                           else (h, lw)))
                o, h, lw, c = po, max(ph, po, pc), min(pl, po, pc), pc
            stamp = datetime.fromtimestamp(b, IST).strftime("%Y-%m-%dT%H:%M:%S%z")
            row = [stamp, o, h, lw, c, 0]
            if with_oi:
                row.append(0)
            rows.append(row)
        return rows


INTERVAL_MINUTES = {"minute": 1, "3minute": 3, "5minute": 5, "10minute": 10, "15minute": 15, "30minute": 30,
                    "60minute": 60, "day": 0}


def _bucket(t: int, minutes: int) -> int:
    """Bucket start (epoch) of a bar starting at ``t``: session-aligned at 09:15 IST; ``0`` minutes = the day."""
    local = t + 19800
    day0 = local - local % 86400
    if minutes == 0:
        return day0 - 19800
    anchor = day0 + 9 * 3600 + 15 * 60
    k = (local - anchor) // (minutes * 60)
    return anchor + k * minutes * 60 - 19800


def _bars_until(series: BarSeries, st: IndexState | None, now: datetime, lo_e: int,
                hi_e: int) -> list[tuple[int, int, int, int, int]]:
    """Bars starting in ``[lo_e, hi_e]`` complete by ``now``, plus the forming bar as replayed so far (paise)."""
    now_e = int(now.timestamp())
    first = int(np.searchsorted(series.ts, lo_e, "left"))
    last = min(int(np.searchsorted(series.ts, hi_e, "right")), int(np.searchsorted(series.ts, now_e - 60, "right")))
    out = [(int(series.ts[i]), int(series.open[i]), int(series.high[i]), int(series.low[i]), int(series.close[i]))
           for i in range(first, last)]
    if st is not None and st.bar is not None and st.bar_start + 60 > now_e and (not out or out[-1][0] < st.bar_start):
        out.append((st.bar_start, *st.bar))
    return out

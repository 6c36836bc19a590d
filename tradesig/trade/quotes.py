"""Where option prices come from for the simulated brokers: the underlying's last price (:class:`SpotBook`),
real option-chain snapshots (:class:`ChainSnapshots`), Black-Scholes (:class:`ModelledPremiums`, labelled
"modelled"), or a broker's / feed's own quotes (:class:`BrokerQuotes`, :class:`TickQuotes`).

Units: prices rupees per unit (index points), timestamps aware UTC. No wall clock: a :class:`Clock` is passed in.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from tradesig.clock import Clock, ist_date
from tradesig.config import BacktestSettings
from tradesig.errors import BrokerError, DataError
from tradesig.pricing import black_scholes, year_fraction
from tradesig.trade.broker import Quote
from tradesig.trade.instruments import OptionContract, expiry_close
from tradesig.volatility import FlatIV, IVModel

__all__ = ["SpotBook", "QuoteSource", "ChainSnapshots", "ModelledPremiums", "BrokerQuotes", "TickQuotes",
           "MIN_PREMIUM", "modelled_source", "is_modelled", "quote_many"]

#: The lowest price an option trades at: one tick (rupees).
MIN_PREMIUM = 0.05


def modelled_source(iv_source: str) -> str:
    """The ``price_source`` label of a premium that came from the model: ``"modelled [iv <source>]"``, naming
    where its volatility came from (``IVModel.source`` of tradesig.volatility, or the sim's model), e.g.
    ``"modelled [iv flat 15% (backtest.iv)]"``."""
    return f"modelled [iv {iv_source}]" if iv_source else "modelled"


def is_modelled(source: str | None) -> bool:
    """True when a ``price_source`` (possibly "a+b" for several fills) includes a modelled price."""
    return "modelled" in (source or "")


class SpotBook:
    """Last known price of each underlying index (index points) and when it was known (aware UTC)."""

    def __init__(self) -> None:
        # (price, ts) pairs: immutable, so get() hands out the stored pair (a quote asks for every leg on every bar)
        self._spots: dict[str, tuple[float, datetime]] = {}
        self._daily: dict[str, dict[date, tuple[float, datetime]]] = {}

    def update(self, symbol: str, price: float, ts: datetime) -> None:
        spot = (float(price), ts)
        self._spots[symbol] = spot
        self._daily.setdefault(symbol, {})[ist_date(ts - timedelta(microseconds=1))] = spot

    def last_on(self, symbol: str, day: date) -> tuple[float, datetime] | None:
        """The last price known on IST date ``day`` or the latest date before it (None when none)."""
        days = [d for d in self._daily.get(symbol, {}) if d <= day]
        if not days:
            return None
        return self._daily[symbol][max(days)]

    def get(self, symbol: str) -> tuple[float, datetime] | None:
        return self._spots.get(symbol)


class QuoteSource(Protocol):
    """Price of one option contract now, or None when none is known."""

    def quote(self, contract: OptionContract) -> Quote | None: ...


def quote_many(source: QuoteSource, contracts: list[OptionContract]) -> dict[str, Quote]:
    """Quotes of several contracts by tradingsymbol, in one request when the source can batch (``quote_many``:
    :class:`BrokerQuotes` asks the broker once for all of them), else one :meth:`QuoteSource.quote` each."""
    many = getattr(source, "quote_many", None)
    if many is not None:
        return many(contracts)
    return {c.tradingsymbol: q for c in contracts if (q := source.quote(c)) is not None}


class ChainSnapshots:
    """Real option-chain snapshots (shared/data options/nifty_option_chain_1min_snapshots_*.parquet: columns
    snapshot_ts (IST), symbol "NIFTY50", expiry_date, strike, option_type, ltp). A lookup returns the LTP of the
    latest snapshot at or before ``ts`` and no older than ``max_age`` (default 5 minutes), else None.

    Raises :class:`DataError` when the file is unreadable or lacks the columns."""

    SYMBOLS = {"NIFTY50": "NIFTY", "NIFTY": "NIFTY", "BANKNIFTY": "BANKNIFTY"}

    def __init__(self, path: Path | str, max_age: timedelta = timedelta(minutes=5)) -> None:
        import polars as pl

        try:
            df = pl.read_parquet(path, columns=["snapshot_ts", "symbol", "expiry_date", "strike", "option_type",
                                                "ltp"])
        except Exception as exc:  # noqa: BLE001 - polars raises several types for unreadable/foreign files
            raise DataError(f"cannot read option-chain snapshots {path}: {exc}") from None
        self.max_age = max_age
        self._series: dict[tuple[str, date, float, str], tuple[list[datetime], list[float]]] = {}
        df = df.filter(pl.col("ltp") > 0).sort("snapshot_ts")
        for key, group in df.group_by(["symbol", "expiry_date", "strike", "option_type"], maintain_order=True):
            sym = self.SYMBOLS.get(str(key[0]), str(key[0]))
            times = group["snapshot_ts"].to_list()
            self._series[(sym, key[1], float(key[2]), str(key[3]))] = (times, group["ltp"].to_list())

    def ltp(self, contract: OptionContract, ts: datetime) -> float | None:
        series = self._series.get((contract.symbol, contract.expiry, float(contract.strike), contract.option_type))
        if series is None:
            return None
        times, prices = series
        i = bisect.bisect_right(times, ts) - 1
        if i < 0 or ts - times[i] > self.max_age:
            return None
        return float(prices[i])


class ModelledPremiums:
    """Backtest premiums: a real chain snapshot where one exists (``source="chain"``), else Black-Scholes on the
    underlying's last price with ``settings.rate`` and the IV of ``iv_models[symbol]`` (tradesig.volatility; a
    flat ``settings.iv`` for symbols without one) (``source`` :func:`modelled_source` naming the IV model's
    ``source``; ``extra`` naming ``iv`` and ``iv_source``). Time to expiry is ACT/365 to 15:30 IST on the expiry
    date. The quote's ``ts`` is the underlying price's time. Prices are floored at one tick and rounded to the tick
    (0.05)."""

    def __init__(self, spots: SpotBook, settings: BacktestSettings, chain: ChainSnapshots | None = None,
                 iv_models: dict[str, IVModel] | None = None) -> None:
        self.spots = spots
        self.settings = settings
        self.chain = chain
        self.iv_models: dict[str, IVModel] = dict(iv_models or {})
        self._flat = FlatIV(settings.iv)
        # the last modelled quote of each contract, reused while the underlying's price and time are the same
        # and IV model (a fill right after the prefetch of its basket's quotes asks again):
        # {tradingsymbol: (contract, spot, ts, model, quote)}
        self._last: dict[str, tuple[OptionContract, float, datetime, IVModel, Quote]] = {}
        self._closes: dict[date, datetime] = {}   # expiry date -> its close, aware UTC (time to expiry)
        self._labels: dict[str, str] = {}         # IV model source -> price_source label
        self._years: tuple[Any, Any, float] = (None, None, 0.0)   # (ts, expiry close, years between): the last

    def iv_model(self, symbol: str) -> IVModel:
        """The IV model used for ``symbol``'s modelled premiums."""
        return self.iv_models.get(symbol, self._flat)

    def quote(self, contract: OptionContract) -> Quote | None:
        known = self.spots.get(contract.symbol)
        if known is None:
            return None
        spot, ts = known
        if self.chain is not None:
            real = self.chain.ltp(contract, ts)
            if real is not None:
                return Quote(ltp=real, ts=ts, source="chain")
        model = self.iv_model(contract.symbol)
        last = self._last.get(contract.tradingsymbol)
        if last is not None and last[0] is contract and last[1] == spot and last[2] is ts and last[3] is model:
            return last[4]
        close = self._closes.get(contract.expiry)
        if close is None:
            close = self._closes[contract.expiry] = expiry_close(contract.expiry).astimezone(UTC)
        years = self._years
        if years[0] is ts and years[1] is close:  # a basket's two legs: same instant, same expiry
            t = years[2]
        else:
            t = year_fraction(ts, close)
            self._years = (ts, close, t)
        iv = model.iv(ist_date(ts), spot=spot, strike=contract.strike, t_years=t)
        price = black_scholes(spot, contract.strike, t, self.settings.rate, iv, contract.option_type)
        price = max(MIN_PREMIUM, round(round(price / 0.05) * 0.05, 2))
        label = self._labels.get(model.source)
        if label is None:
            label = self._labels[model.source] = modelled_source(model.source)
        quote = Quote(ltp=price, ts=ts, source=label,
                      extra={"spot": spot, "iv": round(iv, 4), "iv_source": model.source})
        self._last[contract.tradingsymbol] = (contract, spot, ts, model, quote)
        return quote


class BrokerQuotes:
    """Quotes from a broker's quote endpoint (Kite ``GET /quote``, e.g. the sim's): at most one request per
    ``min_interval`` monotonic seconds (Kite's 1 request/s quote limit; a refused request — HTTP 429 — is not
    retried before the interval passed either), each request asking for every instrument wanted then
    (:meth:`quote_many`), answers cached in between. ``fetch(["NFO:SYM", …]) -> {key: Quote}`` is typically
    :meth:`tradesig.trade.brokers.live.LiveBroker.quote`.

    Every quote returned carries ``extra["refresh_seconds"]``: the market seconds this source needs to refresh it
    (``min_interval`` × the clock's speed — 1 s live, 500 s of a sim replaying at 500×). The paper broker's
    stale-quote rule accepts a quote that old (a replay's REST limit cannot deliver fresher prices; waiting for
    one would cost that much market time)."""

    def __init__(self, fetch: Callable[[list[str]], dict[str, Quote]], clock: Clock,
                 min_interval: float = 1.0) -> None:
        self.fetch = fetch
        self.clock = clock
        self.min_interval = min_interval
        self._cache: dict[str, tuple[float, Quote]] = {}
        self._last_request: float | None = None

    def quote(self, contract: OptionContract) -> Quote | None:
        return self.quote_many([contract]).get(contract.tradingsymbol)

    def quote_many(self, contracts: list[OptionContract]) -> dict[str, Quote]:
        """Quotes of ``contracts`` by tradingsymbol: cached ones younger than ``min_interval``, the rest in one
        request when the rate limit allows (else the older cached quote, or nothing)."""
        now = self.clock.monotonic()
        keys = {f"{c.exchange}:{c.tradingsymbol}": c.tradingsymbol for c in contracts}
        stale = [k for k in keys if k not in self._cache or now - self._cache[k][0] >= self.min_interval]
        if stale and (self._last_request is None or now - self._last_request >= self.min_interval):
            self._last_request = now
            try:
                got = self.fetch(stale)
            except BrokerError:
                got = {}
            refresh = self.min_interval * self.clock.speed
            for key, q in got.items():
                self._cache[key] = (now, Quote(q.ltp, q.ts, q.bid, q.ask, q.source,
                                               {**q.extra, "refresh_seconds": refresh}))
        return {sym: self._cache[key][1] for key, sym in keys.items() if key in self._cache}


class TickQuotes:
    """Latest ticks of option contracts from the feed hub, by tradingsymbol: ``update(tradingsymbol, tick, ts)``
    with a hub tick message (docs/viewer-protocol.md "tick": ``ltp``, best ``bid``/``ask`` when the packet had
    depth, else null).

    ``source``: the label of these prices ("quote"; a modelled label when the upstream is a sim whose option
    prices are modelled). A tick that says ``"modelled": true`` itself is labelled modelled with its
    ``iv_source``."""

    def __init__(self, source: str = "quote") -> None:
        self.source = source
        self._quotes: dict[str, Quote] = {}

    def update(self, tradingsymbol: str, tick: dict[str, Any], ts: datetime) -> None:
        source = modelled_source(str(tick.get("iv_source") or "")) if tick.get("modelled") else self.source
        self._quotes[tradingsymbol] = Quote(ltp=float(tick["ltp"]), ts=ts, bid=tick.get("bid") or None,
                                            ask=tick.get("ask") or None, source=source)

    def quote(self, contract: OptionContract) -> Quote | None:
        return self._quotes.get(contract.tradingsymbol)

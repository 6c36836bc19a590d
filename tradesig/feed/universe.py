"""Which instruments the feed subscribes: the indices, their current-month futures, the near option chain.

Pure: takes instrument rows (the Kite instruments dump, as ``kite.instruments("NFO")`` returns them: dicts with
instrument_token, tradingsymbol, name, expiry (date), strike, instrument_type, segment, exchange, lot_size) and
returns a :class:`Universe`.

Rules (DESIGN.md "Market facts"):
- the index tokens are fixed (NIFTY 50 256265, NIFTY BANK 260105, SENSEX 265);
- the *current-month future* is the nearest-expiry FUT of the index's name in NFO (BFO for SENSEX) expiring
  strictly after ``today`` — on expiry day the feed has already rolled to the next month, so the index's volume
  never comes from a contract that stops trading mid-session;
- the option chain for PCR: options of the nearest expiry on/after ``today`` whose strike lies within
  ``chain_strikes`` strike steps of spot (rounded to the step), both CE and PE; all within 3000 instruments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tradesig.market import INDICES


@dataclass
class Universe:
    """``tokens``: token → symbol (index key or tradingsymbol); ``index_future``: index → future tradingsymbol;
    ``quote_keys``: ``"EXCHANGE:TRADINGSYMBOL"`` → token for REST ``/quote``; ``options``: token → (index,
    option type "CE"/"PE", strike); ``chain_centre``: index → strike the chain is centred on."""

    tokens: dict[int, str] = field(default_factory=dict)
    index_future: dict[str, str] = field(default_factory=dict)
    quote_keys: dict[str, int] = field(default_factory=dict)
    options: dict[int, tuple[str, str, float]] = field(default_factory=dict)
    chain_centre: dict[str, float] = field(default_factory=dict)

    def all_tokens(self) -> list[int]:
        return sorted(self.tokens)


def _expiry(row: Mapping[str, Any]) -> date | None:
    value = row.get("expiry")
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value:
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            return None
    return None


def current_future(rows: Iterable[Mapping[str, Any]], symbol: str, today: date) -> Mapping[str, Any] | None:
    """The nearest FUT row of ``symbol`` expiring strictly after ``today`` (None when the dump has none)."""
    spec = INDICES[symbol]
    futures = [r for r in rows if r.get("name") == symbol and r.get("instrument_type") == "FUT"
               and r.get("exchange", spec.derivatives_exchange) == spec.derivatives_exchange
               and (_expiry(r) or date.min) > today]
    return min(futures, key=lambda r: _expiry(r) or date.max) if futures else None


def option_chain(rows: Iterable[Mapping[str, Any]], symbol: str, today: date, spot: float, strikes: int,
                 step: float) -> list[Mapping[str, Any]]:
    """Nearest-expiry (on/after ``today``) CE and PE rows within ``strikes`` steps of spot rounded to ``step``."""
    if strikes <= 0:
        return []
    spec = INDICES[symbol]
    options = [r for r in rows if r.get("name") == symbol and r.get("instrument_type") in ("CE", "PE")
               and r.get("exchange", spec.derivatives_exchange) == spec.derivatives_exchange
               and (_expiry(r) or date.min) >= today]
    if not options:
        return []
    nearest = min(_expiry(r) or date.max for r in options)
    centre = round(spot / step) * step
    lo, hi = centre - strikes * step, centre + strikes * step
    return [r for r in options if _expiry(r) == nearest and lo - 1e-6 <= float(r.get("strike", 0)) <= hi + 1e-6]


def build_universe(rows: list[Mapping[str, Any]], symbols: Iterable[str], today: date, *,
                   spots: Mapping[str, float] | None = None, chain_strikes: int = 0,
                   strike_steps: Mapping[str, float] | None = None, futures: bool = True) -> Universe:
    """The subscription set for ``symbols`` (tradesig index keys) on IST ``today`` (see module rules)."""
    uni = Universe()
    for symbol in symbols:
        spec = INDICES[symbol]
        uni.tokens[spec.token] = symbol
        uni.quote_keys[f"{spec.exchange}:{spec.tradingsymbol}"] = spec.token
        if futures:
            fut = current_future(rows, symbol, today)
            if fut is not None:
                token = int(fut["instrument_token"])
                uni.tokens[token] = str(fut["tradingsymbol"])
                uni.index_future[symbol] = str(fut["tradingsymbol"])
                uni.quote_keys[f"{spec.derivatives_exchange}:{fut['tradingsymbol']}"] = token
        spot = (spots or {}).get(symbol)
        if chain_strikes > 0 and spot:
            step = float((strike_steps or {}).get(symbol, spec.strike_step))
            for r in option_chain(rows, symbol, today, spot, chain_strikes, step):
                token = int(r["instrument_token"])
                uni.tokens[token] = str(r["tradingsymbol"])
                uni.options[token] = (symbol, str(r["instrument_type"]), float(r["strike"]))
            uni.chain_centre[symbol] = round(spot / step) * step
    return uni


def pcr(last_oi: Mapping[int, int], options: Mapping[int, tuple[str, str, float]]) -> dict[str, float | None]:
    """Put-call ratio of open interest per index: Σ PE OI / Σ CE OI over the subscribed chain (None when CE OI
    is 0). Source: the usual definition (NSE option-chain page: "PCR = total put OI / total call OI")."""
    sums: dict[str, list[int]] = {}
    for token, (symbol, kind, _) in options.items():
        oi = last_oi.get(token)
        if oi is None:
            continue
        acc = sums.setdefault(symbol, [0, 0])
        acc[0 if kind == "PE" else 1] += int(oi)
    return {s: (pe / ce if ce else None) for s, (pe, ce) in sums.items()}


__all__ = ["Universe", "build_universe", "current_future", "option_chain", "pcr"]

"""Option contracts for the trade engine: expiries, strikes, lot sizes and tradingsymbols.

The source of truth is Kite's instruments dump (``GET /instruments/NFO`` and ``/instruments/BFO``; columns
instrument_token, exchange_token, tradingsymbol, name, last_price, expiry, strike, tick_size, lot_size,
instrument_type, segment, exchange). Lot sizes and listed expiries change by exchange circular, so they are read
from the dump, never hard-coded. A backtest of a period the dump does not cover (e.g. 2024) uses
:class:`ModelledInstruments`: expiries from the market calendar's weekly-expiry rule, tradingsymbols built by
Kite's naming rule, and lot sizes from the dated table :data:`tradesig.market.LOT_REVISIONS` (the lot each contract
was listed with: :func:`tradesig.market.lot_size`; every such contract is flagged ``modelled=True``).

Live and paper trading keep the dump authoritative; :class:`InstrumentBook` logs one warning per index when the
dump's lot size for an expiry disagrees with the dated table (a revision the table does not know yet, or a
wrong row), naming both values.

Strike rules (shared/SIGNALS.md "From signal to trade": PE rounds down, CE rounds up, hedge ``hedge_offset``
further out of the money) live in one place, :func:`tradesig.signals.strategies.choose_option`; the engine gives
it :meth:`InstrumentSource.nearest_expiry` so the expiry is one that is actually listed. This module maps the
resulting :class:`~tradesig.signals.strategies.OptionChoice` to contracts. Quantity = lots × lot size (units).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from tradesig.clock import IST
from tradesig.errors import DataError
from tradesig.market import INDICES
from tradesig.market import lot_size as listed_lot_size

__all__ = [
    "OptionContract", "InstrumentSource", "InstrumentBook", "ModelledInstruments", "quantity_for", "weekly_symbol",
    "monthly_symbol", "load_dump",
    "expiry_close",
]

log = logging.getLogger(__name__)

_MONTH_CODES = {10: "O", 11: "N", 12: "D"}
_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

@dataclass(frozen=True)
class OptionContract:
    """One option contract.

    ``strike`` in index points; ``lot_size`` units per lot; ``tick_size`` rupees; ``expiry`` the IST expiry date;
    ``option_type`` "CE"/"PE"; ``exchange`` "NFO"/"BFO". ``modelled`` is True when the contract was not read from a
    dump but built by rule (backtests of past periods).
    """

    symbol: str
    tradingsymbol: str
    exchange: str
    expiry: date
    strike: float
    option_type: str
    lot_size: int
    tick_size: float = 0.05
    instrument_token: int = 0
    modelled: bool = False


class InstrumentSource(Protocol):
    """What the engine needs to turn a signal into contracts."""

    def expiries(self, symbol: str, on_or_after: date) -> list[date]: ...

    def nearest_expiry(self, symbol: str, day: date) -> date: ...

    def option(self, symbol: str, expiry: date, strike: float, option_type: str) -> OptionContract: ...

    def lot_size(self, symbol: str, on: date) -> int: ...

    def by_tradingsymbol(self, tradingsymbol: str) -> OptionContract | None: ...


def quantity_for(lots: int, lot_size: int) -> int:
    """Order quantity in units = lots × lot size (``ValueError`` when either is not positive)."""
    if lots <= 0 or lot_size <= 0:
        raise ValueError(f"lots ({lots}) and lot size ({lot_size}) must be positive")
    return lots * lot_size


def weekly_symbol(symbol: str, expiry: date, strike: float, option_type: str) -> str:
    """Kite's weekly-option tradingsymbol: NAME + YY + month code (1–9, O, N, D) + DD + strike + type,
    e.g. NIFTY2681824000PE (expiry 2026-08-18)."""
    month = _MONTH_CODES.get(expiry.month, str(expiry.month))
    return f"{symbol}{expiry:%y}{month}{expiry:%d}{_strike_text(strike)}{option_type}"


def monthly_symbol(symbol: str, expiry: date, strike: float, option_type: str) -> str:
    """Kite's monthly-option tradingsymbol (the month's last expiry): NAME + YY + MON + strike + type,
    e.g. NIFTY26AUG24000PE."""
    return f"{symbol}{expiry:%y}{_MONTH_NAMES[expiry.month - 1]}{_strike_text(strike)}{option_type}"


def _strike_text(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:g}"


def _read_rows(source: Path | str | bytes) -> list[dict[str, str]]:
    if isinstance(source, bytes):
        data = gzip.decompress(source) if source[:2] == b"\x1f\x8b" else source
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    path = Path(source)
    try:
        opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise DataError(f"cannot read instruments dump {path}: {exc}") from None


def load_dump(source: Path | str | bytes) -> InstrumentBook:
    """Read a Kite instruments CSV (plain or gzip; a path or the bytes of ``GET /instruments``).

    Raises :class:`DataError` for a missing file or missing columns."""
    return InstrumentBook(_read_rows(source))


class InstrumentBook:
    """Index options of the instruments dump, indexed for lookup.

    ``rows``: dicts with Kite's dump columns (strings as in the CSV, or typed values as kiteconnect's
    ``instruments()`` returns them). Only CE/PE rows whose ``name`` is one of tradesig's indices are kept.
    """

    REQUIRED = ("tradingsymbol", "name", "expiry", "strike", "lot_size", "instrument_type", "exchange")

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._by_key: dict[tuple[str, date, float, str], OptionContract] = {}
        self._by_symbol: dict[str, OptionContract] = {}
        self._expiries: dict[str, set[date]] = {}
        self._strikes: dict[str, set[float]] = {}
        for row in rows:
            missing = [c for c in self.REQUIRED if c not in row]
            if missing:
                raise DataError(f"instruments dump lacks columns {missing}")
            name = str(row["name"]).strip()
            kind = str(row["instrument_type"]).strip()
            if name not in INDICES or kind not in ("CE", "PE"):
                continue
            expiry = row["expiry"]
            expiry = expiry if isinstance(expiry, date) else date.fromisoformat(str(expiry)[:10])
            contract = OptionContract(
                symbol=name, tradingsymbol=str(row["tradingsymbol"]), exchange=str(row["exchange"]),
                expiry=expiry, strike=float(row["strike"]), option_type=kind, lot_size=int(float(row["lot_size"])),
                tick_size=float(row.get("tick_size") or 0.05), instrument_token=int(float(row.get("instrument_token")
                                                                                         or 0)))
            self._by_key[(name, expiry, contract.strike, kind)] = contract
            self._by_symbol[contract.tradingsymbol] = contract
            self._expiries.setdefault(name, set()).add(expiry)
            self._strikes.setdefault(name, set()).add(contract.strike)
        self.lot_mismatches = self._check_lots()

    def _check_lots(self) -> dict[str, list[tuple[date, int, int]]]:
        """``{symbol: [(expiry, dump lot, table lot), ...]}`` where the dump disagrees with
        :func:`tradesig.market.lot_size`; each index with a mismatch is logged once (the dump wins)."""
        lots: dict[tuple[str, date], int] = {}
        for (name, expiry, _strike, _kind), contract in self._by_key.items():
            lots.setdefault((name, expiry), contract.lot_size)
        found: dict[str, list[tuple[date, int, int]]] = {}
        for (name, expiry), dump_lot in sorted(lots.items()):
            table_lot = listed_lot_size(name, expiry)
            if dump_lot != table_lot:
                found.setdefault(name, []).append((expiry, dump_lot, table_lot))
        for name, rows in found.items():
            expiry, dump_lot, table_lot = rows[0]
            log.warning("instruments dump: %s lot size %d for expiry %s (and %d more expiries) differs from the "
                        "dated table's %d (tradesig.market.LOT_REVISIONS); using the dump's", name, dump_lot,
                        expiry, len(rows) - 1, table_lot)
        return found

    def __len__(self) -> int:
        return len(self._by_symbol)

    def symbols(self) -> list[str]:
        return sorted(self._expiries)

    def expiries(self, symbol: str, on_or_after: date) -> list[date]:
        """Listed expiries of ``symbol`` on or after a date, ascending (weekly and monthly alike)."""
        return sorted(e for e in self._expiries.get(symbol, ()) if e >= on_or_after)

    def nearest_expiry(self, symbol: str, day: date) -> date:
        """The first listed expiry on or after ``day`` (weekly or monthly: BANKNIFTY lists monthlies only).
        Raises :class:`DataError` when the dump lists none (a stale dump)."""
        listed = self.expiries(symbol, day)
        if not listed:
            raise DataError(f"no {symbol} option expiry on or after {day} in the instruments dump",
                            "refresh the instruments dump (it lists only current contracts)")
        return listed[0]

    def strikes(self, symbol: str, expiry: date) -> list[float]:
        return sorted(k[2] for k in self._by_key if k[0] == symbol and k[1] == expiry)

    def strike_step(self, symbol: str, expiry: date) -> int:
        """The smallest gap between listed strikes near the middle of the chain (index points)."""
        strikes = self.strikes(symbol, expiry)
        gaps = [round(b - a) for a, b in zip(strikes, strikes[1:], strict=False) if b > a]
        if not gaps:
            raise DataError(f"no strikes listed for {symbol} {expiry}")
        return min(gaps)

    def option(self, symbol: str, expiry: date, strike: float, option_type: str) -> OptionContract:
        """The listed contract; raises :class:`DataError` naming the nearest listed strikes when absent."""
        found = self._by_key.get((symbol, expiry, float(strike), option_type))
        if found is None:
            listed = self.strikes(symbol, expiry)
            near = sorted(listed, key=lambda s: abs(s - strike))[:3]
            raise DataError(f"{symbol} {expiry} {strike:g} {option_type} is not in the instruments dump",
                            f"nearest listed strikes: {', '.join(f'{s:g}' for s in sorted(near)) or 'none'}")
        return found

    def lot_size(self, symbol: str, on: date) -> int:
        """Lot size (units) of the nearest listed contract on/after ``on``; :class:`DataError` if none."""
        for expiry in self.expiries(symbol, on):
            for key, contract in self._by_key.items():
                if key[0] == symbol and key[1] == expiry:
                    return contract.lot_size
        raise DataError(f"no {symbol} options listed on or after {on}")

    def by_tradingsymbol(self, tradingsymbol: str) -> OptionContract | None:
        return self._by_symbol.get(tradingsymbol)


class ModelledInstruments:
    """Contracts built by rule for periods the dump does not cover (backtests).

    ``weekly_expiry(symbol, d) -> date`` is the market calendar's rule (nearest weekly expiry on/after ``d``,
    holidays moving it earlier); tradingsymbols follow Kite's weekly naming (monthly naming for the last expiry
    of a month); each contract's lot is the one it was listed with (:func:`tradesig.market.lot_size`) unless
    ``lot_sizes`` overrides them (symbol → units). Every contract is ``modelled=True``. ``horizon`` expiries are
    listed ahead.
    """

    def __init__(self, weekly_expiry: Callable[[str, date], date], lot_sizes: Mapping[str, int] | None = None,
                 horizon: int = 3) -> None:
        self._weekly_expiry = weekly_expiry
        self._lot_sizes = dict(lot_sizes or {})
        self._horizon = horizon
        self._issued: dict[str, OptionContract] = {}

    def expiries(self, symbol: str, on_or_after: date) -> list[date]:
        out: list[date] = []
        d = on_or_after
        for _ in range(self._horizon):
            expiry = self._weekly_expiry(symbol, d)
            out.append(expiry)
            d = date.fromordinal(expiry.toordinal() + 1)
        return out

    def nearest_expiry(self, symbol: str, day: date) -> date:
        return self._weekly_expiry(symbol, day)

    def lot_size(self, symbol: str, on: date) -> int:
        """Lot size (units) of the nearest expiry on/after ``on`` (the lot it was listed with)."""
        return self._lot_sizes.get(symbol) or listed_lot_size(symbol, self._weekly_expiry(symbol, on))

    def option(self, symbol: str, expiry: date, strike: float, option_type: str) -> OptionContract:
        following = self._weekly_expiry(symbol, date.fromordinal(expiry.toordinal() + 1))
        last_of_month = following.month != expiry.month
        name = (monthly_symbol if last_of_month else weekly_symbol)(symbol, expiry, strike, option_type)
        spec = INDICES[symbol]
        contract = OptionContract(symbol=symbol, tradingsymbol=name, exchange=spec.derivatives_exchange,
                                  expiry=expiry, strike=float(strike), option_type=option_type,
                                  lot_size=self._lot_sizes.get(symbol) or listed_lot_size(symbol, expiry),
                                  modelled=True)
        self._issued[name] = contract
        return contract

    def by_tradingsymbol(self, tradingsymbol: str) -> OptionContract | None:
        return self._issued.get(tradingsymbol)


def expiry_close(expiry: date) -> datetime:
    """The aware IST datetime of the expiry session's close (15:30)."""
    return datetime.combine(expiry, time(15, 30), tzinfo=IST)

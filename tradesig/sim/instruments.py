"""The sim's instrument master: the contracts that existed on the replayed date.

Two sources, chosen by the sim (:func:`dump_applies`):

* **Dated rules** (:func:`dated_catalog`; any replayed date the dump does not cover): per index, the weekly
  expiries on/after the date (``MarketCalendar.weekly_expiry``: the weekday in force then, holidays moving an
  expiry to the previous trading day) and the monthly ones (the last expiry weekday of the month), strikes around
  the day's opening spot at the index's strike step, and each contract's lot size from
  :func:`tradesig.market.lot_size` (the lot the contract was listed with). Tokens are not Kite's (none are
  published for past contracts): labelled synthetic in ``instruments_source``.
* **A real Kite dump** (:func:`build_catalog`), only for a replay in the year the dump was taken, **rebased** as
  below.

The dump (``shared/data/kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz``, produced by ``kite.instruments("NFO")``
and ``("BFO")`` on 2026-08-18) lists contracts expiring from Aug 2026; the replayed data may be from 2024. So the
derivatives of NIFTY, BANKNIFTY and SENSEX are **rebased** (docs/sim.md, "Instruments"):

* Option expiries inside the dump's weekly horizon (up to its last non-monthly expiry): the dump's k-th expiry
  becomes the k-th weekly expiry on/after the replayed date (NSE Tuesday, BSE SENSEX Thursday, a holiday moving
  it to the previous trading day — tradesig.calendar when present). Later expiries, and every future, keep their
  distance in months from the dump's current month and land on the last expiry weekday of that month.
* Strikes move by a whole multiple of 100 points so that the centre of the dump's nearest chain (its median
  strike) lands on the replayed day's opening spot — the ATM strikes exist whatever the index level — unless the
  spot is already within 2 % of that centre (then strikes stay the dump's own, so that a replay of the dump's own
  dates matches real chain snapshots contract for contract).
* Tradingsymbols are regenerated in Kite's format: futures ``NIFTY24JUNFUT``; monthly options (the last expiry of
  a month) ``NIFTY24JUN22000CE``; weekly options ``NIFTY2460422000CE`` (YY, month code 1–9/O/N/D, DD).
* Instrument tokens, exchange tokens, lot sizes and tick sizes are the dump's own. Other underlyings in the dump
  (stocks, FINNIFTY, BANKEX …) are left out: the sim has no data to quote them.

Index rows (segment INDICES, as in Kite's NSE/BSE dumps): NIFTY 50 256265, NIFTY BANK 260105, SENSEX 265.
"""

from __future__ import annotations

import calendar as _stdcal
import csv
import io
import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from tradesig.errors import DataError
from tradesig.market import INDICES, expiry_weekday, lot_size

COLUMNS = ["instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
           "tick_size", "lot_size", "instrument_type", "segment", "exchange"]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKLY_MONTH_CODE = "123456789OND"
STRIKE_SHIFT_UNIT = 100
#: strikes are shifted only when the spot is this far (fraction) from the centre of the dump's nearest chain
STRIKE_SHIFT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Instrument:
    """One row of the instruments master. ``strike`` in index points, ``lot_size`` in units, ``expiry`` IST date
    (None for indices); ``underlying`` is tradesig's index key (NIFTY/BANKNIFTY/SENSEX)."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    expiry: date | None
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str  # EQ (index), FUT, CE, PE
    segment: str
    exchange: str
    underlying: str

    @property
    def is_index(self) -> bool:
        return self.segment == "INDICES"

    @property
    def key(self) -> str:
        """``EXCHANGE:TRADINGSYMBOL`` as used by /quote."""
        return f"{self.exchange}:{self.tradingsymbol}"

    def csv_row(self) -> list[str]:
        return [str(self.instrument_token), str(self.exchange_token), self.tradingsymbol, self.name, "0.0",
                self.expiry.isoformat() if self.expiry else "", _num(self.strike), _num(self.tick_size),
                str(self.lot_size), self.instrument_type, self.segment, self.exchange]


def _num(x: float) -> str:
    return repr(float(x))


def index_rows() -> list[Instrument]:
    """The INDICES rows of the three indices (exchange token = instrument token >> 8, as Kite's tokens encode)."""
    return [Instrument(spec.token, spec.token >> 8, spec.tradingsymbol, spec.tradingsymbol, None, 0.0, 0.0, 0, "EQ",
                       "INDICES", spec.exchange, spec.symbol) for spec in INDICES.values()]


# ------------------------------------------------------------------------------------------------- expiry rules


class ExpiryRules:
    """Weekly and monthly expiry dates per index, from tradesig.calendar when it is importable (holidays move an
    expiry to the previous trading day), else the plain weekday rule (no holiday knowledge; logged by the sim)."""

    def __init__(self) -> None:
        try:
            from tradesig.calendar import get_calendar
        except ImportError:  # the calendar module is optional for the sim
            self._cal = None
        else:
            self._cal = get_calendar()

    @property
    def holiday_aware(self) -> bool:
        return self._cal is not None

    def _trading(self, d: date) -> bool:
        if self._cal is None:
            return d.weekday() < 5
        from tradesig.errors import CalendarCoverageError

        try:
            return bool(self._cal.is_trading_day(d))
        except CalendarCoverageError:
            return d.weekday() < 5

    def _adjust(self, d: date) -> date:
        while not self._trading(d):
            d -= timedelta(days=1)
        return d

    def weekly(self, symbol: str, d: date) -> date:
        """Nearest weekly expiry on/after ``d`` (holiday-adjusted): ``MarketCalendar.weekly_expiry`` when the
        calendar covers ``d``, else the plain weekday rule."""
        if self._cal is not None:
            from tradesig.errors import CalendarCoverageError

            try:
                return self._cal.weekly_expiry(symbol, d)
            except CalendarCoverageError:
                pass
        wd = expiry_weekday(symbol, d)
        return d + timedelta(days=(wd - d.weekday()) % 7)

    def monthly(self, symbol: str, year: int, month: int) -> date:
        """Last expiry weekday of the month (holiday-adjusted)."""
        last = date(year, month, _stdcal.monthrange(year, month)[1])
        wd = expiry_weekday(symbol, last)
        return self._adjust(last - timedelta(days=(last.weekday() - wd) % 7))

    def current_month(self, symbol: str, d: date) -> tuple[int, int]:
        """(year, month) of the first monthly expiry on/after ``d``."""
        y, m = d.year, d.month
        if self.monthly(symbol, y, m) < d:
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return y, m


def _month_add(ym: tuple[int, int], k: int) -> tuple[int, int]:
    idx = ym[0] * 12 + (ym[1] - 1) + k
    return idx // 12, idx % 12 + 1


def _strike_text(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:g}"


def tradingsymbol(name: str, expiry: date, instrument_type: str, strike: float = 0.0, monthly: bool = True) -> str:
    """Kite tradingsymbol: ``NIFTY24JUNFUT``, ``NIFTY24JUN22000CE`` (monthly), ``NIFTY2460422000CE`` (weekly)."""
    yy = f"{expiry.year % 100:02d}"
    if instrument_type == "FUT":
        return f"{name}{yy}{MONTHS[expiry.month - 1]}FUT"
    if monthly:
        return f"{name}{yy}{MONTHS[expiry.month - 1]}{_strike_text(strike)}{instrument_type}"
    return f"{name}{yy}{WEEKLY_MONTH_CODE[expiry.month - 1]}{expiry.day:02d}{_strike_text(strike)}{instrument_type}"


# ------------------------------------------------------------------------------------------------------ catalog


def read_dump(path: Path, names: tuple[str, ...] = tuple(INDICES)) -> list[dict[str, str]]:
    """Rows (all values as text) of a Kite instruments CSV, optionally gzipped, whose ``name`` is in ``names``
    (default: the three indices). Raises :class:`DataError` when unreadable or not a Kite dump."""
    import polars as pl

    try:
        df = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"cannot read instruments dump {path}: {exc}") from None
    if set(COLUMNS) - set(df.columns):
        raise DataError(f"{path} is not a Kite instruments dump", f"columns: {', '.join(COLUMNS)}")
    return df.filter(pl.col("name").is_in(list(names))).to_dicts()


class Catalog:
    """Instruments by token and by ``EXCHANGE:TRADINGSYMBOL``; renders Kite's instruments CSV."""

    def __init__(self, instruments: list[Instrument]) -> None:
        self.instruments = instruments
        self.by_token = {i.instrument_token: i for i in instruments}
        self.by_key = {i.key: i for i in instruments}
        self._csv: bytes | None = None

    def lookup(self, ident: str) -> Instrument | None:
        """``EXCHANGE:TRADINGSYMBOL`` or an instrument token as text; None when unknown."""
        if ident in self.by_key:
            return self.by_key[ident]
        if ident.isdigit():
            return self.by_token.get(int(ident))
        return None

    def by_symbol(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        return self.by_key.get(f"{exchange}:{tradingsymbol}")

    def csv_bytes(self, exchange: str | None = None) -> bytes:
        """Kite's instruments CSV (all exchanges, or one)."""
        if exchange is None and self._csv is not None:
            return self._csv
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        for ins in self.instruments:
            if exchange is None or ins.exchange == exchange:
                w.writerow(ins.csv_row())
        out = buf.getvalue().encode()
        if exchange is None:
            self._csv = out
        return out


def build_catalog(dump_rows: list[dict[str, str]], replay_date: date, spots: dict[str, float],
                  rules: ExpiryRules | None = None) -> Catalog:
    """Index rows plus the rebased derivatives of each index in ``spots`` (tradesig key → opening spot, points).

    ``dump_rows`` are the rows of a Kite NFO/BFO dump (see :func:`read_dump`); underlyings absent from ``spots``
    keep no derivatives. Raises nothing for an empty dump (only index rows result).
    """
    rules = rules or ExpiryRules()
    out = index_rows()
    seen: set[str] = set()
    for symbol, spot in spots.items():
        rows = [r for r in dump_rows if r["name"] == symbol and r["instrument_type"] in ("FUT", "CE", "PE")]
        if not rows:
            continue
        out.extend(_rebase(symbol, rows, replay_date, spot, rules, seen))
    return Catalog(out)


def _rebase(symbol: str, rows: list[dict[str, str]], day: date, spot: float, rules: ExpiryRules,
            seen: set[str]) -> list[Instrument]:
    expiries = sorted({date.fromisoformat(r["expiry"]) for r in rows})
    opt_expiries = sorted({date.fromisoformat(r["expiry"]) for r in rows if r["instrument_type"] != "FUT"})
    dump_day = expiries[0]
    month_last: dict[tuple[int, int], date] = {}
    for e in expiries:
        month_last[(e.year, e.month)] = max(e, month_last.get((e.year, e.month), e))
    weeklies = [e for e in opt_expiries if month_last[(e.year, e.month)] != e]
    horizon = weeklies[-1] if weeklies else None
    short = [e for e in opt_expiries if horizon is not None and e <= horizon]
    # k-th short expiry -> k-th weekly expiry from the replayed day
    mapping: dict[date, date] = {}
    x = rules.weekly(symbol, day)
    for e in short:
        mapping[e] = x
        x = rules.weekly(symbol, x + timedelta(days=1))
    dump_month = rules.current_month(symbol, dump_day)
    replay_month = rules.current_month(symbol, day)

    def by_month(e: date) -> date:
        k = (e.year * 12 + e.month) - (dump_month[0] * 12 + dump_month[1])
        y, m = _month_add(replay_month, k)
        return rules.monthly(symbol, y, m)

    # strike shift: centre of the nearest chain onto the spot, in whole 100-point steps
    nearest = [float(r["strike"]) for r in rows if r["instrument_type"] != "FUT"
               and date.fromisoformat(r["expiry"]) == (opt_expiries[0] if opt_expiries else dump_day)]
    centre = statistics.median(nearest) if nearest else spot
    shift = 0.0
    if abs(spot - centre) > STRIKE_SHIFT_TOLERANCE * spot:
        shift = round((spot - centre) / STRIKE_SHIFT_UNIT) * STRIKE_SHIFT_UNIT
    all_new = set(mapping.values()) | {by_month(e) for e in expiries}
    # a rebased expiry is "monthly" (named YYMON) when no later rebased expiry falls in its month
    monthly_names = {e for e in all_new if not any(o > e and (o.year, o.month) == (e.year, e.month) for o in all_new)}
    out = []
    for r in rows:
        e = date.fromisoformat(r["expiry"])
        itype = r["instrument_type"]
        new_exp = by_month(e) if itype == "FUT" or e not in mapping else mapping[e]
        strike = float(r["strike"]) + shift if itype != "FUT" else 0.0
        if itype != "FUT" and strike <= 0:
            continue
        ts = tradingsymbol(symbol, new_exp, itype, strike, monthly=new_exp in monthly_names or itype == "FUT")
        key = f"{r['exchange']}:{ts}"
        if key in seen:
            continue
        seen.add(key)
        out.append(Instrument(int(r["instrument_token"]), int(r["exchange_token"]), ts, symbol, new_exp, strike,
                              float(r["tick_size"]), int(r["lot_size"]), itype, r["segment"], r["exchange"],
                              symbol))
    return out


SEGMENT_CODE = {"NFO": 2, "BFO": 5}  # the low byte of a Kite instrument token (KiteTicker.EXCHANGE_MAP)


def dump_year(rows: list[dict[str, str]]) -> int | None:
    """The year a Kite dump was taken (its earliest expiry's year); None for no rows."""
    expiries = [r["expiry"] for r in rows if r.get("expiry")]
    return date.fromisoformat(min(expiries)).year if expiries else None


def dump_applies(rows: list[dict[str, str]], day: date) -> bool:
    """Whether a dump's contracts may stand for ``day``'s: only for a replay in the year the dump was taken (lot
    sizes, expiry weekdays and strikes of another year differ)."""
    return bool(rows) and dump_year(rows) == day.year


def dated_catalog(day: date, spots: dict[str, float], rules: ExpiryRules | None = None,
                  strikes_each_side: int = 40, weeklies: int = 4, months: int = 3) -> Catalog:
    """The contracts listed on ``day`` by the dated rules (module doc), for when no Kite dump covers ``day``.

    Per index in ``spots`` (key → opening spot, points): ``months`` monthly futures; options on the next
    ``weeklies`` weekly expiries (where the index had weeklies: the calendar's weekly expiry) and the ``months``
    monthly ones, ``strikes_each_side`` strikes a side of the spot at ``tradesig.market.INDICES[...].strike_step``.
    Lot size per contract: ``tradesig.market.lot_size(symbol, expiry)`` (units). Tick 0.05 (options), 0.1 (NSE
    futures), 0.05 (BSE futures); tokens ``exchange_token << 8 | segment`` from 10,000,000 upwards (segment 2
    NFO, 5 BFO), **synthetic**, not Kite's. Names follow :func:`tradingsymbol` (Kite's format for the date).
    """
    rules = rules or ExpiryRules()
    out = index_rows()
    next_token = 10_000_000
    for symbol, spot in spots.items():
        spec = INDICES[symbol]
        exch = spec.derivatives_exchange
        ym = rules.current_month(symbol, day)
        monthly = [rules.monthly(symbol, *_month_add(ym, k)) for k in range(months)]
        weekly: list[date] = []
        x = rules.weekly(symbol, day)
        while len(weekly) < weeklies:
            weekly.append(x)
            x = rules.weekly(symbol, x + timedelta(days=1))
        expiries = sorted(set(weekly) | set(monthly))
        last_in_month = {e for e in expiries if not any(o > e and (o.year, o.month) == (e.year, e.month)
                                                         for o in expiries)}
        atm = round(spot / spec.strike_step) * spec.strike_step

        specs: list[tuple[str, date, float, str, float]] = [
            (tradingsymbol(symbol, e, "FUT"), e, 0.0, "FUT", 0.1 if exch == "NFO" else 0.05) for e in monthly]
        for e in expiries:
            for k in range(-strikes_each_side, strikes_each_side + 1):
                strike = float(atm + k * spec.strike_step)
                for itype in ("CE", "PE"):
                    specs.append((tradingsymbol(symbol, e, itype, strike, monthly=e in last_in_month), e, strike,
                                  itype, 0.05))
        for ts, expiry, strike, itype, tick in specs:
            out.append(Instrument((next_token << 8) | SEGMENT_CODE[exch], next_token, ts, symbol, expiry, strike,
                                  tick, lot_size(symbol, expiry), itype,
                                  f"{exch}-{'FUT' if itype == 'FUT' else 'OPT'}", exch, symbol))
            next_token += 1
    return Catalog(out)


#: The former name of :func:`dated_catalog` (the same contracts; its tokens are synthetic).
synthetic_catalog = dated_catalog

__all__ = ["Instrument", "Catalog", "ExpiryRules", "build_catalog", "dated_catalog", "dump_applies", "dump_year",
           "read_dump", "index_rows", "tradingsymbol", "synthetic_catalog"]

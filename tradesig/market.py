"""Market facts about the three traded indices, dated and sourced, in one place.

Every fact that changes by exchange circular or by Act is a table of rows ``(…, effective from, value, source)``;
the row in force on a date is the latest one dated on or before it. Each row names its source (the exchange
circular, the Act, or the broker page that published it). Rows marked ``UNVERIFIED`` in their source could not be
checked against a primary or broker source when this table was written: they are the best available value, and
docs/trading.md lists them.

- Lot sizes (:data:`LOT_REVISIONS`, :func:`lot_size`): NSE and BSE revise lots for *contracts listed after the
  revision*; a listed contract keeps the lot it was listed with until it expires. So a revision is dated by the
  first weekly and the first monthly expiry that carry the new lot (the circulars name both), and
  :func:`lot_size` answers per contract (symbol, expiry). :func:`lot_size_on` answers "which lot do contracts
  listed on this date get". Live and paper trading read the broker's instruments dump instead (authoritative);
  :mod:`tradesig.trade.instruments` warns when the dump disagrees with this table.
- Freeze quantities (:data:`FREEZE_QUANTITIES`, :func:`freeze_quantity`): units (not lots) per order; an order at
  or above it is rejected by the exchange. NSE sets them monthly by index level (NSE F&O consolidated circular
  NSE/FAOP/67775 of 2025-04-30, chapter 1.8).
- Expiry weekdays (:data:`WEEKLY_EXPIRY`, :data:`MONTHLY_EXPIRY`): weekly (None once weeklies were discontinued)
  and monthly (the last such weekday of the month); a holiday moves an expiry to the previous trading day
  (tradesig.calendar applies that).
- Charges on option orders (:data:`STT_OPTION_SELL_PCT`, :data:`EXCHANGE_TXN_PCT`, :data:`STAMP_BUY_PCT`,
  :data:`SEBI_FEE_PER_CRORE`, :data:`GST_PCT`, :data:`BROKERAGE_PER_ORDER`): read by
  :mod:`tradesig.trade.charges`.

Units: lots and freeze quantities in units of the index; percentages as percent (0.1 means 0.1 %); rupees.
Pure data and lookups: no I/O.
"""

from __future__ import annotations

import calendar as _stdcal
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, TypeVar

__all__ = [
    "IndexSpec", "INDICES", "TOKEN_TO_SYMBOL", "TICK_SIZE", "Fact", "LotRevision", "LOT_REVISIONS",
    "FREEZE_QUANTITIES", "WEEKLY_EXPIRY", "MONTHLY_EXPIRY", "STT_OPTION_SELL_PCT", "EXCHANGE_TXN_PCT",
    "STAMP_BUY_PCT", "SEBI_FEE_PER_CRORE", "GST_PCT", "BROKERAGE_PER_ORDER", "canonical_symbol", "index_spec",
    "lot_size", "lot_size_on", "freeze_quantity", "expiry_weekday", "weekly_expiry_weekday",
    "monthly_expiry_weekday", "is_monthly_expiry", "fact_on",
]

T = TypeVar("T")

#: "since before the oldest data tradesig handles": the first row of every table
EPOCH = date(2000, 1, 1)


@dataclass(frozen=True)
class IndexSpec:
    """One tradable index.

    ``symbol`` is tradesig's key (also the Kite ``name`` of its derivatives); ``tradingsymbol`` is Kite's
    tradingsymbol of the index itself; ``token`` its Kite instrument token; ``strike_step`` in index points;
    ``freeze_quantity`` in units (not lots): the value in force today (dated values: :func:`freeze_quantity`).
    Expiry weekdays: :func:`expiry_weekday` (they change by date).
    """

    symbol: str
    tradingsymbol: str
    exchange: str
    derivatives_exchange: str
    token: int
    strike_step: int
    freeze_quantity: int
    aliases: tuple[str, ...]


# Kite instrument tokens (segment INDICES): Kite Connect instruments dump, exchange NSE/BSE. Strike steps: NSE F&O
# contract specifications (NIFTY 50, BANKNIFTY 100), BSE's for SENSEX (100).
INDICES: dict[str, IndexSpec] = {
    "NIFTY": IndexSpec("NIFTY", "NIFTY 50", "NSE", "NFO", 256265, 50, 1800, ("NIFTY 50", "NIFTY50", "NIFTY")),
    "BANKNIFTY": IndexSpec(
        "BANKNIFTY", "NIFTY BANK", "NSE", "NFO", 260105, 100, 600, ("NIFTY BANK", "BANKNIFTY", "BNF", "NIFTYBANK")
    ),
    "SENSEX": IndexSpec("SENSEX", "SENSEX", "BSE", "BFO", 265, 100, 1000, ("SENSEX", "BSE SENSEX")),
}

TOKEN_TO_SYMBOL: dict[int, str] = {spec.token: spec.symbol for spec in INDICES.values()}

#: Price tick of index options and futures, in rupees (NSE/BSE contract specifications).
TICK_SIZE = 0.05


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One dated row: ``value`` is in force for ``symbol`` ("*" = every index, or an exchange key) from IST date
    ``effective`` until the next row. ``source`` names the circular, Act or broker page."""

    symbol: str
    effective: date
    value: T
    source: str


@dataclass(frozen=True)
class LotRevision:
    """A lot-size revision: contracts listed from ``listed_from`` (IST date) get ``lot`` units; the first
    weekly and monthly expiries carrying it are ``first_weekly`` and ``first_monthly`` (earlier expiries were
    listed before the revision and keep the previous lot). ``source`` names the circular."""

    symbol: str
    listed_from: date
    first_weekly: date
    first_monthly: date
    lot: int
    source: str


_NSE_2021 = "NSE F&O circular of 2021-03-31 (revision from 2021-04-30; July 2021 monthly and Aug 2021 weeklies on)"
_NSE_2024A = ("NSE F&O circular of 2024-03-28 (effective 2024-04-26: first weekly 2024-05-02, first monthly "
              "2024-05-30; Zerodha bulletin 375282)")
_NSE_2024B = ("NSE circular of 2024-10-18 under SEBI circular SEBI/HO/MRD/TPD-1/P/CIR/2024/132 (2024-10-01): "
              "contracts listed from 2024-11-20; existing weekly and monthly contracts keep their lot")
_NSE_2025A = ("NSE F&O circular of 2025-03-28 (effective 2025-04-25): April, May, June 2025 monthlies keep 30, "
              "first monthly with 35 is 2025-07-31")
_NSE_2025B = ("NSE F&O circular of 2025-09-30 (effective 2025-10-28 EOD): monthly/weekly contracts expiring up "
              "to 2025-12-30 keep the old lot; first weekly 2026-01-06, first monthly 2026-01-27")

#: Lot-size revisions per index, oldest first (the first row of each index: its lot before tradesig's data).
LOT_REVISIONS: tuple[LotRevision, ...] = (
    LotRevision("NIFTY", EPOCH, EPOCH, EPOCH, 75, "NSE lot of NIFTY 50 before the 2021 revision (75 units)"),
    LotRevision("NIFTY", date(2021, 4, 30), date(2021, 8, 5), date(2021, 7, 29), 50, _NSE_2021),
    LotRevision("NIFTY", date(2024, 4, 26), date(2024, 5, 2), date(2024, 5, 30), 25, _NSE_2024A),
    # last weekly at 25: 2024-12-19; the Dec 2024 and Jan 2025 monthlies (12-26, 01-30) were listed before
    # 2024-11-20 and stay 25; the first monthly listed after it is Feb 2025 (2025-02-27)
    LotRevision("NIFTY", date(2024, 11, 20), date(2025, 1, 2), date(2025, 2, 27), 75, _NSE_2024B),
    LotRevision("NIFTY", date(2025, 10, 29), date(2026, 1, 6), date(2026, 1, 27), 65, _NSE_2025B),
    LotRevision("BANKNIFTY", EPOCH, EPOCH, EPOCH, 20, "NSE lot of NIFTY BANK before the 2020 revision (20 units)"),
    LotRevision("BANKNIFTY", date(2020, 5, 4), date(2020, 7, 30), date(2020, 7, 30), 25,
                "NSE F&O circular of 2020-03-31 (July 2020 expiry on; weeklies from the last July week)"),
    LotRevision("BANKNIFTY", date(2023, 4, 28), date(2023, 8, 3), date(2023, 7, 27), 15,
                "NSE F&O circular of 2023-03-31 (July 2023 monthly on; weeklies from August 2023)"),
    # BANKNIFTY weeklies ended 2024-11-13, so every later contract is a monthly: Nov 2024–Jan 2025 monthlies were
    # listed before 2024-11-20 and keep 15
    LotRevision("BANKNIFTY", date(2024, 11, 20), date(2025, 2, 27), date(2025, 2, 27), 30, _NSE_2024B),
    LotRevision("BANKNIFTY", date(2025, 4, 25), date(2025, 7, 31), date(2025, 7, 31), 35, _NSE_2025A),
    LotRevision("BANKNIFTY", date(2025, 10, 29), date(2026, 1, 27), date(2026, 1, 27), 30, _NSE_2025B),
    LotRevision("SENSEX", EPOCH, EPOCH, EPOCH, 15, "BSE lot of SENSEX derivatives before 2023-05-15 (15 units)"),
    LotRevision("SENSEX", date(2023, 5, 15), date(2023, 5, 15), date(2023, 5, 15), 10,
                "BSE notice of 2023-03-28: lot 15 -> 10 for contracts from 2023-05-15 (all older contracts "
                "expired 2023-05-12)"),
    LotRevision("SENSEX", date(2024, 11, 20), date(2025, 1, 3), date(2025, 2, 25), 20,
                "BSE notice under SEBI circular of 2024-10-01 (lot 10 -> 20 from 2024-11-20; Zerodha support "
                "'Lot size for index derivatives'). UNVERIFIED: the first weekly (2025-01-03) and monthly "
                "(2025-02-25) with 20 assume BSE listed like NSE (existing contracts keep their lot)"),
)

_FRZ_2022 = "NSE circular of 2022-07-31 (index-level slabs; effective 2022-08-02; 5paisa summary)"
_FRZ_2023 = "NSE circular effective 2023-04-03 (Angel One notice '03-Apr-23 Quantity Freeze Limits')"
#: Freeze quantities (units per order) by date. NSE derives them from index-level slabs (e.g. 1,800 for an index
#: between 17,250 and 27,500; 900 for 40,000–55,000; 600 above 55,000).
FREEZE_QUANTITIES: tuple[Fact[int], ...] = (
    Fact("NIFTY", EPOCH, 2800, _FRZ_2022 + "; UNVERIFIED before 2022-08-02"),
    Fact("NIFTY", date(2023, 4, 3), 1800, _FRZ_2023),
    # 1800 unchanged through the 2024-08-01, 2025-03-03, 2025-07-01, 2025-09-01, 2025-11-03 and 2026-02-01 revisions
    Fact("BANKNIFTY", EPOCH, 1200, _FRZ_2022 + "; UNVERIFIED before 2022-08-02"),
    Fact("BANKNIFTY", date(2023, 4, 3), 900, _FRZ_2023),
    Fact("BANKNIFTY", date(2025, 7, 1), 600, "NSE circular of 2025-06-30 (effective 2025-07-01)"),
    Fact("BANKNIFTY", date(2025, 9, 1), 900, "NSE circular of 2025-08-29 'Quantity freeze limits for indices'"),
    Fact("BANKNIFTY", date(2025, 11, 3), 600, "NSE circular of 2025-10-31 'Quantity freeze limits for indices'; "
         "600 again in the circular of 2026-01-30 (effective 2026-02-01)"),
    Fact("SENSEX", EPOCH, 1000, "BSE SENSEX freeze quantity 1000 units (ICICI Direct F&O FAQ, 2026); UNVERIFIED "
         "for earlier dates"),
)

_MON, _TUE, _WED, _THU, _FRI = range(5)
_NSE_SEP25 = ("NSE circular (2025) under SEBI's circular of 2025-05-26 (expiries only on Tuesday or Thursday): NSE "
              "index derivatives expire on (last) Tuesdays from 2025-09-01; last Thursday monthly 2025-08-28")
_BSE_SEP25 = "BSE notice under SEBI's 2025-05-26 circular: SENSEX expiries on Thursdays from 2025-09-01"
_BSE_JAN25 = ("BSE circular of 2024-11-28: SENSEX weekly and monthly expiries on (last) Tuesday from 2025-01-01 "
              "(the 2025-01-03 weekly kept its Friday)")
#: Weekly-expiry weekday (0 = Monday) by date; None from the date weeklies were discontinued.
WEEKLY_EXPIRY: tuple[Fact[int | None], ...] = (
    Fact("NIFTY", EPOCH, _THU, "NSE: NIFTY weekly options expire on Thursday"),
    Fact("NIFTY", date(2025, 9, 1), _TUE, _NSE_SEP25),
    Fact("BANKNIFTY", EPOCH, _THU, "NSE: BANKNIFTY weekly options expire on Thursday"),
    Fact("BANKNIFTY", date(2023, 9, 4), _WED, "NSE circular (2023) moving BANKNIFTY weeklies to Wednesday from "
         "2023-09-04 (first Wednesday expiry 2023-09-06)"),
    Fact("BANKNIFTY", date(2024, 11, 14), None, "SEBI circular SEBI/HO/MRD/TPD-1/P/CIR/2024/132 (one weekly index "
         "per exchange from 2024-11-20): NSE's last BANKNIFTY weekly expired 2024-11-13"),
    Fact("SENSEX", EPOCH, _THU, "BSE: SENSEX weekly options expired on Thursday before 2023-05-15 (UNVERIFIED "
         "before 2023)"),
    Fact("SENSEX", date(2023, 5, 15), _FRI, "BSE notice of 2023-03-28: SENSEX expiries move to Friday from "
         "2023-05-15"),
    Fact("SENSEX", date(2025, 1, 4), _TUE, _BSE_JAN25),
    Fact("SENSEX", date(2025, 9, 1), _THU, _BSE_SEP25),
)

#: Monthly-expiry weekday (the last such weekday of the month; 0 = Monday) by date.
MONTHLY_EXPIRY: tuple[Fact[int | None], ...] = (
    Fact("NIFTY", EPOCH, _THU, "NSE: NIFTY monthly contracts expire on the last Thursday"),
    Fact("NIFTY", date(2025, 9, 1), _TUE, _NSE_SEP25),
    Fact("BANKNIFTY", EPOCH, _THU, "NSE: BANKNIFTY monthly contracts expire on the last Thursday"),
    Fact("BANKNIFTY", date(2024, 3, 1), _WED, "NSE circular moving BANKNIFTY monthly/quarterly expiry to the last "
         "Wednesday from the March 2024 series (UNVERIFIED start date; confirmed in force by NSE's circular of "
         "2024-11-29)"),
    Fact("BANKNIFTY", date(2025, 1, 1), _THU, "NSE circular of 2024-11-29: BANKNIFTY monthly and quarterly expire "
         "on the last Thursday from 2025-01-01"),
    Fact("BANKNIFTY", date(2025, 9, 1), _TUE, _NSE_SEP25),
    Fact("SENSEX", EPOCH, _THU, "BSE: SENSEX monthly contracts expired on the last Thursday before 2023-05-15"),
    Fact("SENSEX", date(2023, 5, 15), _FRI, "BSE notice of 2023-03-28 (last Friday from 2023-05-15)"),
    Fact("SENSEX", date(2025, 1, 1), _TUE, _BSE_JAN25),
    Fact("SENSEX", date(2025, 9, 1), _THU, _BSE_SEP25),
)

# ------------------------------------------------------------------------------------------ charges (percent)
_ZERODHA = "Zerodha charges page (zerodha.com/charges, F&O - Options)"
#: STT on the sale of an option, % of premium (Finance (No. 2) Act 2004 s.98 as amended).
STT_OPTION_SELL_PCT: tuple[Fact[float], ...] = (
    Fact("*", EPOCH, 0.05, "Finance Act 2016: 0.05 % of premium from 2016-06-01 (UNVERIFIED before 2016)"),
    Fact("*", date(2023, 4, 1), 0.0625, "Finance Act 2023: 0.0625 % from 2023-04-01"),
    Fact("*", date(2024, 10, 1), 0.1, "Finance (No. 2) Act 2024: 0.1 % from 2024-10-01"),
    Fact("*", date(2026, 4, 1), 0.15, "Finance Act 2026 (Finance Bill 2026 clause 143 amending s.98): 0.15 % "
         "from 2026-04-01"),
)
#: Exchange transaction charge on option premium, % (keys "NSE" and "BSE"; both sides of a trade).
EXCHANGE_TXN_PCT: tuple[Fact[float], ...] = (
    Fact("NSE", EPOCH, 0.053, _ZERODHA + " before 2023 (0.053 %); UNVERIFIED start and end dates"),
    Fact("NSE", date(2023, 4, 1), 0.0495, "0.0495 % as quoted by Zerodha for Sep 2024 (N. Kamath, 2024-09-30); "
         "UNVERIFIED start date"),
    Fact("NSE", date(2024, 10, 1), 0.03503, "NSE circular of 2024-09-27 (uniform 'true to label' charges under "
         "SEBI circular of 2024-07-01): Rs 35.03 per lakh of premium. NSE's IPFT levy (0.0005 %) is not included"),
    Fact("BSE", EPOCH, 0.0325, "UNVERIFIED: before 2024-10-01 BSE charged SENSEX options by monthly turnover slab "
         "(BSE notice 20231020-46: Rs 500/crore up to Rs 3 crore, Rs 3,750 above); the later flat rate is used"),
    Fact("BSE", date(2024, 10, 1), 0.0325, "BSE notice of 2024-09-27: Rs 3,250 per crore of premium (SENSEX, "
         "BANKEX options)"),
)
#: Stamp duty on the buy side, % of premium (Indian Stamp Act 1899 as amended by the Finance Act 2019).
STAMP_BUY_PCT: tuple[Fact[float], ...] = (
    Fact("*", EPOCH, 0.003, "Indian Stamp Act, uniform rate from 2020-07-01 (0.003 % for options); UNVERIFIED "
         "before 2020-07-01 (state-wise rates)"),
)
#: SEBI turnover fee, rupees per crore of premium.
SEBI_FEE_PER_CRORE: tuple[Fact[float], ...] = (
    Fact("*", EPOCH, 10.0, _ZERODHA + ": Rs 10 / crore; UNVERIFIED before 2020"),
)
#: GST on brokerage + exchange transaction charge + SEBI fee, % (CGST Act 2017, from 2017-07-01).
GST_PCT: tuple[Fact[float], ...] = (
    Fact("*", EPOCH, 18.0, "CGST/IGST Acts 2017: 18 % on financial services from 2017-07-01"),
)
#: Brokerage per executed order, rupees (Zerodha's flat F&O fee).
BROKERAGE_PER_ORDER: tuple[Fact[float], ...] = (
    Fact("*", EPOCH, 20.0, _ZERODHA + ": flat Rs 20 per executed order"),
)


# ------------------------------------------------------------------------------------------------- lookups


@functools.lru_cache(maxsize=256)  # spellings seen: the engine asks per order and per expiry look-up
def canonical_symbol(name: str) -> str:
    """Map any common spelling (``"NIFTY 50"``, ``"nifty"``, ``"NIFTY BANK"``, ``"BSE SENSEX"``) to tradesig's key.

    Raises ``KeyError`` with the list of known symbols when the name is not one of the indices.
    """
    wanted = " ".join(name.strip().upper().split())
    for spec in INDICES.values():
        if wanted == spec.symbol or wanted in spec.aliases:
            return spec.symbol
    raise KeyError(f"unknown index {name!r}; known: {', '.join(INDICES)}")



def index_spec(name: str) -> IndexSpec:
    """The :class:`IndexSpec` for any spelling of an index name (``KeyError`` if unknown)."""
    return INDICES[canonical_symbol(name)]


def fact_on(table: tuple[Fact[T], ...], key: str, on: date) -> T:
    """The value of the latest row of ``table`` for ``key`` (an index symbol, "NSE"/"BSE", or "*") dated on or
    before IST date ``on``; the oldest row for a date before every row. Raises ``KeyError`` when ``table`` has
    no row for ``key``."""
    rows = [r for r in table if r.symbol == key]
    if not rows:
        raise KeyError(f"no {key} row in the table")
    chosen = rows[0]
    for row in rows:
        if row.effective <= on and row.effective >= chosen.effective:
            chosen = row
    return chosen.value


def weekly_expiry_weekday(symbol: str, on: date) -> int | None:
    """Weekday (0 = Monday) of the index's weekly options under the schedule in force on ``on``, or None when
    it has no weeklies then (BANKNIFTY after 2024-11-13). Raises ``KeyError`` for an unknown index."""
    return fact_on(WEEKLY_EXPIRY, canonical_symbol(symbol), on)


def monthly_expiry_weekday(symbol: str, on: date) -> int:
    """Weekday (0 = Monday) whose last occurrence in a month is the monthly expiry in force on ``on``."""
    value = fact_on(MONTHLY_EXPIRY, canonical_symbol(symbol), on)
    assert value is not None
    return value


def expiry_weekday(symbol: str, on: date) -> int:
    """The weekday (0 = Monday) of the nearest expiries in force on ``on``: the weekly weekday where weeklies
    are listed, else the monthly one. Raises ``KeyError`` for an unknown index."""
    weekly = weekly_expiry_weekday(symbol, on)
    return monthly_expiry_weekday(symbol, on) if weekly is None else weekly


def monthly_expiry_nominal(symbol: str, year: int, month: int) -> date:
    """The last monthly-expiry weekday of ``year``-``month`` before any holiday move (the calendar moves a
    holiday to the previous trading day)."""
    last = date(year, month, _stdcal.monthrange(year, month)[1])
    weekday = monthly_expiry_weekday(symbol, last)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def is_monthly_expiry(symbol: str, expiry: date) -> bool:
    """True when ``expiry`` (an actual, possibly holiday-moved expiry date) is its month's monthly expiry: the
    nominal monthly day of the month falls within the week starting at ``expiry`` (a holiday moves an expiry
    back by at most a few days). Every expiry of an index without weeklies is monthly."""
    if weekly_expiry_weekday(symbol, expiry) is None:
        return True
    nominal = monthly_expiry_nominal(symbol, expiry.year, expiry.month)
    return 0 <= (nominal - expiry).days < 7


def lot_size(symbol: str, expiry: date) -> int:
    """Lot size (units) of the index option contract expiring on IST date ``expiry``: the lot it was listed
    with (:data:`LOT_REVISIONS`; a revision applies to contracts listed after it, identified by the first weekly
    and first monthly expiry carrying it). Raises ``KeyError`` for an unknown index."""
    key = canonical_symbol(symbol)
    monthly = is_monthly_expiry(key, expiry)
    lot = 0
    for rev in LOT_REVISIONS:
        if rev.symbol == key and (rev.first_monthly if monthly else rev.first_weekly) <= expiry:
            lot = rev.lot
    return lot


def lot_size_on(symbol: str, on: date) -> int:
    """Lot size (units) that contracts newly listed on IST date ``on`` get (:data:`LOT_REVISIONS`). For the lot
    of a given contract use :func:`lot_size` (symbol, expiry). Raises ``KeyError`` for an unknown index."""
    key = canonical_symbol(symbol)
    lot = 0
    for rev in LOT_REVISIONS:
        if rev.symbol == key and rev.listed_from <= on:
            lot = rev.lot
    return lot


def freeze_quantity(symbol: str, on: date) -> int:
    """Freeze quantity (units, not lots) of an index's options in force on IST date ``on``
    (:data:`FREEZE_QUANTITIES`): an order at or above it is rejected by the exchange and must be sliced.
    Raises ``KeyError`` for an unknown index."""
    return fact_on(FREEZE_QUANTITIES, canonical_symbol(symbol), on)

"""Market facts about the three traded indices, in one place.

Sources:
- Kite instrument tokens of the indices (segment INDICES): NIFTY 50 256265, NIFTY BANK 260105, SENSEX 265
  (Kite Connect instruments dump, exchange NSE/BSE).
- Strike steps: NSE F&O contract specifications (NIFTY 50 points, BANKNIFTY 100) and BSE's for SENSEX (100).
- Freeze quantities: NSE circular NSE/FAOP/2024/xx (revised by circular; configurable, defaults from DESIGN.md:
  NIFTY 1800, BANKNIFTY 600, SENSEX 1000).
- Weekly expiry weekdays change by circular: :data:`EXPIRY_WEEKDAYS` is the dated schedule (today NSE Tuesday,
  BSE SENSEX Thursday); a holiday moves expiry to the previous trading day (tradesig.calendar applies that).
Lot sizes change by circular: the instruments dump is authoritative; :data:`LOT_SIZES` is the dated fallback
for periods no dump covers (backtests of past years).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class IndexSpec:
    """One tradable index.

    ``symbol`` is tradesig's key (also the Kite ``name`` of its derivatives); ``tradingsymbol`` is Kite's
    tradingsymbol of the index itself; ``token`` its Kite instrument token; ``strike_step`` in index points;
    ``freeze_quantity`` in units (not lots). Expiry weekdays: :func:`expiry_weekday` (they change by date).
    """

    symbol: str
    tradingsymbol: str
    exchange: str
    derivatives_exchange: str
    token: int
    strike_step: int
    freeze_quantity: int
    aliases: tuple[str, ...]


INDICES: dict[str, IndexSpec] = {
    "NIFTY": IndexSpec("NIFTY", "NIFTY 50", "NSE", "NFO", 256265, 50, 1800, ("NIFTY 50", "NIFTY50", "NIFTY")),
    "BANKNIFTY": IndexSpec(
        "BANKNIFTY", "NIFTY BANK", "NSE", "NFO", 260105, 100, 600, ("NIFTY BANK", "BANKNIFTY", "BNF", "NIFTYBANK")
    ),
    "SENSEX": IndexSpec("SENSEX", "SENSEX", "BSE", "BFO", 265, 100, 1000, ("SENSEX", "BSE SENSEX")),
}

#: Weekly-expiry weekday by date (0 = Monday): (symbol, effective from, weekday). Sources: NSE circulars moving
#: BANKNIFTY weekly expiry to Wednesday (from 2023-09-04) and NIFTY/BANKNIFTY to Tuesday (from 2025-09-01); BSE
#: SENSEX Friday (from 2023-05-15), Tuesday (from 2025-01-01), Thursday (from 2025-09-01). BANKNIFTY weeklies were
#: discontinued after 2024-11-13 (SEBI Oct 2024 circular); modelled backtests keep a weekly schedule there anyway.
EXPIRY_WEEKDAYS: tuple[tuple[str, date, int], ...] = (
    ("NIFTY", date(2000, 1, 1), 3),
    ("NIFTY", date(2025, 9, 1), 1),
    ("BANKNIFTY", date(2000, 1, 1), 3),
    ("BANKNIFTY", date(2023, 9, 4), 2),
    ("BANKNIFTY", date(2025, 9, 1), 1),
    ("SENSEX", date(2000, 1, 1), 4),
    ("SENSEX", date(2025, 1, 1), 1),
    ("SENSEX", date(2025, 9, 1), 3),
)


#: Lot sizes by date for periods without an instruments dump: (symbol, effective from, lot size in units).
#: Sources: NSE F&O circulars on the periodic lot-size revision (NIFTY 50 → 25 from the late-April 2024 series;
#: SEBI's Oct 2024 circular raising the minimum contract value: NIFTY 25 → 75 and BANKNIFTY 15 → 30 from
#: 2024-11-20; NIFTY 75 → 65 from the Dec 2025 revision, as the Aug 2026 dump shows 65 and 30); SENSEX from BSE
#: notices. Dates are the first series affected. Kept deliberately short: a backtest can override it.
LOT_SIZES: tuple[tuple[str, date, int], ...] = (
    ("NIFTY", date(2000, 1, 1), 50),
    ("NIFTY", date(2024, 4, 26), 25),
    ("NIFTY", date(2024, 11, 20), 75),
    ("NIFTY", date(2025, 12, 30), 65),
    ("BANKNIFTY", date(2000, 1, 1), 15),
    ("BANKNIFTY", date(2024, 11, 20), 30),
    ("SENSEX", date(2000, 1, 1), 10),
    ("SENSEX", date(2024, 11, 20), 20),
)


def _in_force(table: tuple[tuple[str, date, int], ...], symbol: str, on: date) -> int:
    """The value of the row of ``table`` (symbol, effective from, value) in force for ``symbol`` on ``on``."""
    key = canonical_symbol(symbol)
    rows = [r for r in table if r[0] == key and r[1] <= on]
    if not rows:
        raise KeyError(f"no {key} row in force on {on}")
    return max(rows, key=lambda r: r[1])[2]


def expiry_weekday(symbol: str, on: date) -> int:
    """The weekly-expiry weekday (0 = Monday) of an index under the schedule in force on ``on``
    (:data:`EXPIRY_WEEKDAYS`). Raises ``KeyError`` for an unknown index."""
    return _in_force(EXPIRY_WEEKDAYS, symbol, on)


def lot_size_on(symbol: str, on: date) -> int:
    """Lot size (units) of an index's options in force on ``on`` (:data:`LOT_SIZES`), for periods no instruments
    dump covers; a dump's ``lot_size`` is authoritative where there is one. Raises ``KeyError`` for an unknown
    index."""
    return _in_force(LOT_SIZES, symbol, on)

def lot_size(symbol: str, expiry: date) -> int:
    """Lot size (units) of the index option contract expiring on ``expiry``. A contract keeps the lot it was listed
    with (NSE/BSE revise lot sizes for contracts listed after the revision). Raises ``KeyError`` for an unknown
    index."""
    return lot_size_on(symbol, expiry)


def freeze_quantity(symbol: str, on: date) -> int:
    """Freeze quantity (units, not lots) of an index's options in force on ``on``: an order at or above it is
    rejected by the exchange and must be sliced. Raises ``KeyError`` for an unknown index."""
    return index_spec(symbol).freeze_quantity


TOKEN_TO_SYMBOL: dict[int, str] = {spec.token: spec.symbol for spec in INDICES.values()}

#: Price tick of index options and futures, in rupees (NSE/BSE contract specifications).
TICK_SIZE = 0.05


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

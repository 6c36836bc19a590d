"""Market facts about the three traded indices, in one place.

Sources:
- Kite instrument tokens of the indices (segment INDICES): NIFTY 50 256265, NIFTY BANK 260105, SENSEX 265
  (Kite Connect instruments dump, exchange NSE/BSE).
- Strike steps: NSE F&O contract specifications (NIFTY 50 points, BANKNIFTY 100) and BSE's for SENSEX (100).
- Freeze quantities: NSE circular NSE/FAOP/2024/xx (revised by circular; configurable, defaults from DESIGN.md:
  NIFTY 1800, BANKNIFTY 600, SENSEX 1000).
- Weekly expiry: NSE Tuesday (NSE circular FAOP/2025, effective Sep 2025), BSE SENSEX Thursday; a holiday moves
  expiry to the previous trading day.
Lot sizes are *not* here: they change by circular and are read from the instruments dump.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexSpec:
    """One tradable index.

    ``symbol`` is tradesig's key (also the Kite ``name`` of its derivatives); ``tradingsymbol`` is Kite's
    tradingsymbol of the index itself; ``token`` its Kite instrument token; ``strike_step`` in index points;
    ``freeze_quantity`` in units (not lots); ``expiry_weekday`` 0=Monday … 6=Sunday.
    """

    symbol: str
    tradingsymbol: str
    exchange: str
    derivatives_exchange: str
    token: int
    strike_step: int
    freeze_quantity: int
    expiry_weekday: int
    aliases: tuple[str, ...]


INDICES: dict[str, IndexSpec] = {
    "NIFTY": IndexSpec("NIFTY", "NIFTY 50", "NSE", "NFO", 256265, 50, 1800, 1, ("NIFTY 50", "NIFTY50", "NIFTY")),
    "BANKNIFTY": IndexSpec(
        "BANKNIFTY", "NIFTY BANK", "NSE", "NFO", 260105, 100, 600, 1, ("NIFTY BANK", "BANKNIFTY", "BNF", "NIFTYBANK")
    ),
    "SENSEX": IndexSpec("SENSEX", "SENSEX", "BSE", "BFO", 265, 100, 1000, 3, ("SENSEX", "BSE SENSEX")),
}

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

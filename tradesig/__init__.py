"""tradesig: intraday trading toolkit for India's index markets (NIFTY 50, NIFTY BANK, SENSEX)."""

__version__ = "0.1.0"

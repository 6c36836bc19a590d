"""Breeze's stream and security-master formats, sans I/O: what the sim sends and what ``breeze_connect`` parses.

Checked against breeze-connect 1.0.69 (``BreezeConnect.parse_data``, ``parse_ohlc_data``, ``get_stock_script_list``,
``get_stock_token_value``; no other source is vouched for):

* A subscription token is ``"<exchange>.<kind>!<ICICI token>"``: exchange ``4`` NSE/NFO, ``1`` BSE, ``8`` BFO
  (the live stream's code for BFO; ``2`` on the OHLC stream), kind ``1`` exchange quotes, ``2`` market depth.
  The client sends them in a socket.io ``join`` event (a string or a list) and receives ``stock`` events.
* A quote tick (``stock`` event) is a list. Index/equity (21 items): symbol, open, last, high, low, change,
  bPrice, bQty, sPrice, sQty, ltq, avgPrice, ttq, totalBuyQt, totalSellQ, ttv, trend, lowerCktLm, upperCktLm,
  ltt (epoch seconds), close. F&O (23 items): the same with OI and CHNGOI after avgPrice.
* The one-minute OHLC stream (socket.io path ``ohlcvstream``, event ``1MIN``) sends a CSV string; cash:
  ``exchange,stock_code,low,high,open,close,volume,datetime,1MIN``; F&O: ``exchange,stock_code,expiry,strike,
  right,low,high,open,close,volume,oi,datetime,1MIN``.
* The security master is a zip of ``NSEScripMaster.txt``/``BSEScripMaster.txt`` (token, short name, series,
  company name, …) and ``FONSEScripMaster.txt``/``FOBSEScripMaster.txt`` (token, instrument, underlying, series
  FUTIDX/OPTIDX, expiry ``DD-Mon-YYYY``, strike, CE/PE/XX, …; the client reads column 29 as the name). The
  client's ``convert_to_formatted_rupees`` leaves a text strike as it is, so the strike is written in rupees as
  users pass it to ``subscribe_feeds`` (``"22000"``).

What the sim cannot know from recorded index bars is sent as the data says: no bid/ask, quantities, volume,
value or circuit limits for an index (``None`` → JSON null, which the tick mapping keeps null).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradesig.clock import IST

#: tradesig key → (exchange code, ICICI stock code, ICICI token of the index in the sim's security master).
#: Stock codes are breeze_connect's ``config.AGGRESSIVE_LIMIT_INDICES``; the index tokens are the sim's
#: (modelled: ICICI's own token values for indices are not recorded here).
INDEX_CODES: dict[str, tuple[str, str, str]] = {"NIFTY": ("NSE", "NIFTY", "NIFTY 50"),
                                                "BANKNIFTY": ("NSE", "CNXBAN", "NIFTY BANK"),
                                                "SENSEX": ("BSE", "BSESEN", "SENSEX")}
#: Stream exchange prefix by exchange code (breeze_connect ``get_stock_token_value``, live stream).
STREAM_PREFIX = {"NSE": "4", "BSE": "1", "NFO": "4", "BFO": "8"}
OHLC_PREFIX = {"NSE": "4", "BSE": "1", "NFO": "4", "BFO": "2"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def breeze_date(d: Any) -> str:
    """``DD-Mon-YYYY`` (ICICI's expiry format, e.g. ``06-Jun-2024``)."""
    return f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year}"


def strike_text(strike: float) -> str:
    """A strike as ``subscribe_feeds`` takes it: ``22000.0`` → ``"22000"``, ``22012.5`` → ``"22012.5"``."""
    return format(float(strike), "f").rstrip("0").rstrip(".")


def stream_token(exchange: str, icici_token: str, *, ohlc: bool = False) -> str:
    """The quote subscription token, e.g. ``stream_token("NSE", "NIFTY 50")`` → ``"4.1!NIFTY 50"``."""
    return f"{(OHLC_PREFIX if ohlc else STREAM_PREFIX)[exchange]}.1!{icici_token}"


def join_tokens(data: Any) -> list[str]:
    """The tokens of a ``join``/``leave`` event payload (a string or a list of strings); others are ignored."""
    items = data if isinstance(data, list) else [data]
    return [t for t in items if isinstance(t, str) and "!" in t]


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def quote_tick(symbol: str, tick: dict[str, Any], *, fno: bool = False) -> list[Any]:
    """The ``stock`` event list for one tick of the sim's market (a Kite-shaped full tick dict: ``last_price``,
    ``ohlc``, ``exchange_timestamp`` or ``last_trade_time``, optional ``oi``/``volume_traded``; rupees).

    ``symbol`` is the subscription token.
    ``change`` is the percent change against the previous close (as Kite's ``change``; ICICI's documented sample
    tick reads as a percent, its unit is not stated: modelled). Fields the sim has no data for are None. Index
    ticks have 21 items, F&O ticks (``fno``) 23.
    """
    ohlc = tick.get("ohlc") or {}
    last = _r(tick["last_price"])
    close = _r(ohlc.get("close")) or None
    change = round((last - close) * 100 / close, 2) if (last is not None and close) else None
    ts = tick.get("exchange_timestamp") or tick.get("last_trade_time")
    ltt = int(ts.timestamp()) if isinstance(ts, datetime) else None
    tradable = bool(tick.get("tradable"))
    qty = (lambda k: tick.get(k)) if tradable else (lambda k: None)
    head = [symbol, _r(ohlc.get("open")), last, _r(ohlc.get("high")), _r(ohlc.get("low")), change,
            None, None, None, None, qty("last_traded_quantity"), _r(qty("average_traded_price"))]
    oi = [tick.get("oi"), None] if fno else []
    tail = [qty("volume_traded"), qty("total_buy_quantity"), qty("total_sell_quantity"), None, None, None, None,
            ltt, close]
    return head + oi + tail


def ohlc_csv(exchange: str, stock_code: str, bar: tuple[int, float, float, float, float],
             contract: tuple[str, str, str] | None = None, oi: int | None = None) -> str:
    """The ``1MIN`` OHLC stream message of one finished minute: ``bar`` = (start epoch s, open, high, low, close)
    rupees; ``contract`` (expiry ``DD-Mon-YYYY``, strike, right) for F&O. Volume is empty for an index (none
    exists), as is OI where unknown. The datetime is the minute's start, IST ``YYYY-MM-DD HH:MM:SS``."""
    start, o, h, lo, c = bar
    stamp = datetime.fromtimestamp(start, IST).strftime("%Y-%m-%d %H:%M:%S")
    prices = [f"{lo:.2f}", f"{h:.2f}", f"{o:.2f}", f"{c:.2f}"]
    if contract is None:
        return ",".join([exchange, stock_code, *prices, "", stamp, "1MIN"])
    return ",".join([exchange, stock_code, *contract, *prices, "", "" if oi is None else str(oi), stamp, "1MIN"])


@dataclass
class MinuteBars:
    """One-minute OHLC per key from a stream of (key, epoch second, price): :meth:`add` returns the bar that the
    tick closed (a tick of a later minute), :meth:`flush` the bars still open (end of the session)."""

    open_bars: dict[str, list[float]] = field(default_factory=dict)  # key -> [start, o, h, l, c]

    def add(self, key: str, ts: int, price: float) -> tuple[int, float, float, float, float] | None:
        minute = ts - ts % 60
        bar = self.open_bars.get(key)
        if bar is not None and bar[0] == minute:
            bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
            return None
        self.open_bars[key] = [minute, price, price, price, price]
        return None if bar is None else (int(bar[0]), bar[1], bar[2], bar[3], bar[4])

    def flush(self) -> dict[str, tuple[int, float, float, float, float]]:
        out = {k: (int(b[0]), b[1], b[2], b[3], b[4]) for k, b in self.open_bars.items()}
        self.open_bars.clear()
        return out


@dataclass(frozen=True)
class MasterRow:
    """One security-master row: ``exchange`` NSE/BSE/NFO/BFO, ICICI ``token``, ``stock_code`` (short name /
    underlying), ``name``; F&O: ``series`` FUTIDX/OPTIDX, ``expiry`` DD-Mon-YYYY, ``strike`` rupees, ``right``
    CE/PE/XX."""

    exchange: str
    token: str
    stock_code: str
    name: str
    series: str = "EQ"
    expiry: str = ""
    strike: float = 0.0
    right: str = "XX"


MASTER_FILES = {"NSE": "NSEScripMaster.txt", "BSE": "BSEScripMaster.txt", "NFO": "FONSEScripMaster.txt",
                "BFO": "FOBSEScripMaster.txt"}


def security_master_zip(rows: list[MasterRow]) -> bytes:
    """The SecurityMaster.zip breeze_connect downloads: one file per exchange, a header row then the rows."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for exchange, name in MASTER_FILES.items():
            out = io.StringIO()
            w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            if exchange in ("NSE", "BSE"):
                w.writerow(["Token", "ShortName", "Series", "CompanyName", "ticksize", "Lotsize"])
            else:
                w.writerow(["Token", "InstrumentName", "ShortName", "Series", "ExpiryDate", "StrikePrice",
                            "OptionType", *[f"Col{i}" for i in range(7, 29)], "CompanyName"])
            for r in rows:
                if r.exchange != exchange:
                    continue
                if exchange in ("NSE", "BSE"):
                    w.writerow([r.token, r.stock_code, r.series, r.name, "5", "1"])
                else:
                    w.writerow([r.token, r.series, r.stock_code, r.series, r.expiry, strike_text(r.strike),
                                r.right, *[""] * 22, r.name])
            zf.writestr(name, out.getvalue())
    return buf.getvalue()


__all__ = ["INDEX_CODES", "MASTER_FILES", "MasterRow", "MinuteBars", "breeze_date", "join_tokens", "ohlc_csv",
           "quote_tick", "security_master_zip", "stream_token", "strike_text"]

"""The sim's ICICI Breeze REST answers (``customerdetails``, ``historicalcharts`` v1 and v2, ``quotes``,
``optionchain``), computed from the exchange's market state at sim time. No I/O: :mod:`.server` routes to these.

Envelope (ICICI's docs and breeze_connect): ``{"Success": ..., "Status": 200, "Error": null}``; an error is
``{"Success": null, "Status": <code>, "Error": "<text>"}``. Request shapes are breeze_connect 1.0.69's: v1 calls are
GETs with a JSON body and signed headers; v2 ``historicalcharts`` is a GET with query parameters (``exch_code``),
``X-SessionToken`` and ``apikey`` headers. Field-by-field fidelity: docs/sim.md, "ICICI Breeze".
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from tradesig.clock import IST
from tradesig.market import INDICES
from tradesig.sim.breeze.auth import USER_ID
from tradesig.sim.breeze.wire import INDEX_CODES, breeze_date

if TYPE_CHECKING:
    from tradesig.sim.exchange import SimExchange
    from tradesig.sim.instruments import Instrument

#: breeze interval → the sim's candle interval (v1 sends "minute"/"day" for 1minute/1day; v2 the names as given).
INTERVALS = {"1minute": "minute", "minute": "minute", "5minute": "5minute", "30minute": "30minute",
             "1day": "day", "day": "day"}
_CODE_TO_SYMBOL = {code: sym for sym, (_, code, _) in INDEX_CODES.items()}


class BreezeApiError(Exception):
    """An ICICI-style error answer: HTTP/body ``status`` and ``text``."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def success(data: Any) -> dict[str, Any]:
    return {"Success": data, "Status": 200, "Error": None}


def failure(status: int, text: str) -> dict[str, Any]:
    return {"Success": None, "Status": status, "Error": text}


def customer_details(user_name: str, session_key: str) -> dict[str, Any]:
    """``customerdetails`` for a good API session; ``session_token`` = base64(``user_id:session_key``)."""
    token = base64.b64encode(f"{USER_ID}:{session_key}".encode("ascii")).decode("ascii")
    return {"exg_trade_date": {}, "exg_status": {}, "segments_allowed": {"Trading": "Y", "Equity": "Y",
                                                                         "Derivatives": "Y"},
            "idirect_userid": USER_ID, "session_token": token, "idirect_user_name": user_name,
            "idirect_ORD_TYP": "", "idirect_lastlogin_time": "", "mf_holding_mode_popup_flg": "N",
            "commodity_exchange_status": "N", "commodity_trade_date": "", "commodity_allowed": "N"}


def _parse_when(text: str) -> datetime:
    """An ISO-8601 ``from_date``/``to_date`` (``2024-06-04T09:15:00.000Z``): with a zone as given, without as IST."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=IST)


def _parse_expiry(text: str) -> date:
    text = text.strip()
    try:
        return datetime.strptime(text, "%d-%b-%Y").date()
    except ValueError:
        return date.fromisoformat(text[:10])


def _field(params: dict[str, Any], name: str) -> str:
    return str(params.get(name) or "").strip()


def resolve(ex: SimExchange, params: dict[str, Any], exchange_key: str = "exchange_code") -> Instrument:
    """The catalog instrument a Breeze request names (index by stock code on NSE/BSE; future or option on
    NFO/BFO by underlying, expiry, strike and right). Raises :class:`BreezeApiError` (500) when unknown."""
    exchange = _field(params, exchange_key).upper()
    code = _field(params, "stock_code").upper()
    symbol = _CODE_TO_SYMBOL.get(code)
    if symbol is None:
        raise BreezeApiError(500, f"No data found for stock_code {code or '(empty)'}")
    if exchange in ("NSE", "BSE"):
        return ex.catalog.by_token[INDICES[symbol].token]
    if exchange not in ("NFO", "BFO"):
        raise BreezeApiError(500, f"exchange_code {exchange or '(empty)'} is not served by the sim")
    product = _field(params, "product_type").lower()
    try:
        expiry = _parse_expiry(_field(params, "expiry_date"))
    except ValueError:
        raise BreezeApiError(500, "expiry_date is not a date") from None
    kind = "FUT" if product == "futures" else {"call": "CE", "put": "PE"}.get(_field(params, "right").lower())
    strike = float(_field(params, "strike_price") or 0) if kind != "FUT" else 0.0
    for ins in ex.catalog.instruments:
        if (ins.underlying == symbol and ins.instrument_type == kind and ins.expiry == expiry
                and (kind == "FUT" or abs(ins.strike - strike) < 1e-6)):
            return ins
    raise BreezeApiError(500, "No data found for the contract")


def historical(ex: SimExchange, params: dict[str, Any], now: datetime, *, v2: bool) -> list[dict[str, Any]]:
    """Candles of [from_date, to_date] replayed by ``now`` (the forming minute included as replayed so far).

    Rows: ``datetime`` IST text, ``stock_code``, ``exchange_code``, ``open``..``close`` rupees, ``volume`` (null for
    an index: none exists), derivatives also ``open_interest`` (0: the data holds none). v1 sends the values as
    text (as ICICI's v1 does), v2 as numbers.
    """
    interval = INTERVALS.get(_field(params, "interval").lower())
    if interval is None:
        raise BreezeApiError(500, "Interval should be either '1minute', '5minute', '30minute', or '1day'")
    exchange_key = "exch_code" if v2 else "exchange_code"
    ins = resolve(ex, params, exchange_key)
    try:
        start, end = _parse_when(_field(params, "from_date")), _parse_when(_field(params, "to_date"))
    except ValueError:
        raise BreezeApiError(500, "from_date/to_date must be ISO-8601 date-times") from None
    rows = []
    code = _field(params, "stock_code").upper()
    exchange = _field(params, exchange_key).upper()
    for stamp, o, h, lo, c, _vol in ex.market.candles(ins, interval, start, end, now):
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
        row: dict[str, Any] = {"datetime": when, "stock_code": code, "exchange_code": exchange,
                               "open": o, "high": h, "low": lo, "close": c, "volume": None if ins.is_index else 0}
        if not ins.is_index:
            row.update({"product_type": "Futures" if ins.instrument_type == "FUT" else "Options",
                        "expiry_date": breeze_date(ins.expiry), "strike_price": ins.strike,
                        "right": {"CE": "Call", "PE": "Put"}.get(ins.instrument_type, "Others"), "open_interest": 0})
        if not v2:
            row = {k: (None if v is None else str(v)) for k, v in row.items()}
        rows.append(row)
    return rows


def quote_row(ex: SimExchange, ins: Instrument, now: datetime) -> dict[str, Any] | None:
    """One ``quotes``/``optionchain`` row at sim time ``now`` (rupees; ``ltt`` ``DD-Mon-YYYY HH:MM:SS`` IST)."""
    q = ex.market.quote(ins, now)
    if q is None:
        return None
    ohlc, exchange = q["ohlc"], ins.exchange if not ins.is_index else INDEX_CODES[ins.underlying][0]
    st = ex.market.index.get(INDICES[ins.underlying].token)
    ltt = datetime.fromtimestamp(st.ts if st is not None and st.ts else now.timestamp(), IST)
    prev = ohlc["close"]
    row: dict[str, Any] = {
        "exchange_code": exchange, "product_type": "" if ins.is_index else
        ("Futures" if ins.instrument_type == "FUT" else "Options"),
        "stock_code": INDEX_CODES[ins.underlying][1], "expiry_date": breeze_date(ins.expiry) if ins.expiry else None,
        "right": {"CE": "Call", "PE": "Put"}.get(ins.instrument_type, "Others" if ins.expiry else None),
        "strike_price": ins.strike, "ltp": q["last_price"], "ltt": f"{breeze_date(ltt)} {ltt:%H:%M:%S}",
        "best_bid_price": None if ins.is_index else q["depth"]["buy"][0]["price"],
        "best_bid_quantity": None if ins.is_index else q["depth"]["buy"][0]["quantity"],
        "best_offer_price": None if ins.is_index else q["depth"]["sell"][0]["price"],
        "best_offer_quantity": None if ins.is_index else q["depth"]["sell"][0]["quantity"],
        "open": ohlc["open"], "high": ohlc["high"], "low": ohlc["low"], "previous_close": prev,
        "ltp_percent_change": round((q["last_price"] - prev) * 100 / prev, 2) if prev else None,
        "upper_circuit": None if ins.is_index else q["upper_circuit_limit"],
        "lower_circuit": None if ins.is_index else q["lower_circuit_limit"],
        "total_quantity_traded": None if ins.is_index else q["volume"],
        "spot_price": ex.market.spot(ins.underlying),
    }
    if not ins.is_index:
        row.update({"open_interest": q["oi"], "chnge_oi": None})
    return row


def option_chain(ex: SimExchange, params: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """``optionchain``: every listed option of the underlying/expiry (and right, and strike when given)."""
    symbol = _CODE_TO_SYMBOL.get(_field(params, "stock_code").upper())
    if symbol is None:
        raise BreezeApiError(500, "No data found for stock_code")
    product = _field(params, "product_type").lower()
    try:
        expiry = _parse_expiry(_field(params, "expiry_date")) if _field(params, "expiry_date") else None
    except ValueError:
        raise BreezeApiError(500, "expiry_date is not a date") from None
    right = {"call": "CE", "put": "PE"}.get(_field(params, "right").lower())
    strike = _field(params, "strike_price")
    kinds = ("FUT",) if product == "futures" else ((right,) if right else ("CE", "PE"))
    rows = []
    for ins in ex.catalog.instruments:
        if ins.underlying != symbol or ins.instrument_type not in kinds:
            continue
        if expiry is not None and ins.expiry != expiry:
            continue
        if strike and abs(ins.strike - float(strike)) > 1e-6:
            continue
        row = quote_row(ex, ins, now)
        if row is not None:
            rows.append(row)
    return rows


__all__ = ["BreezeApiError", "INTERVALS", "customer_details", "failure", "historical",
           "option_chain", "quote_row", "resolve", "success"]

"""Option quotes from ICICI Breeze's ``quotes`` REST call, for the paper engine when the feed streams from Breeze
(issue 17: "quotes for paper fills and exits come from whichever source the feed uses"; orders still go to Kite).

The official ``breeze_connect`` client (loaded through :mod:`tradesig.broker.breeze`, its endpoints pointed at
``breeze.root`` — a ``tradesig sim``'s Breeze port, or ICICI's hosts when empty) asks one contract per call
(``get_quotes(stock_code, exchange_code, expiry_date, product_type="options", right, strike_price)``, ICICI Breeze
API docs, "Get Quotes"). ICICI allows 100 API calls a minute: calls beyond that budget in the last 60 monotonic
seconds are not made (the caller keeps its older quote) rather than waited for — a wait costs market time.

Answer rows (ICICI's fields): ``ltp`` rupees, ``best_bid_price`` / ``best_offer_price`` rupees (0 or null: no
depth), ``ltt`` ``DD-Mon-YYYY HH:MM:SS`` IST.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tradesig.clock import IST, Clock
from tradesig.config import LoadedConfig, resolve_secret
from tradesig.errors import BrokerError, TokenError
from tradesig.trade.broker import Quote
from tradesig.trade.instruments import OptionContract

__all__ = ["CALLS_PER_MINUTE", "BreezeQuotes", "open_breeze_quotes"]

#: ICICI Breeze's API limit: 100 calls a minute (ICICI Breeze API docs, "Rate limits").
CALLS_PER_MINUTE = 100


def _price(value: Any) -> float | None:
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if price > 0 else None


class BreezeQuotes:
    """``fetch(["NFO:TRADINGSYMBOL", …]) -> {key: Quote}`` over a session's ``BreezeConnect`` client, shaped as
    :class:`tradesig.trade.quotes.BrokerQuotes` expects. ``contract_of(tradingsymbol)`` resolves Kite's
    tradingsymbols (the instruments dump the orders use) to contracts; ``source`` labels the prices ("breeze",
    or a modelled label when the root is a sim). Raises :class:`TokenError` when ICICI refuses the session,
    :class:`BrokerError` for other failures; a contract Breeze does not know is left out."""

    def __init__(self, client: Any, contract_of: Callable[[str], OptionContract | None], clock: Clock, *,
                 source: str = "breeze", calls_per_minute: int = CALLS_PER_MINUTE) -> None:
        self.client = client
        self.contract_of = contract_of
        self.clock = clock
        self.source = source
        self.calls_per_minute = calls_per_minute
        self.calls = 0
        self._recent: deque[float] = deque()

    def _budget(self) -> bool:
        now = self.clock.monotonic()
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) >= self.calls_per_minute:
            return False
        self._recent.append(now)
        return True

    def __call__(self, keys: list[str]) -> dict[str, Quote]:
        from tradesig.feed.breeze_ws import BREEZE_CODES

        out: dict[str, Quote] = {}
        for key in keys:
            contract = self.contract_of(key.split(":", 1)[-1])
            if contract is None or contract.symbol not in BREEZE_CODES or not self._budget():
                continue
            strike = contract.strike
            answer = self._call(stock_code=BREEZE_CODES[contract.symbol][1], exchange_code=contract.exchange,
                                expiry_date=f"{contract.expiry:%Y-%m-%d}T06:00:00.000Z", product_type="options",
                                right="call" if contract.option_type == "CE" else "put",
                                strike_price=str(int(strike)) if strike == int(strike) else str(strike))
            quote = self._quote(answer)
            if quote is not None:
                out[key] = quote
        return out

    def _call(self, **params: Any) -> Any:
        self.calls += 1
        try:
            answer = self.client.get_quotes(**params)
        except Exception as exc:  # breeze_connect raises only bare Exception; classified as the login does it
            from tradesig.broker.breeze import _classify

            raise _classify(exc, ()) from None
        if not isinstance(answer, dict) or answer.get("Status") != 200:
            text = str(answer.get("Error") if isinstance(answer, dict) else answer)
            if "session" in text.lower():
                raise TokenError(f"Breeze quotes: {text}", "run 'tradesig login --broker breeze'")
            if "No data found" in text:
                return None
            raise BrokerError(f"Breeze quotes: {text}")
        return answer

    def _quote(self, answer: Any) -> Quote | None:
        rows = (answer or {}).get("Success") or []
        if not rows or _price(rows[0].get("ltp")) is None:
            return None
        row = rows[0]
        try:
            ts = datetime.strptime(str(row.get("ltt")), "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST)
        except ValueError:
            ts = self.clock.now()
        return Quote(ltp=float(row["ltp"]), ts=ts, bid=_price(row.get("best_bid_price")),
                     ask=_price(row.get("best_offer_price")), source=self.source)


def open_breeze_quotes(loaded: LoadedConfig, contract_of: Callable[[str], OptionContract | None], clock: Clock, *,
                       source: str = "breeze") -> BreezeQuotes:
    """A :class:`BreezeQuotes` on a new session from the stored Breeze token (``tradesig login --broker breeze``)
    at ``breeze.root``. Raises :class:`TokenError` (no/expired token, refused session), :class:`BrokerError`
    (unreachable)."""
    from tradesig.broker.breeze import _classify, import_breeze
    from tradesig.broker.login import SIM_API_KEY, SIM_API_SECRET
    from tradesig.broker.tokens import TokenStore
    from tradesig.feed.breeze_source import is_loopback

    settings = loaded.settings.breeze
    root = settings.root.rstrip("/") or None
    record = TokenStore(loaded.home, clock).load("breeze")
    # a session the sim issued to its own default key is signed with its documented default secret (as the feed)
    secret = SIM_API_SECRET if is_loopback(root) and record.api_key == SIM_API_KEY else \
        resolve_secret(loaded, settings.api_secret)
    client = import_breeze(loaded.home / "logs" / "breeze", root).BreezeConnect(api_key=record.api_key)
    try:
        client.generate_session(api_secret=secret, session_token=record.access_token)
    except Exception as exc:  # breeze_connect raises only bare Exception
        raise _classify(exc, (record.access_token, secret)) from None
    return BreezeQuotes(client, contract_of, clock, source=source)

"""The sim's Breeze formats against the official client's own parsers (breeze_connect imported through tradesig's
adapter, which makes the import touch no network), the adapter's endpoint constants, and session checks."""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import urllib.request
import zipfile
from datetime import UTC, datetime

import pytest

from tradesig.sim.breeze.auth import BAD_KEY, BAD_SESSION, EXPIRED, INVALID_CHECKSUM, BreezeAuth
from tradesig.sim.breeze.wire import (
    MasterRow,
    MinuteBars,
    join_tokens,
    ohlc_csv,
    quote_tick,
    security_master_zip,
    stream_token,
)


@pytest.fixture
def breeze(tmp_path, monkeypatch):
    """The real breeze_connect, imported through the adapter with every URL opened recorded; unloaded after."""
    opened: list[str] = []
    real = urllib.request.urlopen

    def recording(url, *a, **k):
        opened.append(url if isinstance(url, str) else url.full_url)
        return real(url, *a, **k)

    monkeypatch.setattr(urllib.request, "urlopen", recording)
    before = set(sys.modules)
    from tradesig.broker.breeze import import_breeze

    module = import_breeze(tmp_path / "logs", "http://127.0.0.1:9")
    yield module, opened
    for name in set(sys.modules) - before:
        if name.startswith("breeze_connect") or "breeze_connect" in str(getattr(sys.modules[name], "__file__", "")):
            del sys.modules[name]


def test_adapter_imports_without_network_and_points_every_endpoint_at_the_root(breeze):
    module, opened = breeze
    cfg = sys.modules["config"]
    assert all(u.startswith("data:") for u in opened)  # the import-time download read the empty in-memory zip
    assert cfg.API_URL == "http://127.0.0.1:9/breezeapi/api/v1/" and cfg.BREEZE_NEW_URL == "http://127.0.0.1:9/api/v2/"
    assert cfg.LIVE_STREAM_URL == cfg.LIVE_OHLC_STREAM_URL == cfg.LIVE_FEEDS_URL == "http://127.0.0.1:9"
    assert cfg.SECURITY_MASTER_URL == "http://127.0.0.1:9/MotherAppMaster/SecurityMaster.zip"
    assert sys.modules["breeze_connect.breeze_connect"].config is cfg  # the package reads the module we set
    from tradesig.broker.breeze import point_endpoints

    official = point_endpoints(None)  # back to ICICI's hosts
    assert official["API_URL"] == "https://api.icicidirect.com/breezeapi/api/v1/" and cfg.API_URL == official["API_URL"]


def test_ticks_and_bars_parse_with_breeze_connects_own_parsers(breeze):
    module, _ = breeze
    client = module.BreezeConnect(api_key="k")
    ts = datetime(2024, 6, 4, 3, 50, 5, tzinfo=UTC)  # 09:20:05 IST
    index = {"tradable": False, "instrument_token": 256265, "last_price": 22010.5, "exchange_timestamp": ts,
             "ohlc": {"open": 22000.0, "high": 22050.0, "low": 21990.0, "close": 22100.0}}
    parsed = client.parse_data(quote_tick(stream_token("NSE", "NIFTY 50"), index))
    assert parsed["symbol"] == "4.1!NIFTY 50" and parsed["exchange"] == "NSE Equity"
    assert (parsed["last"], parsed["open"], parsed["high"], parsed["low"], parsed["close"]) == \
        (22010.5, 22000.0, 22050.0, 21990.0, 22100.0)
    assert parsed["change"] == round((22010.5 - 22100) * 100 / 22100, 2)
    assert datetime.strptime(parsed["ltt"], "%c").astimezone(UTC) == ts
    assert parsed["ttq"] is None and parsed["bPrice"] is None  # an index has no volume and no book: null
    option = {**index, "tradable": True, "oi": 1200, "volume_traded": 50, "last_traded_quantity": 25,
              "average_traded_price": 101.5, "total_buy_quantity": 10, "total_sell_quantity": 20}
    fno = client.parse_data(quote_tick("4.1!12345", option, fno=True))
    assert fno["exchange"] == "NSE Futures & Options" and (fno["OI"], fno["ttq"], fno["ltq"]) == (1200, 50, 25)
    bar = client.parse_ohlc_data(ohlc_csv("NSE", "NIFTY", (int(ts.timestamp()) - 5, 1.0, 3.0, 0.5, 2.0)))
    assert bar == {"interval": "1minute", "exchange_code": "NSE", "stock_code": "NIFTY", "low": "0.50",
                   "high": "3.00", "open": "1.00", "close": "2.00", "volume": "", "datetime": "2024-06-04 09:20:00"}


def test_security_master_is_read_by_breeze_connect(breeze, monkeypatch):
    module, _ = breeze
    blob = security_master_zip([MasterRow("NSE", "NIFTY 50", "NIFTY", "NIFTY 50"),
                                MasterRow("NFO", "777", "NIFTY", "NIFTY2460622000CE", "OPTIDX", "06-Jun-2024",
                                          22000.0, "CE")])

    class Resp(io.BytesIO):
        def raise_for_status(self):
            return None

    monkeypatch.setattr(module.breeze_connect, "urlopen", lambda url: Resp(blob))
    monkeypatch.setattr(module.breeze_connect.requests, "get", lambda *a, **k: Resp(blob))
    client = module.BreezeConnect(api_key="k")
    client.get_stock_script_list()
    client.interval = ""
    assert client.stock_script_dict_list[1]["NIFTY"] == "NIFTY 50"
    assert client.get_stock_token_value(exchange_code="NFO", stock_code="NIFTY", product_type="options",
                                        expiry_date="06-Jun-2024", strike_price="22000", right="call",
                                        get_market_depth=False) == ("4.1!777", False)
    assert zipfile.ZipFile(io.BytesIO(blob)).namelist()[:2] == ["NSEScripMaster.txt", "BSEScripMaster.txt"]


def test_minute_bars_close_on_the_next_minute_and_flush():
    bars = MinuteBars()
    assert bars.add("NIFTY", 60, 10.0) is None and bars.add("NIFTY", 100, 12.0) is None
    assert bars.add("NIFTY", 110, 9.0) is None
    assert bars.add("NIFTY", 120, 11.0) == (60, 10.0, 12.0, 9.0, 9.0)
    assert bars.flush() == {"NIFTY": (120, 11.0, 11.0, 11.0, 11.0)} and bars.flush() == {}
    assert join_tokens(["4.1!NIFTY 50", 3, "junk"]) == ["4.1!NIFTY 50"] and join_tokens("1.1!SENSEX") == ["1.1!SENSEX"]


def test_sessions_signatures_and_expiry():
    auth = BreezeAuth("key", "secret", "http://127.0.0.1:5005/cb")
    api_session = auth.login_redirect().split("apisession=")[1]
    assert auth.customer("other", api_session) == (None, BAD_KEY)
    assert auth.customer("key", "99999999") == (None, BAD_SESSION)
    key, problem = auth.customer("key", api_session)
    assert problem is None and auth.customer("key", api_session) == (key, None)  # the same session key again
    token = base64.b64encode(f"SIM001:{key}".encode()).decode()
    body, stamp = '{"stock_code":"NIFTY"}', "2024-06-04T03:50:05.000Z"
    good = {"x-appkey": "key", "x-sessiontoken": token, "x-timestamp": stamp,
            "x-checksum": "token " + hashlib.sha256((stamp + body + "secret").encode()).hexdigest()}
    assert auth.signature_problem(good, body) is None
    assert auth.signature_problem(good, body + " ") == INVALID_CHECKSUM
    assert auth.signature_problem({**good, "x-sessiontoken": "!!"}, body) == BAD_SESSION
    assert auth.key_problem("SIM001", key) is None
    auth.expire_all()
    assert auth.customer("key", api_session) == (None, EXPIRED) and auth.key_problem("SIM001", key) == EXPIRED


def test_breeze_fields_map_into_the_tick_schema_and_unsent_ones_stay_null(breeze):
    from tradesig.feed.breeze_ws import breeze_ticks

    module, _ = breeze
    client = module.BreezeConnect(api_key="k")
    ts = datetime(2024, 6, 4, 3, 50, 5, tzinfo=UTC)
    tick = {"tradable": False, "instrument_token": 256265, "last_price": 22010.5, "exchange_timestamp": ts,
            "ohlc": {"open": 22000.0, "high": 22050.0, "low": 21990.0, "close": 22100.0}}
    parsed = client.parse_data(quote_tick(stream_token("NSE", "NIFTY 50"), tick))
    parsed.update({"stock_name": "NIFTY 50"})  # what breeze_connect adds from its security master
    row = breeze_ticks([parsed], ts).row(0, named=True)
    assert (row["instrument_token"], row["last_price"], row["close"], row["exchange_timestamp"]) == \
        (256265, 22010.5, 22100.0, ts)
    for col in ("volume_traded", "bid_price_1", "ask_qty_1", "oi", "last_traded_quantity", "bid_price_2"):
        assert row[col] is None, col  # an index quote sends none of them: nothing is filled in
    quoted = {**parsed, "bPrice": 22010.0, "bQty": 75, "sPrice": 22011.0, "sQty": 50}
    row = breeze_ticks([quoted], ts).row(0, named=True)
    assert (row["bid_price_1"], row["bid_qty_1"], row["ask_price_1"], row["ask_qty_1"]) == (22010.0, 75, 22011.0, 50)

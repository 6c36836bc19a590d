"""The ticker's control messages: one encoder (the client), one decoder (the sim), and the fault-split errors."""

from __future__ import annotations

import json

import pytest

from tradesig.errors import ProtocolError
from tradesig.feed import kite_protocol as kp


@pytest.mark.parametrize("msg, wire", [
    (kp.Subscribe((256265, 260105)), {"a": "subscribe", "v": [256265, 260105]}),
    (kp.Unsubscribe((256265,)), {"a": "unsubscribe", "v": [256265]}),
    (kp.SetMode("full", (256265, 10)), {"a": "mode", "v": ["full", [256265, 10]]}),
])
def test_encode_matches_kite_json_and_decodes_back(msg, wire):
    text = kp.encode_control(msg)
    assert json.loads(text) == wire
    assert kp.decode_control(text) == msg
    assert kp.decode_control(text.encode()) == msg


def test_official_client_messages_decode():
    """The exact texts pykiteconnect's KiteTicker sends (json.dumps of its dicts)."""
    from kiteconnect import KiteTicker

    sent: list[str] = []

    class FakeWs:
        def sendMessage(self, payload, isBinary=False):  # noqa: N802 - autobahn's name
            sent.append(payload.decode())

    ticker = KiteTicker("key", "token")
    ticker.ws = FakeWs()
    ticker.subscribe([256265, 738561])
    ticker.set_mode(ticker.MODE_LTP, [256265])
    ticker.unsubscribe([738561])
    assert [kp.decode_control(t) for t in sent] == [
        kp.Subscribe((256265, 738561)), kp.SetMode("ltp", (256265,)), kp.Unsubscribe((738561,))]


@pytest.mark.parametrize("text, reason", [
    ("not json", "expected"),
    ('{"a": "subscribe"}', "expected"),
    ("[1, 2]", "expected"),
    ('{"a": "subscribe", "v": 5}', "list of instrument tokens"),
    ('{"a": "mode", "v": ["turbo", [1]]}', "invalid mode 'turbo'"),
    ('{"a": "mode", "v": ["full"]}', "invalid mode message"),
    ('{"a": "mode", "v": "full"}', "invalid mode message"),
    ('{"a": "ping", "v": []}', "unknown action 'ping'"),
    ("[" * 100_000, "expected"),
])
def test_decode_never_raises_on_bad_peer_text(text, reason):
    msg = kp.decode_control(text)
    assert isinstance(msg, kp.InvalidControl)
    assert reason in msg.reason and msg.raw == text


def test_decode_ignores_non_integer_tokens():
    assert kp.decode_control('{"a": "subscribe", "v": [1, "x", 2.5, true, 3]}') == kp.Subscribe((1, 3))


def test_encode_refuses_our_misuse_as_local_error():
    with pytest.raises(kp.LocalProtocolError, match="unknown ticker mode"):
        kp.encode_control(kp.SetMode("turbo", (1,)))
    with pytest.raises(kp.LocalProtocolError):
        kp.encode_control("subscribe")  # type: ignore[arg-type]
    with pytest.raises(kp.LocalProtocolError):
        kp.encode_control(kp.Subscribe(("abc",)))  # type: ignore[arg-type]


def test_subscription_limit_is_kites_3000():
    assert kp.MAX_INSTRUMENTS == 3000
    assert kp.check_subscription_limit(range(2000), range(1000, 3000)) == 3000
    with pytest.raises(kp.LocalProtocolError, match="3001 instruments exceed"):
        kp.check_subscription_limit(range(3000), [99_999])


def test_error_classes_split_by_fault():
    local, remote = kp.LocalProtocolError("ours"), kp.RemoteProtocolError("theirs")
    assert isinstance(local, ProtocolError) and isinstance(remote, ProtocolError)
    assert getattr(local, "ours", False) is True
    assert getattr(remote, "ours", True) is False
    # every encoder misuse is ours
    with pytest.raises(kp.LocalProtocolError):
        kp.encode_ltp({"instrument_token": 1, "last_price": -5})
    with pytest.raises(kp.LocalProtocolError):
        kp.encode_packet({"instrument_token": 1, "mode": "turbo"})


def test_client_refuses_past_limit_before_sending():
    import asyncio

    from tradesig.feed.kite_ws import KiteTickerClient

    class Ws:
        def __init__(self):
            self.sent: list[str] = []

        async def send(self, text):
            self.sent.append(text)

    client = KiteTickerClient("ws://127.0.0.1:1", "k", "t")
    client.ws = Ws()
    asyncio.run(client.subscribe(range(2999), "quote"))
    assert [kp.decode_control(t) for t in client.ws.sent] == [kp.Subscribe(tuple(range(2999))),
                                                               kp.SetMode("quote", tuple(range(2999)))]
    with pytest.raises(kp.LocalProtocolError):
        asyncio.run(client.subscribe([5000, 5001], "full"))
    with pytest.raises(kp.LocalProtocolError):
        asyncio.run(client.subscribe([5000], "turbo"))
    assert len(client.ws.sent) == 2 and len(client.subscribed) == 2999

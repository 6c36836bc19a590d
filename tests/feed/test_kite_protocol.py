"""The Kite ticker codec against the official client's parser, on real frames and generated ones."""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime

import pytest
from conftest import shared_file

from tradesig.errors import ProtocolError
from tradesig.feed import kite_protocol as kp


@pytest.fixture(scope="module")
def official():
    """An official KiteTicker (dummy credentials; never connected) whose ``_parse_binary`` is the reference."""
    from kiteconnect import KiteTicker

    return KiteTicker("dummy_api_key", "dummy_access_token")


def normalise(ticks: list[dict]) -> list[dict]:
    """Official dicts carry naive local-time datetimes; ours aware UTC. Turn both into aware UTC for comparison."""

    def fix(value):
        if isinstance(value, datetime):
            return value.astimezone(UTC)  # naive = local time, as datetime.fromtimestamp gave it
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return [fix(t) for t in ticks]


def assert_same(ours: list[dict], theirs: list[dict]) -> None:
    a, b = normalise(ours), normalise(theirs)
    assert a == b
    # same keys in the same order, same value types (int stays int, float stays float)
    for x, y in zip(a, b, strict=True):
        assert list(x) == list(y)
        for k in x:
            assert type(x[k]) is type(y[k]), k


WS_PACKETS = ["ltpMode_binary.packet", "quoteMode_binary.packet", "fullMode_binary.packet"]


@pytest.mark.parametrize("name", WS_PACKETS)
def test_real_frames_match_official(name, official):
    data = shared_file(f"kite_ws_packets/{name}").read_bytes()
    decoded = kp.decode_frame(data)
    assert decoded.errors == [] and not decoded.heartbeat
    ours = decoded.ticks.to_dicts()
    assert len(ours) == 1
    assert_same(ours, official._parse_binary(data))


@pytest.mark.parametrize("name", WS_PACKETS)
def test_real_frames_reencode_byte_for_byte(name):
    data = shared_file(f"kite_ws_packets/{name}").read_bytes()
    assert kp.encode_frame(kp.decode_frame(data).ticks.to_dicts()) == data


@pytest.mark.parametrize("name", ["ticker_full.packet", "ticker_quote.packet"])
def test_mock_packets_match_official_and_expected_json(name, official):
    body = base64.b64decode(shared_file(f"kite_mocks/{name}").read_text())
    frame = struct.pack(">HH", 1, len(body)) + body  # the mocks lack the 2-byte frame header and length
    ours = kp.decode_frame(frame).ticks.to_dicts()
    assert_same(ours, official._parse_binary(frame))
    # and against Kite's own expected decode (its JSON uses REST names and IST strings)
    expected = json.loads(shared_file(f"kite_mocks/{name.replace('.packet', '.json')}").read_text())
    tick = ours[0]
    assert tick["instrument_token"] == expected["instrument_token"]
    assert tick["last_price"] == expected["last_price"]
    assert tick["volume_traded"] == expected["volume"]
    assert tick["ohlc"] == expected["ohlc"]
    # Not compared: the mock's "change" (5.9 in both files although their LTPs differ) is not what any client
    # computes from these packets; the official parser above is the reference for "change".
    if name == "ticker_full.packet":
        assert tick["exchange_timestamp"] == datetime.fromisoformat(expected["timestamp"])
        assert tick["last_trade_time"] == datetime.fromisoformat(expected["last_trade_time"])
        assert tick["depth"] == expected["depth"]


def test_heartbeat():
    decoded = kp.decode_frame(kp.HEARTBEAT)
    assert decoded.heartbeat and len(decoded.ticks) == 0 and decoded.errors == []
    assert kp.decode_frame(b"").heartbeat


def test_encoder_misuse_is_our_fault():
    with pytest.raises(ProtocolError) as info:
        kp.encode_ltp({"instrument_token": 256265, "last_price": -1.0})
    assert info.value.ours

"""The Kite ticker codec against the official client's parser, on real frames and generated ones."""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime

import pytest

from tests.conftest import shared_file
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
    with pytest.raises(kp.LocalProtocolError) as info:
        kp.encode_ltp({"instrument_token": 256265, "last_price": -1.0})
    assert info.value.ours


# ---------------------------------------------------------------------------------------------------------------
# Generated packets of every type: our decoder == the official parser, on every path (1 packet, small, vectorised)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SEGMENTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 0, 255]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def packet_bodies(draw, lengths=kp.PACKET_LENGTHS):
    """A raw packet body of one of ``lengths``: random words, a token whose segment covers every divisor."""
    length = draw(st.sampled_from(lengths))
    token = (draw(st.integers(0, 0xFFFFFF)) << 8) | draw(st.sampled_from(SEGMENTS))
    rest = draw(st.binary(min_size=length - 4, max_size=length - 4))
    if draw(st.booleans()):  # often a zero close price, where "change" must be 0
        close_at = {kp.LTP_LEN: None, kp.INDEX_QUOTE_LEN: 20, kp.INDEX_FULL_LEN: 20, kp.QUOTE_LEN: 40,
                    kp.FULL_LEN: 40}[length]
        if close_at is not None:
            rest = rest[: close_at - 4] + b"\0\0\0\0" + rest[close_at:]
    return struct.pack(">I", token) + rest


frames = st.lists(packet_bodies(), min_size=0, max_size=12).map(kp.encode_packets)


@SETTINGS
@given(frame=frames)
def test_generated_frames_match_official(frame, official):
    decoded = kp.decode_frame(frame)
    assert decoded.errors == []
    assert_same(decoded.ticks.to_dicts(), official._parse_binary(frame))


@settings(SETTINGS, max_examples=60)
@given(length=st.sampled_from(kp.PACKET_LENGTHS), bodies=st.data())
def test_uniform_large_frames_match_official(length, bodies, official):
    """Frames of one packet type and > SMALL_FRAME packets take the vectorised fast path."""
    packets = bodies.draw(st.lists(packet_bodies([length]), min_size=kp.SMALL_FRAME + 1, max_size=kp.SMALL_FRAME + 8))
    frame = kp.encode_packets(packets)
    assert_same(kp.decode_frame(frame).ticks.to_dicts(), official._parse_binary(frame))


@SETTINGS
@given(packets=st.lists(packet_bodies(), min_size=1, max_size=30))
def test_struct_path_and_numpy_path_give_identical_arrays(packets):
    one_by_one = kp.TickBatch.concat([kp.decode_frame(kp.encode_packets([p])).ticks for p in packets])
    small = kp.TickBatch.concat([kp.decode_frame(kp.encode_packets(packets[i:i + kp.SMALL_FRAME])).ticks
                                 for i in range(0, len(packets), kp.SMALL_FRAME)])
    whole = kp.decode_frame(kp.encode_packets(packets * (1 + kp.SMALL_FRAME // len(packets)))).ticks
    assert one_by_one.array.tobytes() == small.array.tobytes()
    assert whole.array[: len(packets)].tobytes() == one_by_one.array.tobytes()


@SETTINGS
@given(packets=st.lists(packet_bodies(), min_size=0, max_size=12))
def test_reencode_roundtrip(packets):
    """decode → encode → decode is the identity on the decoded ticks (bytes too, but for the index packets'
    ignored net-change word and the depth padding, which the encoder writes canonically)."""
    packets = [_consistent(p) for p in packets]
    frame = kp.encode_packets(packets)
    first = kp.decode_frame(frame).ticks.to_dicts()
    again = kp.encode_frame(first)
    assert kp.decode_frame(again).ticks.to_dicts() == first
    canonical = [p for p in packets if len(p) in (kp.LTP_LEN, kp.QUOTE_LEN)]
    assert kp.encode_frame(kp.decode_frame(kp.encode_packets(canonical)).ticks.to_dicts()) == kp.encode_packets(
        canonical)


def _consistent(packet: bytes) -> bytes:
    """The encoder picks index packets by segment (9 = INDICES): make the token's segment agree with the length."""
    index = len(packet) in (kp.INDEX_QUOTE_LEN, kp.INDEX_FULL_LEN)
    segment = packet[3]
    if index and segment != kp.SEGMENT_INDICES:
        segment = kp.SEGMENT_INDICES
    elif not index and len(packet) != kp.LTP_LEN and segment == kp.SEGMENT_INDICES:
        segment = kp.SEGMENT_NSE
    return packet[:3] + bytes([segment]) + packet[4:]


prices = st.integers(0, 0xFFFFFFFF)
counts = st.integers(0, 0xFFFFFFFF)
epochs = st.integers(0, 0xFFFFFFFF)


@st.composite
def tick_dicts(draw):
    """Official-shaped tick dicts of every mode; prices on the wire grid of their segment."""
    segment = draw(st.sampled_from(SEGMENTS))
    token = (draw(st.integers(0, 0xFFFFFF)) << 8) | segment
    div = kp.price_divisor(token)
    mode = draw(st.sampled_from(kp.MODES))
    tick = {"tradable": segment != kp.SEGMENT_INDICES, "mode": mode, "instrument_token": token,
            "last_price": draw(prices) / div}
    if mode == "ltp":
        return tick
    index = segment == kp.SEGMENT_INDICES
    ohlc = {k: draw(prices) / div for k in ("open", "high", "low", "close")}
    if not index:
        tick.update({"last_traded_quantity": draw(counts), "average_traded_price": draw(prices) / div,
                     "volume_traded": draw(counts), "total_buy_quantity": draw(counts),
                     "total_sell_quantity": draw(counts)})
    tick["ohlc"] = {k: ohlc[k] for k in (("high", "low", "open", "close") if index else ("open", "high", "low",
                                                                                            "close"))}
    close = ohlc["close"]
    tick["change"] = (tick["last_price"] - close) * 100 / close if close != 0 else 0
    if mode == "full" and index:
        tick["exchange_timestamp"] = datetime.fromtimestamp(draw(epochs), UTC)
    elif mode == "full":
        tick["last_trade_time"] = datetime.fromtimestamp(draw(epochs), UTC)
        tick.update({"oi": draw(counts), "oi_day_high": draw(counts), "oi_day_low": draw(counts)})
        tick["exchange_timestamp"] = datetime.fromtimestamp(draw(epochs), UTC)
        tick["depth"] = {side: [{"quantity": draw(counts), "price": draw(prices) / div,
                                 "orders": draw(st.integers(0, 0xFFFF))} for _ in range(5)]
                         for side in ("buy", "sell")}
    return tick


@SETTINGS
@given(ticks=st.lists(tick_dicts(), max_size=12))
def test_encode_then_decode_gives_the_ticks_back(ticks, official):
    frame = kp.encode_frame(ticks)
    ours = kp.decode_frame(frame).ticks.to_dicts()
    assert ours == ticks
    assert_same(ours, official._parse_binary(frame))


def test_index_packets_we_encode_match_official(official):
    """Neither real packet set has an index packet: our encoder's index packets, checked by the official parser."""
    ts = datetime(2024, 6, 4, 4, 30, tzinfo=UTC)
    nifty = {"instrument_token": 256265, "mode": "full", "last_price": 21884.5,
             "ohlc": {"open": 23179.5, "high": 23179.5, "low": 21281.45, "close": 23263.9}, "exchange_timestamp": ts}
    bank = {"instrument_token": 260105, "mode": "quote", "last_price": 49000.05,
            "ohlc": {"open": 50000.0, "high": 50100.0, "low": 48900.0, "close": 0.0}}
    sensex = {"instrument_token": 265, "mode": "ltp", "last_price": 72079.05}
    frame = kp.encode_frame([nifty, bank, sensex])
    assert [len(p) for p in _split(frame)] == [32, 28, 8]
    ours = kp.decode_frame(frame).ticks.to_dicts()
    assert_same(ours, official._parse_binary(frame))
    assert ours[0]["tradable"] is False and ours[0]["mode"] == "full" and ours[0]["exchange_timestamp"] == ts
    assert ours[0]["ohlc"] == {"high": 23179.5, "low": 21281.45, "open": 23179.5, "close": 23263.9}
    assert list(ours[0]["ohlc"]) == ["high", "low", "open", "close"]  # the wire (and official) order
    assert ours[0]["change"] == pytest.approx((21884.5 - 23263.9) * 100 / 23263.9)
    assert ours[1]["change"] == 0 and type(ours[1]["change"]) is int
    # the net-change word (bytes 24-28) carries last - close in paise, signed
    assert struct.unpack_from(">i", _split(frame)[0], 24)[0] == round((21884.5 - 23263.9) * 100)


def _split(frame: bytes) -> list[bytes]:
    count, = struct.unpack_from(">H", frame)
    out, j = [], 2
    for _ in range(count):
        length, = struct.unpack_from(">H", frame, j)
        out.append(frame[j + 2: j + 2 + length])
        j += 2 + length
    return out


def test_encode_packet_index_override():
    tick = {"instrument_token": 408065, "mode": "quote", "last_price": 1.0, "ohlc": {"close": 1.0}}
    assert len(kp.encode_packet(tick)) == kp.QUOTE_LEN
    assert len(kp.encode_packet(tick, index=True)) == kp.INDEX_QUOTE_LEN
    assert len(kp.encode_packet({**tick, "instrument_token": 256265})) == kp.INDEX_QUOTE_LEN
    assert len(kp.encode_packet({**tick, "mode": "full", "instrument_token": 256265}, index=False)) == kp.FULL_LEN


# ---------------------------------------------------------------------------------------------------------------
# Malformed input: never raises; good packets survive where the framing allows; faults reported as the peer's


def _good_packets(n: int) -> list[bytes]:
    full = shared_file("kite_ws_packets/fullMode_binary.packet").read_bytes()[4:]
    quote = shared_file("kite_ws_packets/quoteMode_binary.packet").read_bytes()[4:]
    ltp = shared_file("kite_ws_packets/ltpMode_binary.packet").read_bytes()[4:]
    return [(full, quote, ltp)[i % 3] for i in range(n)]


@pytest.mark.parametrize("n", [1, 3, 12])
def test_truncated_frame_keeps_complete_packets(n, official):
    frame = kp.encode_packets(_good_packets(n))
    theirs = official._parse_binary(frame)
    for cut in range(2, len(frame)):
        decoded = kp.decode_frame(frame[:cut])
        # complete packets before the cut survive, equal to the official decode of those packets
        complete = sum(1 for end in _packet_ends(frame) if end <= cut)
        assert len(decoded.ticks) == complete
        assert_same(decoded.ticks.to_dicts(), theirs[:complete])
        assert decoded.errors and all(e.startswith("peer sent a malformed ticker frame") for e in decoded.errors)
        assert "truncated" in decoded.errors[0] or "ends after" in decoded.errors[0]


def _packet_ends(frame: bytes) -> list[int]:
    count, = struct.unpack_from(">H", frame)
    ends, j = [], 2
    for _ in range(count):
        length, = struct.unpack_from(">H", frame, j)
        j += 2 + length
        ends.append(j)
    return ends


def test_count_larger_than_packets():
    packets = _good_packets(6)
    frame = struct.pack(">H", 9) + kp.encode_packets(packets)[2:]
    decoded = kp.decode_frame(frame)
    assert len(decoded.ticks) == 6
    assert decoded.errors == ["peer sent a malformed ticker frame: it declares 9 packets but ends after 6 "
                              f"(no length prefix at byte {len(frame)}; 3 packets lost)"]


def test_count_smaller_than_packets_reports_trailing_bytes(official):
    packets = _good_packets(6)
    frame = struct.pack(">H", 4) + kp.encode_packets(packets)[2:]
    decoded = kp.decode_frame(frame)
    assert_same(decoded.ticks.to_dicts(), official._parse_binary(frame))
    assert len(decoded.ticks) == 4
    assert len(decoded.errors) == 1 and "trailing bytes after the 4 declared packets" in decoded.errors[0]


@pytest.mark.parametrize("n", [2, 10])
def test_unknown_length_packet_is_skipped_and_reported(n, official):
    packets = _good_packets(n)
    packets.insert(1, b"\x00\x03\xe9\x09" + b"\x01" * 16)  # 20 bytes: no such packet type
    frame = kp.encode_packets(packets)
    decoded = kp.decode_frame(frame)
    assert len(decoded.ticks) == n
    assert_same(decoded.ticks.to_dicts(), official._parse_binary(frame))  # the official parser skips it silently
    assert decoded.errors == ["peer sent a malformed ticker frame: packet 1 has unknown length 20 (expected one of "
                              "8, 28, 32, 44, 184); skipped"]


def test_length_that_lies_loses_only_what_follows():
    packets = _good_packets(8)
    frame = bytearray(kp.encode_packets(packets))
    ends = _packet_ends(bytes(frame))
    frame[ends[4]: ends[4] + 2] = struct.pack(">H", 60000)  # packet 5 claims to be huge
    decoded = kp.decode_frame(bytes(frame))
    assert len(decoded.ticks) == 5
    assert "packet 5 declares 60000 bytes" in decoded.errors[0]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    decoded = kp.decode_frame(data)
    assert decoded.heartbeat == (len(data) < 2)
    decoded.ticks.to_dicts()
    assert decoded.ticks.to_polars().height == len(decoded.ticks)


@settings(max_examples=200, deadline=None)
@given(packets=st.lists(packet_bodies(), min_size=1, max_size=10), flips=st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4), cut=st.integers(0, 3000))
def test_corrupted_frames_never_raise(packets, flips, cut):
    frame = bytearray(kp.encode_packets(packets))
    for pos, value in flips:
        frame[pos % len(frame)] = value
    for data in (bytes(frame), bytes(frame[:cut])):
        decoded = kp.decode_frame(data)
        assert len(decoded.ticks.to_dicts()) == len(decoded.ticks)
        assert all(isinstance(e, str) for e in decoded.errors)


# ---------------------------------------------------------------------------------------------------------------
# Columns (CONTRACTS.md "Ticks"), divisors, text frames


def test_to_polars_schema_and_nulls():
    import polars as pl

    packets = _good_packets(3) + [kp.encode_index_full({"instrument_token": 256265, "last_price": 22000.05,
                                                        "ohlc": {"open": 1.0, "high": 2.0, "low": 0.5, "close": 3.0},
                                                        "exchange_timestamp": 1717473600})]
    batch = kp.decode_frame(kp.encode_packets(packets)).ticks
    df = batch.to_polars()
    assert df.columns == list(kp.TICK_COLUMNS)
    assert dict(df.schema) == kp.tick_schema()
    assert df.schema["instrument_token"] == pl.UInt32
    assert df.schema["exchange_timestamp"] == pl.Datetime("us", "UTC")
    full, quote, ltp, index = df.to_dicts()
    assert full["bid_price_1"] == 392.95 and full["bid_qty_1"] == 5617 and full["bid_orders_1"] == 30
    assert full["ask_price_1"] == 0.0 and full["oi"] == 0
    assert full["last_trade_time"] == datetime(2022, 6, 16, 10, 27, 44, tzinfo=UTC)
    assert quote["volume_traded"] == 22261032 and quote["bid_price_1"] is None and quote["oi"] is None
    assert quote["last_trade_time"] is None and quote["exchange_timestamp"] is None
    assert ltp["last_price"] == 392.95 and ltp["open"] is None and ltp["change"] is None
    assert ltp["volume_traded"] is None
    assert index["tradable"] is False and index["volume_traded"] is None and index["last_trade_time"] is None
    assert index["exchange_timestamp"] == datetime(2024, 6, 4, 4, 0, tzinfo=UTC)
    assert index["high"] == 2.0 and index["open"] == 1.0
    assert [r["mode"] for r in (full, quote, ltp, index)] == ["full", "quote", "ltp", "full"]
    recv = datetime(2024, 6, 4, 4, 0, 1, tzinfo=UTC)
    with_recv = batch.to_polars(recv_ts=recv)
    assert with_recv.columns[-1] == "recv_ts" and with_recv["recv_ts"].to_list() == [recv] * 4


def test_empty_batch_to_polars_has_schema():
    df = kp.decode_frame(kp.HEARTBEAT).ticks.to_polars()
    assert df.height == 0 and dict(df.schema) == kp.tick_schema()


@pytest.mark.parametrize(("token", "divisor"), [
    (408065, 100.0),  # NSE (segment 1)
    (256265, 100.0),  # INDICES (9)
    ((1234 << 8) | 3, 1e7),  # CDS
    ((1234 << 8) | 6, 1e4),  # BCD
    ((1234 << 8) | 12, 1e4),  # NCO
    ((1234 << 8) | 2, 100.0),  # NFO
])
def test_price_divisor(token, divisor, official):
    assert kp.price_divisor(token) == divisor
    frame = kp.encode_packets([struct.pack(">II", token, 123456789)])
    assert kp.decode_frame(frame).ticks.to_dicts()[0]["last_price"] == official._parse_binary(frame)[0]["last_price"]
    assert kp.decode_frame(frame).ticks.to_dicts()[0]["last_price"] == 123456789 / divisor


def test_segment_divisor_override():
    frame = kp.encode_packets([struct.pack(">II", (77 << 8) | 1, 12345)] * 6)
    assert kp.decode_frame(frame, segment_divisors={1: 1000.0}).ticks.to_dicts()[0]["last_price"] == 12.345
    assert kp.decode_frame(frame[:14]).ticks.to_dicts()[0]["last_price"] == 123.45
    assert kp.price_divisor((77 << 8) | 1, {1: 1000.0}) == 1000.0


def test_order_postback_roundtrip():
    order = json.loads(shared_file("kite_mocks/postback.json").read_text())
    text = kp.encode_order_postback(order)
    message = kp.decode_text(text)
    assert message.type == "order" and message.data == order and message.error is None
    assert json.loads(text) == {"type": "order", "data": order}
    # the official client hands "data" of an order message to on_order_update
    from kiteconnect import KiteTicker

    seen = []
    ticker = KiteTicker("dummy_api_key", "dummy_access_token")
    ticker.on_order_update = lambda ws, data: seen.append(data)
    ticker._parse_text_message(text.encode())
    assert seen == [order]


def test_order_postback_datetimes_are_kite_strings():
    ts = datetime(2024, 6, 4, 4, 0, 5, tzinfo=UTC)
    message = kp.decode_text(kp.encode_order_postback({"order_id": "1", "order_timestamp": ts}))
    assert message.data["order_timestamp"] == "2024-06-04 09:30:05"  # IST, Kite's format


def test_error_and_message_frames():
    err = kp.decode_text(kp.encode_error("Invalid access token"))
    assert (err.type, err.data) == ("error", "Invalid access token")
    msg = kp.decode_text(b'{"type": "message", "data": "Markets closed"}')
    assert (msg.type, msg.data, msg.error) == ("message", "Markets closed", None)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"data": 1}', b"\xff\xfe", '{"type": 3}'])
def test_bad_text_frames_are_reported_not_raised(text):
    message = kp.decode_text(text)
    assert message.type == "invalid" and message.error.startswith("peer sent")


def test_encoder_rejects_out_of_range_values():
    with pytest.raises(kp.LocalProtocolError, match="does not fit"):
        kp.encode_full({"instrument_token": 1, "last_price": 1.0, "volume_traded": 2**32})
    with pytest.raises(ProtocolError, match="unknown tick mode"):
        kp.encode_packet({"instrument_token": 1, "mode": "depth"})
    with pytest.raises(ProtocolError, match="has 6 levels"):
        kp.encode_full({"instrument_token": 1, "depth": {"buy": [{}] * 6, "sell": []}})


def test_many_unknown_packets_only():
    frame = kp.encode_packets([b"\x00" * 20] * (kp.SMALL_FRAME + 3))
    decoded = kp.decode_frame(frame)
    assert len(decoded.ticks) == 0 and len(decoded.errors) == kp.SMALL_FRAME + 3


@pytest.mark.parametrize("n", [kp.SMALL_FRAME + 1, 40])
def test_large_mixed_frame_with_faults_matches_official(n, official):
    packets = _good_packets(n)
    packets[3] = b"\x01" * 12  # unknown length, skipped by both
    frame = kp.encode_packets(packets) + b"\x00\x07"  # and 2 trailing bytes
    decoded = kp.decode_frame(frame)
    assert_same(decoded.ticks.to_dicts(), official._parse_binary(frame))
    assert len(decoded.ticks) == n - 1 and len(decoded.errors) == 2


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_decode_accepts_any_bytes_like(wrap):
    frame = kp.encode_packets(_good_packets(kp.SMALL_FRAME + 2))
    assert kp.decode_frame(wrap(frame)).ticks.array.tobytes() == kp.decode_frame(frame).ticks.array.tobytes()


def test_concat_keeps_order_and_values():
    a = kp.decode_frame(kp.encode_packets(_good_packets(3))).ticks
    b = kp.decode_frame(kp.encode_packets(_good_packets(20))).ticks
    both = kp.TickBatch.concat([a, b])
    assert both.to_dicts() == a.to_dicts() + b.to_dicts()
    assert len(kp.TickBatch.concat([])) == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc", -0.01])
def test_encoder_rejects_unencodable_prices(bad):
    with pytest.raises(kp.LocalProtocolError) as info:
        kp.encode_quote({"instrument_token": 408065, "last_price": bad})
    assert info.value.ours


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(order=st.dictionaries(st.text(max_size=12), json_values, max_size=8), message=st.text(max_size=40))
def test_text_frames_roundtrip(order, message):
    decoded = kp.decode_text(kp.encode_order_postback(order))
    assert (decoded.type, decoded.data, decoded.error) == ("order", order, None)
    decoded = kp.decode_text(kp.encode_error(message).encode())
    assert (decoded.type, decoded.data) == ("error", message)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80) | st.binary(max_size=80))
def test_random_text_never_raises(text):
    message = kp.decode_text(text)
    assert isinstance(message.type, str)
    assert (message.error is None) == (message.type != "invalid")


def test_truncated_full_packet_is_not_misread_as_a_quote(official):
    """The official parser decodes a full packet cut to 44 bytes as a quote; we drop it and say why."""
    full, quote = _good_packets(2)
    frame = kp.encode_packets([quote]) + struct.pack(">H", kp.FULL_LEN) + full[: kp.QUOTE_LEN]
    frame = struct.pack(">H", 2) + frame[2:]
    assert [t["mode"] for t in official._parse_binary(frame)] == ["quote", "quote"]
    decoded = kp.decode_frame(frame)
    assert [t["mode"] for t in decoded.ticks.to_dicts()] == ["quote"]
    assert decoded.errors == ["peer sent a malformed ticker frame: packet 1 declares 184 bytes but only 44 remain "
                              "(truncated; 1 of 2 packets lost)"]


def test_deeply_nested_text_is_reported_not_raised():
    message = kp.decode_text("[" * 100_000 + "]" * 100_000)
    assert message.type == "invalid" and message.error.startswith("peer sent")


def test_encoder_accepts_epoch_seconds_and_rejects_text_times():
    body = kp.encode_index_full({"instrument_token": 256265, "exchange_timestamp": 1717473600})
    assert struct.unpack_from(">I", body, 28)[0] == 1717473600
    with pytest.raises(ProtocolError):
        kp.encode_index_full({"instrument_token": 256265, "exchange_timestamp": "09:30"})


# ---------------------------------------------------------------------------------------------------------------
# Index packets: the column-major index block (kite_index) and batches of whole frames (decode_frames)

INDEX_LENGTHS = [kp.INDEX_QUOTE_LEN, kp.INDEX_FULL_LEN]


@SETTINGS
@given(packets=st.lists(packet_bodies(INDEX_LENGTHS), min_size=1, max_size=12), one_segment=st.booleans(),
       data=st.data())
def test_index_block_gives_the_struct_paths_bytes_and_the_official_dicts(packets, one_segment, data, official):
    """Frames of > SMALL_FRAME index packets of one length (one segment, or mixed segments) decode to the same
    TICK_DTYPE bytes as packet-by-packet struct decoding, and to the official parser's dicts."""
    length = data.draw(st.sampled_from(INDEX_LENGTHS))
    bodies = [p[:4] + p[4:length] + bytes(max(0, length - len(p))) for p in packets]
    bodies = [b[:length] for b in bodies] * (1 + kp.SMALL_FRAME // len(bodies))
    if one_segment:
        bodies = [b[:3] + bytes([kp.SEGMENT_INDICES]) + b[4:] for b in bodies]
    frame = kp.encode_packets(bodies)
    ticks = kp.decode_frame(frame).ticks
    assert ticks._index is not None  # the vectorised index path was taken
    dicts = ticks.to_dicts()  # before .array: read from the index block itself
    assert_same(dicts, official._parse_binary(frame))
    one_by_one = kp.TickBatch.concat([kp.decode_frame(kp.encode_packets([b])).ticks for b in bodies])
    assert ticks.array.tobytes() == one_by_one.array.tobytes()
    assert ticks.to_dicts() == dicts


@SETTINGS
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=6), data=st.data())
def test_decode_frames_equals_decoding_each_frame(sizes, data):
    """A batch of whole frames of one packet type decodes to what decoding them one by one gives, in order."""
    length = data.draw(st.sampled_from(kp.PACKET_LENGTHS))
    frames = [kp.encode_packets(data.draw(st.lists(packet_bodies([length]), min_size=n, max_size=n)))
              for n in sizes]
    assert [kp.uniform_shape(f) for f in frames] == [(n, length) for n in sizes]
    batch = kp.decode_frames(frames, length)
    each = kp.TickBatch.concat([kp.decode_frame(f).ticks for f in frames])
    assert len(batch) == sum(sizes)
    assert batch.array.tobytes() == each.array.tobytes()


def test_index_blocks_of_both_lengths_concatenate():
    quote = [kp.encode_index_quote({"instrument_token": 256265, "last_price": 22000.5,
                                    "ohlc": {"open": 1.0, "high": 2.0, "low": 0.5, "close": 0.0}})] * 20
    full = kp.decode_frame(kp.encode_packets(_good_index_full(20))).ticks
    quotes = kp.decode_frame(kp.encode_packets(quote)).ticks
    both = kp.TickBatch.concat([quotes, full])
    assert both._index is not None and len(both) == 40
    assert both.to_dicts() == quotes.to_dicts() + full.to_dicts()
    assert both.to_dicts()[0]["change"] == 0  # close 0: the official int 0
    assert both.array.tobytes() == quotes.array.tobytes() + full.array.tobytes()
    assert kp.TickBatch.concat([quotes, kp.decode_frame(kp.encode_packets(_good_packets(3))).ticks]).to_dicts() \
        == quotes.to_dicts() + kp.decode_frame(kp.encode_packets(_good_packets(3))).ticks.to_dicts()


def _good_index_full(n: int) -> list[bytes]:
    return [kp.encode_index_full({"instrument_token": 260105, "last_price": 48000 + i / 20,
                                  "ohlc": {"open": 48100.0, "high": 48200.0, "low": 47900.0, "close": 48050.0},
                                  "exchange_timestamp": datetime(2024, 6, 4, 4, 0, i, tzinfo=UTC)})
            for i in range(n)]


@pytest.mark.parametrize("frame", [b"", b"\x00", kp.encode_packets([]) + b"\x00",
                                   kp.encode_packets(_good_index_full(2))[:-1],
                                   kp.encode_packets([*_good_index_full(2), b"\x00" * 8])])
def test_uniform_shape_refuses_what_is_not_one_clean_packet_type(frame):
    assert kp.uniform_shape(frame) is None


def test_index_block_to_polars_equals_the_wide_arrays():
    """to_polars reads an index block's columns directly (nulls for what an index lacks): the same frame as from
    the widened TICK_DTYPE array, for quote and full index packets and a zero close."""
    quote = [kp.encode_index_quote({"instrument_token": 256265, "last_price": 22000.5,
                                    "ohlc": {"open": 1.0, "high": 2.0, "low": 0.5, "close": 0.0}})] * 12
    both = kp.TickBatch.concat([kp.decode_frame(kp.encode_packets(quote)).ticks,
                                kp.decode_frame(kp.encode_packets(_good_index_full(12))).ticks])
    assert both.index_block is not None
    direct = both.to_polars(datetime(2024, 6, 4, 4, 0, tzinfo=UTC))
    wide = kp.TickBatch(both.array.copy())
    assert both.index_block is None  # widened now
    assert direct.equals(wide.to_polars(datetime(2024, 6, 4, 4, 0, tzinfo=UTC)), null_equal=True)
    assert direct.schema == wide.to_polars().schema | {"recv_ts": direct.schema["recv_ts"]}
    assert direct["exchange_timestamp"].null_count() == 12 and direct["volume_traded"].null_count() == 24

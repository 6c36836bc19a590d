"""Token records, expiry rules (Kite 06:00 IST next day; Breeze midnight), the 0600 atomic token file."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradesig.broker.tokens import (
    TokenRecord,
    TokenStore,
    breeze_expiry,
    format_remaining,
    kite_expiry,
    parse_duration,
    scrub,
)
from tradesig.clock import IST, ManualClock, ist
from tradesig.errors import ConfigError, TokenError

SECRET = "s3cr3t-access-token-0123456789abcdef"


def record(login=None, broker="kite", token=SECRET) -> TokenRecord:
    login = login or ist(2026, 11, 20, 8, 30)
    exp = kite_expiry(login) if broker == "kite" else breeze_expiry(login)
    return TokenRecord(broker=broker, api_key="key123", access_token=token, user_id="AB1234",
                       user_name="Asha Rao", login_time=login.astimezone(UTC), expires_at=exp)


# ------------------------------------------------------------------------------------------ expiry rules


def test_kite_expiry_is_six_am_ist_next_calendar_day():
    assert kite_expiry(ist(2026, 11, 18, 8, 45)) == ist(2026, 11, 19, 6, 0)
    assert kite_expiry(ist(2026, 11, 18, 8, 45)).tzinfo == UTC


def test_kite_expiry_across_midnight():
    # 23:59 IST login: still dies at 06:00 the next morning, only ~6 hours later.
    assert kite_expiry(ist(2026, 11, 18, 23, 59)) == ist(2026, 11, 19, 6, 0)
    # after midnight but before the 06:00 flush: dies the same morning
    assert kite_expiry(ist(2026, 11, 19, 0, 30)) == ist(2026, 11, 19, 6, 0)
    assert kite_expiry(ist(2026, 11, 19, 5, 59, 59)) == ist(2026, 11, 19, 6, 0)
    # exactly at 06:00: the new day's token lives to the next 06:00
    assert kite_expiry(ist(2026, 11, 19, 6, 0)) == ist(2026, 11, 20, 6, 0)
    # a UTC input late on the UTC day is 01:30 IST on the next IST day: dies at 06:00 that morning
    assert kite_expiry(datetime(2026, 11, 18, 20, 0, tzinfo=UTC)) == ist(2026, 11, 19, 6, 0)


def test_kite_expiry_friday_login_does_not_reach_monday():
    friday = ist(2026, 11, 20, 9, 0)
    assert friday.weekday() == 4
    expiry = kite_expiry(friday)
    assert expiry == ist(2026, 11, 21, 6, 0)  # Saturday 06:00: Monday needs a fresh login
    monday_open = ist(2026, 11, 23, 9, 15)
    assert record(friday).is_expired(monday_open.astimezone(UTC))


def test_kite_expiry_on_holiday_eve_dies_on_the_holiday():
    # 2026-11-24 (Tuesday) is Guru Nanak Jayanti, an NSE holiday; a login on the eve dies on the holiday
    # morning, not on the next trading day.
    eve = ist(2026, 11, 23, 15, 0)
    assert kite_expiry(eve) == ist(2026, 11, 24, 6, 0)
    next_trading_morning = ist(2026, 11, 25, 8, 50)
    assert record(eve).is_expired(next_trading_morning.astimezone(UTC))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)))
def test_kite_expiry_properties(login):
    exp = kite_expiry(login)
    local = exp.astimezone(IST)
    assert (local.hour, local.minute, local.second, local.microsecond) == (6, 0, 0, 0)
    assert timedelta(0) < exp - login <= timedelta(days=1)


def test_kite_expiry_refuses_naive():
    with pytest.raises(ValueError):
        kite_expiry(datetime(2026, 1, 1, 9, 0))


def test_breeze_expiry_is_next_midnight_ist():
    assert breeze_expiry(ist(2026, 11, 20, 8, 0)) == ist(2026, 11, 21, 0, 0)
    assert breeze_expiry(ist(2026, 11, 20, 23, 59)) == ist(2026, 11, 21, 0, 0)
    assert breeze_expiry(ist(2026, 11, 21, 0, 0)) == ist(2026, 11, 22, 0, 0)


# -------------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize("text,expected", [
    ("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)), ("1h30m", timedelta(minutes=90)),
    ("90s", timedelta(seconds=90)), ("1d", timedelta(days=1)), ("45", timedelta(minutes=45)),
    ("0", timedelta(0)), ("1.5h", timedelta(minutes=90)),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "30x", "m30", "1h junk", "-5m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_remaining():
    assert format_remaining(timedelta(hours=19, minutes=12, seconds=5)) == "19h 12m"
    assert format_remaining(timedelta(minutes=7)) == "7m"
    assert format_remaining(timedelta(seconds=-3700)) == "expired 1h 01m ago"


# -------------------------------------------------------------------------------------------- the record


def test_record_repr_hides_token():
    rec = record()
    assert SECRET not in repr(rec) and SECRET not in str(rec)
    assert rec.redacted_token == "s3cr…cdef"


def test_record_round_trip():
    rec = record()
    again = TokenRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert again == rec


def test_scrub_masks_tokens_and_headers():
    text = f"failed: Authorization: token key123:{SECRET} body access_token={SECRET}&x"
    out = scrub(text, [SECRET])
    assert SECRET not in out
    assert scrub('{"checksum": "deadbeefdeadbeefdeadbeef"}') == '{"checksum": "dead…beef"}'


# --------------------------------------------------------------------------------------------- the store


def test_save_writes_0600_atomically(tmp_path):
    store = TokenStore(tmp_path, ManualClock(ist(2026, 11, 20, 9, 0)))
    path = store.save(record())
    assert path == tmp_path / "tokens" / "kite.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["kite.json"]  # no temp file left
    data = json.loads(path.read_text())
    assert data["format"] == "tradesig-token" and data["version"] == 1
    assert data["expires_at"] == "2026-11-21T00:30:00+00:00"
    assert data["expires_at_ist"] == "2026-11-21T06:00:00+05:30"


def test_save_replaces_with_new_inode_and_fingerprint_changes(tmp_path):
    store = TokenStore(tmp_path, ManualClock(ist(2026, 11, 20, 9, 0)))
    assert store.fingerprint("kite") is None and store.mtime("kite") is None
    store.save(record())
    first = store.fingerprint("kite")
    store.save(record(token="another-token-value-987654321"))
    second = store.fingerprint("kite")
    assert first != second and first[0] != second[0]
    assert store.load("kite").access_token == "another-token-value-987654321"
    assert isinstance(store.mtime("kite"), float)


def test_save_fixes_loose_umask(tmp_path):
    old = os.umask(0)
    try:
        path = TokenStore(tmp_path).save(record())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_valid_and_expired(tmp_path):
    clock = ManualClock(ist(2026, 11, 20, 9, 0))
    store = TokenStore(tmp_path, clock)
    store.save(record())
    assert store.load("kite").user_id == "AB1234"
    with pytest.raises(TokenError) as info:
        store.load("kite", margin=timedelta(hours=22))
    assert "expires within" in str(info.value)
    clock.set(ist(2026, 11, 21, 6, 0))
    with pytest.raises(TokenError) as info:
        store.load("kite")
    assert "expired" in info.value.message and "tradesig login --broker kite" in info.value.hint
    assert info.value.exit_code == 1
    assert SECRET not in str(info.value)


def test_load_missing(tmp_path):
    with pytest.raises(TokenError) as info:
        TokenStore(tmp_path).load("kite")
    assert "does not exist" in info.value.message and info.value.exit_code == 1


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_loose_permissions_refused(tmp_path, mode):
    store = TokenStore(tmp_path, ManualClock(ist(2026, 11, 20, 9, 0)))
    path = store.save(record())
    os.chmod(path, mode)
    with pytest.raises(ConfigError) as info:
        store.load("kite")
    assert "group/others" in info.value.message and f"chmod 600 {path}" in info.value.hint
    assert info.value.exit_code == 2
    assert SECRET not in str(info.value)


def test_corrupt_file_is_token_error_without_leaking(tmp_path):
    store = TokenStore(tmp_path)
    path = store.path("kite")
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"format": "tradesig-token", "version": 1, "access_token": "' + SECRET.encode() + b'"}')
    os.close(fd)
    with pytest.raises(TokenError) as info:
        store.read("kite")
    assert "lacks" in info.value.message and SECRET not in str(info.value)
    os.truncate(path, 10)
    with pytest.raises(TokenError):
        store.read("kite")


def test_wrong_broker_in_file(tmp_path):
    store = TokenStore(tmp_path)
    store.save(record(broker="breeze"))
    os.replace(store.path("breeze"), store.path("kite"))
    with pytest.raises(TokenError, match="holds a breeze token"):
        store.read("kite")


def test_unknown_broker():
    with pytest.raises(ValueError):
        TokenStore("/tmp").path("zerodha")

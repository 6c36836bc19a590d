"""Trading events are typed: the events log's kind is the type name in snake case, the payload its fields, and the
JSON stays the documented schema (kinds and payload keys of docs/trading.md and docs/report.md)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

from tradesig.clock import ManualClock
from tradesig.store.events import EventLog
from tradesig.trade import events as ev
from tradesig.trade.service import event_sink

#: The kinds docs/trading.md lists (plus basket_marked, the open basket's mark to market).
DOCUMENTED = {"engine_start", "signal", "decision", "entry", "order_placed", "order_timeout", "order_reconciled",
              "order_retry", "order_rejected", "order_update", "position_opened", "entry_failed", "exit_signal",
              "exit_failed", "position_closed", "risk", "kill_switch", "manual_exit", "flatten_order",
              "flatten_skip", "signal_error", "basket_opened", "basket_closed", "basket_marked"}


def test_every_event_type_has_a_documented_kind():
    assert set(ev.EVENT_TYPES) == DOCUMENTED
    assert ev.kind_of(ev.OrderPlaced) == "order_placed" and ev.BasketOpened.__name__ == "BasketOpened"


def test_payload_omits_unset_optional_fields_and_flattens_records():
    assert ev.to_record(ev.ExitSignal("p1", "expiry")) == ("exit_signal", {"position": "p1", "reason": "expiry"})
    assert ev.ExitSignal("p1", "profit_lock", profit_pct=3.5, floor_pct=5.0, peak_pct=12.0).payload() == {
        "position": "p1", "reason": "profit_lock", "profit_pct": 3.5, "floor_pct": 5.0, "peak_pct": 12.0}
    # a required field that is None stays in the payload (the reader sees the key)
    update = ev.OrderUpdate("o1", None, "NIFTY24JUN22000CE", "BUY", "COMPLETE", 25, 25, 101.5, None, "quote")
    assert update.payload()["status_message"] is None and update.payload()["tag"] is None
    assert ev.PositionOpened({"id": "p1", "quantity": 25}).payload() == {"id": "p1", "quantity": 25}
    leg = ev.BasketLeg("NIFTY24JUN22000CE", "main", "SELL", 25, 100.0, None)
    opened = ev.BasketOpened("p1", "paper", "NIFTY", "S3", "bearish", "2024-06-10T05:45:00+00:00", None, None,
                             None, 34.2, None, True, (leg,))
    payload = opened.payload()
    assert payload["legs"] == [{"tradingsymbol": "NIFTY24JUN22000CE", "role": "main", "side": "SELL",
                                "quantity": 25, "entry_price": 100.0, "exit_price": None}]
    assert payload["exit_ts"] is None and "price_source" not in payload
    # keys in field order (the written payload is a function per type: tradesig.trade.events._payload_function)
    assert list(payload) == [f.name for f in fields(ev.BasketOpened) if f.name != "price_source"]
    failed = ev.EntryFailed("k", "no contract", charges={"total": 0.0})
    assert list(failed.payload()) == ["signal", "reason", "charges"]


def test_sink_writes_the_type_name_as_kind(tmp_path):
    clock = ManualClock(datetime(2024, 6, 10, 5, 45, tzinfo=UTC))
    emit = event_sink(tmp_path, clock)
    emit(ev.OrderPlaced(("X1",), "tsabcHE000", "NIFTY24JUN22000CE", "NFO", "BUY", 25, "MARKET", False, 2.0))
    emit(ev.KillSwitch("release", was_engaged=True))
    raw = (tmp_path / "events" / "2024-06-10.jsonl").read_text().splitlines()
    first = json.loads(raw[0])
    assert first["kind"] == "order_placed" and first["order_ids"] == ["X1"] and first["quantity"] == 25
    assert json.loads(raw[1]) == {"kind": "kill_switch", "ts": "2024-06-10T05:45:00.000000+00:00",
                                  "action": "release", "was_engaged": True}
    assert [e["kind"] for e in EventLog(tmp_path).read(clock.now().date())] == ["order_placed", "kill_switch"]

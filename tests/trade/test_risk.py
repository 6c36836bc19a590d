from datetime import timedelta

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tradesig.clock import ManualClock, ist, ist_date
from tradesig.config import RiskSettings
from tradesig.trade.risk import KillSwitch, RiskManager

ops = st.lists(st.one_of(
    st.tuples(st.just("enter"), st.sampled_from(["NIFTY", "BANKNIFTY", "SENSEX"])),
    st.tuples(st.just("exit"), st.just("")),
    st.tuples(st.just("pnl"), st.floats(-120000, 60000)),
    st.tuples(st.just("wait"), st.integers(1, 600)),
), max_size=120)


@given(ops, st.integers(1, 5), st.floats(1000, 100000), st.integers(0, 120))
@hsettings(max_examples=150, deadline=None)
def test_risk_limits_never_exceeded(sequence, max_positions, max_loss, cooldown):
    clock = ManualClock(ist(2024, 6, 3, 9, 15))
    rm = RiskManager(RiskSettings(max_positions=max_positions, max_daily_loss=max_loss,
                                  signal_cooldown_minutes=cooldown), clock)
    last_entry = {}
    breached_days = set()
    for op, arg in sequence:
        if op == "enter":
            decision = rm.can_enter(arg)
            if decision.allowed:
                # the invariants an allowed entry must satisfy
                assert rm.open_positions < max_positions
                assert ist_date(clock.now()) not in breached_days
                assert rm.day_pnl > -max_loss
                if arg in last_entry:
                    assert clock.now() - last_entry[arg] >= timedelta(minutes=cooldown)
                rm.on_entry(arg)
                last_entry[arg] = clock.now()
            assert rm.open_positions <= max_positions
        elif op == "exit":
            rm.on_exit()
        elif op == "pnl":
            rm.update_pnl(arg)
            if arg <= -max_loss:
                breached_days.add(ist_date(clock.now()))
        else:
            clock.advance(timedelta(minutes=arg))


def test_breach_reported_once_and_resets_next_day():
    clock = ManualClock(ist(2024, 6, 4, 10, 15))
    rm = RiskManager(RiskSettings(max_daily_loss=50000), clock)
    assert rm.can_enter("NIFTY").allowed
    assert rm.update_pnl(-50000.0) is True
    assert rm.update_pnl(-60000.0) is False
    assert rm.update_pnl(10.0) is False
    blocked = rm.can_enter("NIFTY")
    assert not blocked.allowed and "daily loss" in blocked.reason
    clock.set(ist(2024, 6, 5, 9, 15))
    assert rm.can_enter("NIFTY").allowed


def test_kill_switch_blocks_until_released(tmp_path):
    clock = ManualClock(ist(2024, 6, 4, 10, 15))
    ks = KillSwitch(tmp_path)
    rm = RiskManager(RiskSettings(), clock, ks)
    assert rm.can_enter("NIFTY").allowed
    ks.engage("manual flatten", clock.now())
    assert ks.engaged()["reason"] == "manual flatten"
    assert not rm.can_enter("NIFTY").allowed
    assert KillSwitch(tmp_path).engaged() is not None  # seen by another process
    assert ks.release() is True and ks.release() is False
    assert rm.can_enter("NIFTY").allowed


def test_closer_named_in_the_flag(tmp_path):
    import os
    import subprocess
    import sys

    clock = ManualClock(ist(2024, 6, 4, 10, 15))
    ks = KillSwitch(tmp_path)
    ks.engage("flatten", clock.now(), closer=os.getpid())
    assert ks.closing_elsewhere() is False          # our own pid is not "elsewhere"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ks.engage("flatten", clock.now(), closer=child.pid)
        assert ks.closing_elsewhere() is True
        ks.done()
        assert ks.closing_elsewhere() is False and ks.engaged()["done"] is True
        ks.engage("flatten", clock.now(), closer=child.pid)
    finally:
        child.kill()
        child.wait()
    assert ks.closing_elsewhere() is False          # the closer died: engines take over

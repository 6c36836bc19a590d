"""S1–S8 on hand-built weeks: each signal fires, and near-miss weeks (one condition flipped) do not.

The previous week is built so its context is known exactly (see ``prev_week``):
res zone 22400–22500 (pw_high 22500, max_body 22400), support zone 21900–22000 (pw_low 21900, min_body 22000),
margins 300 (3 × 100-point zones). pw_close 22100 → bias BULLISH; 22300 → BEARISH.
Some conditions are implied by others and cannot be flipped alone; those are named in the tests.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from tradesig.clock import IST
from tradesig.config import Settings
from tradesig.signals.strategies import (
    SIGNAL_SIDES,
    SignalEvent,
    WeeklyZoneEngine,
    choose_option,
)
from tradesig.signals.zones import Bias, HourlyBar, four_hour_bodies, weekly_context

PREV_MONDAY = date(2024, 6, 3)
MONDAY = date(2024, 6, 10)


def next_tuesday(_symbol: str, day: date) -> date:
    return day + timedelta(days=(1 - day.weekday()) % 7)


def bar(day: date, slot: int, o: float, h: float, lo: float, c: float) -> HourlyBar:
    start = datetime.combine(day, time(9, 15), tzinfo=IST) + timedelta(hours=slot)
    return HourlyBar(ts=start, open=o, high=h, low=lo, close=c)


def prev_week(pw_close: float = 22100.0, max_body: float = 22400.0, min_body: float = 22000.0,
              pw_high: float = 22500.0, pw_low: float = 21900.0, days: int = 3,
              monday: date = PREV_MONDAY) -> list[HourlyBar]:
    """``days`` × 7 hourly bars, flat midway between the body extremes except: day 0's first 4h block opens
    at ``max_body`` (its first bar's high reaches ``pw_high``), day 1's first block opens at ``min_body`` (low
    ``pw_low``), the last bar closes at ``pw_close``."""
    mid = (max_body + min_body) / 2
    out = []
    for d in range(days):
        day = monday + timedelta(days=d)
        for k in range(7):
            o = h = lo = c = mid
            if d == 0 and k == 0:
                o, h = max_body, pw_high
            if d == 1 and k == 0:
                o, lo = min_body, pw_low
            if d == days - 1 and k == 6:
                c = pw_close
            out.append(HourlyBar(ts=datetime.combine(day, time(9, 15), tzinfo=IST) + timedelta(hours=k),
                                 open=o, high=max(h, o, c), low=min(lo, o, c), close=c))
    return out


BULL = {"pw_close": 22100.0}
BEAR = {"pw_close": 22300.0}
# bias flips with pw_close fixed: a lower max_body makes 22100 nearer the resistance body (BEARISH);
# a higher min_body makes 22300 nearer the support body (BULLISH)
BULL_AS_BEAR = {"pw_close": 22100.0, "max_body": 22150.0}
BEAR_AS_BULL = {"pw_close": 22300.0, "min_body": 22250.0}


def run(week: list[tuple], prev: dict | None = None, signals=None, day_of: list[int] | None = None):
    """Feed the previous week and ``week`` (rows (o, h, l, c), all on Monday unless ``day_of`` gives the day
    index of each) through an engine; return (events of the current week, engine)."""
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday, signals=signals)
    for b in prev_week(**(prev or BULL)):
        assert engine.on_hourly_bar(b) is None
    events = []
    slots: dict[int, int] = {}
    for i, row in enumerate(week):
        d = day_of[i] if day_of else 0
        k = slots.get(d, 0)
        slots[d] = k + 1
        event = engine.on_hourly_bar(bar(MONDAY + timedelta(days=d), k, *row))
        if event is not None:
            events.append((i + 1, event))
    return events, engine


def fired(week, prev=None, **kw) -> tuple[int, str] | None:
    events, _ = run(week, prev, **kw)
    assert len(events) <= 1, "one signal per week"
    return (events[0][0], events[0][1].signal) if events else None


# ---------------------------------------------------------------------------------------------- the context


def test_context_from_the_built_week():
    ctx = weekly_context(prev_week(**BULL), MONDAY)
    assert (ctx.pw_high, ctx.pw_low, ctx.pw_close) == (22500.0, 21900.0, 22100.0)
    assert (ctx.max_body, ctx.min_body) == (22400.0, 22000.0)
    assert (ctx.res_bottom, ctx.res_top, ctx.sup_bottom, ctx.sup_top) == (22400.0, 22500.0, 21900.0, 22000.0)
    assert (ctx.margin_high, ctx.margin_low) == (300.0, 300.0)
    assert ctx.bias is Bias.BULLISH
    assert weekly_context(prev_week(**BEAR), MONDAY).bias is Bias.BEARISH
    assert weekly_context(prev_week(**BULL_AS_BEAR), MONDAY).bias is Bias.BEARISH
    assert weekly_context(prev_week(**BEAR_AS_BULL), MONDAY).bias is Bias.BULLISH
    assert weekly_context(prev_week(pw_close=22200.0), MONDAY).bias is Bias.NEUTRAL


def test_four_hour_bodies_split_at_1315():
    bars = [bar(MONDAY, k, 100 + k, 200, 50, 110 + k) for k in range(7)]
    assert four_hour_bodies(bars) == [(100, 113), (104, 116)]


def test_margin_floor_is_five_ticks():
    prev = prev_week(pw_close=22100.0, max_body=22500.0, pw_high=22500.0, min_body=21900.0)
    ctx = weekly_context(prev, MONDAY)
    assert ctx.res_top == ctx.res_bottom == 22500.0
    assert ctx.margin_high == pytest.approx(0.25) and ctx.margin_low == pytest.approx(0.25)


def test_no_context_without_a_full_week():
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    # a previous week of 14 bars (2 days) is not a context: the S1 week below fires nothing
    for b in prev_week(days=2):
        engine.on_hourly_bar(b)
    s1 = [(21950, 21960, 21850, 21880), (21880, 21920, 21870, 21900)]
    assert [engine.on_hourly_bar(bar(MONDAY, k, *r)) for k, r in enumerate(s1)] == [None, None]
    assert engine.context is None


def test_short_week_is_skipped_for_the_context():
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    for b in prev_week(**BULL):  # full week, 21 bars
        engine.on_hourly_bar(b)
    short = prev_week(pw_close=21000.0, pw_low=20000.0, min_body=20500.0, days=2, monday=PREV_MONDAY + timedelta(7))
    for b in short:  # 14 bars: not a context week
        engine.on_hourly_bar(b)
    engine.on_hourly_bar(bar(MONDAY + timedelta(7), 0, 22200, 22210, 22190, 22200))
    assert engine.context is not None
    assert engine.context.source_week == PREV_MONDAY and engine.context.pw_low == 21900.0


# ------------------------------------------------------------------------------------------------------ S1

S1_F = (21950, 21960, 21850, 21880)
S1_C = (21880, 21920, 21870, 21900)


def test_s1_fires():
    events, _ = run([S1_F, S1_C])
    (n, e), = events
    assert n == 2 and e.signal == "S1" and e.side == "bullish"
    assert e.stop_loss == pytest.approx(21850 - 70)  # f.low − |f.open − f.close|
    assert e.option.option_type == "PE" and e.option.strike == 21750 and e.option.hedge_strike == 21550
    assert e.entry_price == 21900


@pytest.mark.parametrize("week", [
    [S1_F, (21880, 21890, 21840, 21850), S1_C],          # n = 3, not 2
    [(21890, 21960, 21850, 21880), S1_C],                # f.open < sup_bottom
    [(21950, 21960, 21850, 21910), S1_C],                # f.close ≥ sup_bottom
    [S1_F, (21880, 21890, 21840, 21850)],                # c.close ≤ f.low
], ids=["n3", "f_open_below", "f_close_inside", "c_close_not_above_f_low"])
def test_s1_near_misses(week):
    assert fired(week) != (len(week) if len(week) == 2 else 3, "S1")
    assert all(e.signal != "S1" for _, e in run(week)[0])


# ------------------------------------------------------------------------------------------------------ S2

S2_F = (22050, 22150, 21980, 22120)
S2_C = (22120, 22180, 22100, 22150)


def test_s2_fires():
    assert fired([S2_F, S2_C]) == (2, "S2")
    (_, e), = run([S2_F, S2_C])[0]
    assert e.stop_loss == 21900 and e.option.strike == 21900 and e.option.hedge_strike == 21700


def test_s2_fires_away_from_support_when_within_margins():
    # f.low above sup_top, but |pw_close − sup_bottom| = 200 and |f.open − sup_bottom| = 150 are within 300
    assert fired([(22050, 22150, 22010, 22120), S2_C]) == (2, "S2")


@pytest.mark.parametrize("week,prev", [
    ([S2_F, (22120, 22130, 22080, 22090), S2_C], BULL),     # n = 3
    ([S2_F, S2_C], BULL_AS_BEAR),                           # bias not BULLISH
    ([(21900, 22150, 21890, 22120), S2_C], BULL),           # f.open ≤ pw_low
    ([(22250, 22260, 22010, 22120), S2_C], BULL),           # f.low > sup_top and f.open beyond the margin
    ([(22050, 22150, 21980, 22090), S2_C], BULL),           # f.close < pw_close (f.close ≥ sup_bottom is implied)
    ([(22150, 22250, 22140, 22200), (22200, 22210, 22110, 22120)], BULL),  # c.close < f.low (c > pw_close)
    ([S2_F, (22120, 22180, 22090, 22100)], BULL),           # c.close ≤ pw_close (c > sup_bottom is implied)
], ids=["n3", "bias", "f_open", "proximity", "f_close", "c_below_f_low", "c_close"])
def test_s2_near_misses(week, prev):
    assert all(e.signal != "S2" for _, e in run(week, prev)[0])


def test_s2_c_below_f_low_base_fires():
    assert fired([(22150, 22250, 22140, 22200), (22200, 22210, 22140, 22150)]) == (2, "S2")


# ------------------------------------------------------------------------------------------------------ S3

S3_F = (22350, 22450, 22300, 22380)
S3_C = (22380, 22400, 22320, 22340)


def test_s3_a_fires():
    assert fired([S3_F, S3_C], BEAR) == (2, "S3")
    (_, e), = run([S3_F, S3_C], BEAR)[0]
    assert e.side == "bearish" and e.stop_loss == 22500
    assert e.option.option_type == "CE" and e.option.strike == 22500 and e.option.hedge_strike == 22700


def test_s3_b_fires_later_in_the_week():
    week = [S3_F, (22380, 22460, 22310, 22440), (22440, 22445, 22200, 22250)]
    assert fired(week, BEAR) == (3, "S3")


def test_s3_fires_below_the_zone_within_margins():
    # f.high < res_bottom, f.open 50 from it (≤ margin 300), c.high reaches the zone
    assert fired([(22350, 22390, 22300, 22380), (22380, 22410, 22320, 22385)], BEAR) == (2, "S3")


@pytest.mark.parametrize("week,prev", [
    ([S3_F, S3_C], BEAR_AS_BULL),                                        # bias not BEARISH
    ([(22050, 22390, 22040, 22380), S3_C], BEAR),                        # below zone and f.open beyond margin
    ([(22350, 22600, 22300, 22550), (22550, 22560, 22320, 22340)], BEAR),  # f.close > pw_high
    ([S3_F, (22380, 22460, 22310, 22440), (22440, 22445, 22330, 22340)], BEAR),  # n = 3 and not (B)
    ([(22350, 22390, 22300, 22380), (22380, 22410, 22320, 22395)], BEAR),  # c.close ≥ f.high
    ([S3_F, (22380, 22440, 22350, 22420)], BEAR),                        # c.close ≥ res_bottom
    ([(22350, 22390, 22300, 22380), (22380, 22395, 22320, 22385)], BEAR),  # neither high reaches the zone
], ids=["bias", "proximity", "f_close", "n3", "c_not_below_f_high", "c_in_zone", "no_touch"])
def test_s3_near_misses(week, prev):
    assert all(e.signal != "S3" for _, e in run(week, prev)[0])


def test_s3_b_near_miss_prior_low():
    # bar 3 closes below f.low but not below bar 2's low (a wick); bar 2 fired nothing (closed in the zone)
    week = [S3_F, (22380, 22460, 22250, 22440), (22440, 22445, 22255, 22260)]
    assert all(e.signal != "S3" for _, e in run(week, BEAR)[0])
    week_ok = [S3_F, (22380, 22460, 22280, 22440), (22440, 22445, 22255, 22260)]
    assert fired(week_ok, BEAR) == (3, "S3")


def test_s3_b_near_miss_c_not_below_f_low():
    week = [S3_F, (22380, 22460, 22310, 22440), (22440, 22445, 22290, 22300)]
    assert all(e.signal != "S3" for _, e in run(week, BEAR)[0])


# ------------------------------------------------------------------------------------------------------ S4

S4_F = (22550, 22600, 22520, 22580)
S4_C = (22580, 22650, 22570, 22620)


def test_s4_fires_on_f_date():
    assert fired([S4_F, S4_C], BEAR) == (2, "S4")
    (_, e), = run([S4_F, S4_C], BEAR)[0]
    assert e.side == "bullish" and e.stop_loss == 22520 and e.option.strike == 22500


def test_s4_breakout_recording_on_a_later_date():
    week = [S4_F, (22580, 22590, 22560, 22570),          # Monday: closes stay ≤ f.high
            (22560, 22640, 22550, 22630),                 # Tuesday: green, > f.high, high ≥ prior highs: recorded
            (22630, 22650, 22600, 22645)]                 # closes above breakout_high 22640: fires
    events, engine = run(week, BEAR, day_of=[0, 0, 1, 1])
    assert [(n, e.signal) for n, e in events] == [(4, "S4")]
    assert engine.week.breakout_high == 22640


@pytest.mark.parametrize("third,why", [
    ((22640, 22630, 22550, 22560), "red bar is not a breakout bar"),
    ((22560, 22599, 22550, 22598), "close not above f.high"),
], ids=["red", "below_f_high"])
def test_s4_no_recording(third, why):
    week = [S4_F, (22580, 22620, 22560, 22570), third, (22630, 22700, 22600, 22690)]
    events, engine = run(week[:3], BEAR, day_of=[0, 0, 1])
    assert engine.week.breakout_high is None, why
    # the next green bar at a new high is recorded instead: no signal on it either
    events, engine = run(week, BEAR, day_of=[0, 0, 1, 1])
    assert engine.week.breakout_high == 22700 and events == []


def test_s4_recording_needs_high_at_prior_highs():
    # Tuesday's first bar closes above f.high but its high is below Monday's 22700 high: not recorded;
    # the next bar makes a new high → recorded (no signal on it), and the bar after fires
    week = [S4_F, (22580, 22700, 22560, 22590), (22560, 22650, 22550, 22640), (22640, 22710, 22630, 22705),
            (22705, 22720, 22700, 22715)]
    events, engine = run(week, BEAR, day_of=[0, 0, 1, 1, 1])
    assert engine.week.breakout_high == 22710
    assert [(n, e.signal) for n, e in events] == [(5, "S4")]


def test_s4_trigger_close_not_above_breakout_high():
    week = [S4_F, (22580, 22590, 22560, 22570), (22560, 22640, 22550, 22630), (22630, 22640, 22600, 22640)]
    events, _ = run(week, BEAR, day_of=[0, 0, 1, 1])
    assert events == []


@pytest.mark.parametrize("week,prev", [
    ([S4_F, S4_C], BEAR_AS_BULL),                          # bias not BEARISH (S7 fires instead)
    ([(22500, 22600, 22490, 22580), S4_C], BEAR),          # f.open not above res_top
    ([S4_F, (22580, 22620, 22570, 22600)], BEAR),          # trigger does not hold (close = f.high)
], ids=["bias", "f_open", "no_trigger"])
def test_s4_near_misses(week, prev):
    assert all(e.signal != "S4" for _, e in run(week, prev)[0])


def test_s4_before_s7_priority():
    # the same week fires S7 when S4 is not evaluated, S4 when it is
    assert fired([S4_F, S4_C], BEAR) == (2, "S4")
    assert fired([S4_F, S4_C], BEAR, signals=[s for s in SIGNAL_SIDES if s != "S4"]) == (2, "S7")


# ------------------------------------------------------------------------------------------------------ S5

S5_F = (21850, 21880, 21800, 21820)
S5_C = (21820, 21830, 21750, 21780)


def test_s5_fires():
    assert fired([S5_F, S5_C]) == (2, "S5")
    (_, e), = run([S5_F, S5_C])[0]
    assert e.side == "bearish" and e.stop_loss == 21880 and e.option.strike == 21900


@pytest.mark.parametrize("week,prev", [
    ([S5_F, S5_C], BULL_AS_BEAR),                      # bias not BULLISH
    ([(21900, 21910, 21800, 21820), S5_C], BULL),      # f.open ≥ sup_bottom
    ([(21850, 21950, 21800, 21910), S5_C], BULL),      # f.close ≥ sup_bottom (= pw_low: the two are one here)
    ([S5_F, (21820, 21830, 21790, 21800)], BULL),      # c.close ≥ f.low
], ids=["bias", "f_open", "f_close", "c_close"])
def test_s5_near_misses(week, prev):
    assert all(e.signal != "S5" for _, e in run(week, prev)[0])


# ------------------------------------------------------------------------------------------------------ S6

NO_S3 = [s for s in SIGNAL_SIDES if s != "S3"]


def test_s6_is_shadowed_by_s3_as_written():
    # S6's conditions imply S3's (res_top = pw_high): with all rules S3 fires; without S3, S6 does
    assert fired([S3_F, S3_C], BEAR) == (2, "S3")
    assert fired([S3_F, S3_C], BEAR, signals=NO_S3) == (2, "S6")
    (_, e), = run([S3_F, S3_C], BEAR, signals=NO_S3)[0]
    assert e.stop_loss == 22500 and e.option.option_type == "CE"


def test_s6_b_fires():
    week = [S3_F, (22380, 22460, 22310, 22440), (22440, 22445, 22200, 22250)]
    assert fired(week, BEAR, signals=NO_S3) == (3, "S6")


@pytest.mark.parametrize("week,prev", [
    ([S3_F, S3_C], BEAR_AS_BULL),                                   # bias
    ([(22350, 22390, 22300, 22380), (22380, 22410, 22320, 22385)], BEAR),  # f.high < res_bottom
    ([(22350, 22600, 22300, 22550), (22550, 22560, 22320, 22340)], BEAR),  # f.close > res_top (= pw_high)
    ([S3_F, (22380, 22460, 22310, 22440), (22440, 22445, 22330, 22340)], BEAR),  # n = 3, not (B)
    ([S3_F, (22380, 22440, 22350, 22420)], BEAR),                   # c.close ≥ res_bottom
    ([S3_F, (22380, 22460, 22350, 22455)], BEAR),                   # c.close ≥ f.high
], ids=["bias", "f_high", "f_close", "n3", "c_in_zone", "c_above_f_high"])
def test_s6_near_misses(week, prev):
    assert all(e.signal != "S6" for _, e in run(week, prev, signals=NO_S3)[0])


# ------------------------------------------------------------------------------------------------------ S7

S7_F = (22250, 22300, 22150, 22250)
S7_C = (22250, 22350, 22240, 22340)


def test_s7_fires():
    assert fired([S7_F, S7_C]) == (2, "S7")
    (_, e), = run([S7_F, S7_C])[0]
    assert e.stop_loss == 22150 and e.option.strike == 22150 and e.option.hedge_strike == 21950


def test_s7_fires_above_pw_high():
    assert fired([S7_F, (22250, 22530, 22240, 22520)]) == (2, "S7")


@pytest.mark.parametrize("week", [
    [S7_F, (22250, 22460, 22240, 22450)],                                # 0.22 % under pw_high: filtered
    [S7_F, (22250, 22400, 22240, 22280), (22280, 22360, 22270, 22350)],  # close not above bar 2's high
    [S7_F, (22250, 22300, 22240, 22300)],                                # trigger: close = f.high
    [S7_F, (22250, 22460, 22240, 22450), (22450, 22610, 22440, 22600)],  # bar 3 passes but no rising edge
], ids=["near_pw_high", "prior_high", "no_trigger", "not_rising_edge"])
def test_s7_near_misses(week):
    assert all(e.signal != "S7" for _, e in run(week)[0])


def test_s7_prior_high_base_fires():
    assert fired([S7_F, (22250, 22340, 22240, 22280), (22280, 22360, 22270, 22350)]) == (3, "S7")


# ------------------------------------------------------------------------------------------------------ S8

S8_F = (22380, 22450, 22350, 22370)
S8_C = (22370, 22380, 22300, 22320)


def test_s8_fires():
    assert fired([S8_F, S8_C]) == (2, "S8")
    (_, e), = run([S8_F, S8_C])[0]
    assert e.side == "bearish" and e.stop_loss == 22450 and e.option.strike == 22450
    assert e.option.hedge_strike == 22650


def test_s8_breakdown_recording_on_a_later_date():
    week = [S8_F, (22370, 22390, 22355, 22360),          # Monday: no close below f.low
            (22380, 22385, 22290, 22300),                 # Tuesday: red, < f.low, low ≤ prior lows: recorded
            (22300, 22310, 22280, 22285)]                 # closes below breakdown_low 22290: fires
    events, engine = run(week, day_of=[0, 0, 1, 1])
    assert engine.week.breakdown_low == 22290
    assert [(n, e.signal) for n, e in events] == [(4, "S8")]


def test_s8_not_recorded_on_green_bar():
    week = [S8_F, (22370, 22390, 22355, 22360), (22280, 22385, 22270, 22300), (22300, 22310, 22260, 22265)]
    events, engine = run(week, day_of=[0, 0, 1, 1])
    assert engine.week.breakdown_low == 22260  # bar 3 (green) skipped; bar 4 recorded, so no signal yet
    assert events == []


@pytest.mark.parametrize("week", [
    [(22380, 22390, 22350, 22370), S8_C],                                 # no bar reached res_bottom
    [(22480, 22550, 22450, 22470), (22470, 22475, 22410, 22420)],         # c.close ≥ res_bottom
    [S8_F, (22370, 22380, 22300, 22360), (22360, 22365, 22320, 22330)],   # not below bar 2's low
    [S8_F, (22370, 22380, 22350, 22350)],                                 # trigger: close = f.low
], ids=["no_touch", "c_in_zone", "prior_low", "no_trigger"])
def test_s8_near_misses(week):
    assert all(e.signal != "S8" for _, e in run(week)[0])


def test_s8_bases_of_near_misses_fire():
    assert fired([(22480, 22550, 22450, 22470), (22470, 22475, 22380, 22390)]) == (2, "S8")
    assert fired([S8_F, (22370, 22380, 22340, 22360), (22360, 22365, 22320, 22330)]) == (3, "S8")


# ------------------------------------------------------------------------------------- order, once a week


def test_one_signal_per_week_then_next_week_again():
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    for b in prev_week(**BULL):
        engine.on_hourly_bar(b)
    week1 = [S1_F, S1_C, (21900, 22000, 21890, 21990), (21990, 22000, 21700, 21710), (21710, 21720, 21600, 21610)]
    got = [engine.on_hourly_bar(bar(MONDAY, k, *r)) for k, r in enumerate(week1)]
    assert [e.signal for e in got if e] == ["S1"]
    assert engine.week.fired == "S1"
    # next week: context from week 1 (only 5 bars: not a full week → still the built week); S1 again
    nxt = MONDAY + timedelta(days=7)
    got2 = [engine.on_hourly_bar(bar(nxt, k, *r)) for k, r in enumerate([S1_F, S1_C])]
    assert [e.signal for e in got2 if e] == ["S1"]


def test_s1_before_s5_and_s3_before_s6_priority():
    # a bar satisfying two rules fires the earlier one; dropping it fires the later one
    assert fired([S3_F, S3_C], BEAR) == (2, "S3")
    assert fired([S3_F, S3_C], BEAR, signals=NO_S3) == (2, "S6")
    assert fired([S1_F, S1_C]) == (2, "S1")


def test_replayed_bar_is_ignored():
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    for b in prev_week(**BULL):
        engine.on_hourly_bar(b)
    f, c = bar(MONDAY, 0, *S1_F), bar(MONDAY, 1, *S1_C)
    assert engine.on_hourly_bar(f) is None
    assert engine.on_hourly_bar(c).signal == "S1"
    assert engine.on_hourly_bar(c) is None and len(engine.week.bars) == 2


def test_scan_equals_streaming():
    bars = prev_week(**BULL) + [bar(MONDAY, k, *r) for k, r in enumerate([S2_F, S2_C])]
    streamed = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    got = [e for e in (streamed.on_hourly_bar(b) for b in bars) if e]
    scanned = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday).scan(bars)
    assert got == scanned and len(got) == 1


def test_event_payload_round_trip():
    (_, e), = run([S2_F, S2_C])[0]
    assert isinstance(e, SignalEvent)
    d = e.to_dict()
    assert d["key"] == f"NIFTY|S2|{e.bar_ts.isoformat()}"
    assert d["context"]["bias"] == "BULLISH" and d["option"]["option_type"] == "PE"
    assert d["entry_ts"] == (e.bar_ts + timedelta(hours=1)).isoformat()


# ---------------------------------------------------------------------------------------------- the option


def test_option_rounding_and_hedge():
    entry = datetime(2024, 6, 10, 10, 15, tzinfo=IST)
    pe = choose_option("NIFTY", "bullish", 22049.95, entry, strike_step=50, hedge_offset=200, expiry_fn=next_tuesday)
    assert (pe.option_type, pe.strike, pe.hedge_strike) == ("PE", 22000, 21800)
    ce = choose_option("NIFTY", "bearish", 22000.05, entry, strike_step=50, hedge_offset=200, expiry_fn=next_tuesday)
    assert (ce.option_type, ce.strike, ce.hedge_strike) == ("CE", 22050, 22250)
    exact = choose_option("NIFTY", "bearish", 22000.0, entry, strike_step=50, hedge_offset=200,
                          expiry_fn=next_tuesday)
    assert exact.strike == 22000
    bank = choose_option("BANKNIFTY", "bullish", 49999.0, entry, strike_step=100, hedge_offset=200,
                         expiry_fn=next_tuesday)
    assert (bank.strike, bank.hedge_strike) == (49900, 49700)
    assert pe.expiry == date(2024, 6, 11)


def test_expiry_day_cutoff():
    tue = date(2024, 6, 11)
    kw = {"strike_step": 50, "hedge_offset": 200, "expiry_fn": next_tuesday, "cutoff": time(12, 0)}
    at_noon = choose_option("NIFTY", "bullish", 22000, datetime.combine(tue, time(12, 0), IST), **kw)
    after = choose_option("NIFTY", "bullish", 22000, datetime.combine(tue, time(12, 15), IST), **kw)
    assert at_noon.expiry == tue
    assert after.expiry == date(2024, 6, 18)


def test_engine_uses_bar_close_for_the_cutoff():
    # a signal on the 11:15 bar of expiry Tuesday enters at 12:15 > 12:00 → next week's expiry
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    for b in prev_week(**BULL):
        engine.on_hourly_bar(b)
    tue = MONDAY + timedelta(days=1)
    week = [bar(MONDAY, 0, *S7_F)] + [bar(tue, k, 22250, 22260, 22240, 22250) for k in range(2)]
    week.append(bar(tue, 2, 22250, 22350, 22240, 22340))  # 11:15 bar: closes above f.high... on a later date
    for b in week:
        engine.on_hourly_bar(b)
    assert engine.week.breakout_high == 22350
    e = engine.on_hourly_bar(bar(tue, 3, 22340, 22370, 22330, 22360))  # 12:15 bar, entry 13:15
    assert e is not None and e.signal == "S7"
    assert e.option.expiry == date(2024, 6, 18)
    assert e.entry_ts.astimezone(IST).time() == time(13, 15)


def test_last_bar_of_day_ends_at_close():
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    assert engine._bar_end(bar(MONDAY, 6, 1, 1, 1, 1)).astimezone(IST).time() == time(15, 30)


def test_unknown_signal_name_refused():
    with pytest.raises(ValueError):
        WeeklyZoneEngine("NIFTY", Settings(), signals=["S9"])

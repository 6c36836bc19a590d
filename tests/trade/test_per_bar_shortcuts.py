"""The backtest's per-bar shortcuts give the answers of the general paths: hourly_bar_end on datetime.UTC bars
(UTC arithmetic, session closes looked up per date) equals it on the same instants in IST or ZoneInfo('UTC');
a modelled quote is reused only while contract, spot, spot time and IV model are the same; to_ist's memo answers
for the object it was given."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tradesig.clock import IST, to_ist
from tradesig.config import BacktestSettings
from tradesig.trade.hourly import hourly_bar_end
from tradesig.trade.instruments import OptionContract
from tradesig.trade.quotes import ModelledPremiums, SpotBook
from tradesig.volatility import FlatIV

ZUTC = ZoneInfo("UTC")

# bar starts, IST wall time: a regular day (first, a middle and the short last bar 15:15-15:30), the 2019 Muhurat
# session (18:15-19:15, shipped special session) and a Saturday budget session
STARTS = [datetime(2024, 1, 8, h, m, tzinfo=IST) for h, m in ((9, 15), (12, 15), (15, 15), (15, 45))] + [
    datetime(2019, 10, 27, 18, 15, tzinfo=IST), datetime(2019, 10, 27, 18, 45, tzinfo=IST),
    datetime(2020, 2, 1, 15, 15, tzinfo=IST)]


@pytest.mark.parametrize("start", STARTS, ids=lambda d: d.strftime("%Y-%m-%d_%H%M"))
def test_hourly_bar_end_fast_path_equals_general_path(start):
    general = hourly_bar_end(start)                       # an IST bar: the general path
    fast = hourly_bar_end(start.astimezone(UTC))          # datetime.UTC: the shortcut
    zoned = hourly_bar_end(start.astimezone(ZUTC))        # polars' ZoneInfo('UTC'): the general path
    assert fast == general == zoned
    assert fast.tzinfo is UTC and zoned.tzinfo is ZUTC and general.tzinfo is IST
    assert fast - start.astimezone(UTC) <= timedelta(hours=1)


def test_hourly_bar_end_short_bars_at_the_close():
    assert to_ist(hourly_bar_end(datetime(2024, 1, 8, 9, 45, tzinfo=UTC))).time().isoformat() == "15:30:00"
    muhurat = hourly_bar_end(datetime(2019, 10, 27, 18, 45, tzinfo=IST).astimezone(UTC))
    assert to_ist(muhurat) == datetime(2019, 10, 27, 19, 15, tzinfo=IST)


def _contract(strike: float) -> OptionContract:
    return OptionContract("NIFTY", f"NIFTY24JAN{int(strike)}CE", "NFO", date(2024, 1, 11), strike, "CE", 50,
                          modelled=True)


def test_modelled_quote_reused_only_while_its_inputs_are_the_same():
    spots = SpotBook()
    premiums = ModelledPremiums(spots, BacktestSettings())
    contract = _contract(21700.0)
    t0 = datetime(2024, 1, 8, 4, 45, tzinfo=UTC)
    spots.update("NIFTY", 21650.0, t0)
    first = premiums.quote(contract)
    assert premiums.quote(contract) is first                               # same inputs: the same quote
    spots.update("NIFTY", 21700.0, t0)                                     # another spot at the same time
    moved = premiums.quote(contract)
    assert moved is not first and moved.ltp > first.ltp
    spots.update("NIFTY", 21700.0, t0 + timedelta(hours=1))                # the same spot an hour later
    later = premiums.quote(contract)
    assert later is not moved and later.ts == t0 + timedelta(hours=1) and later.ltp < moved.ltp
    premiums.iv_models["NIFTY"] = FlatIV(0.30, "flat 30% (test)")          # another IV model: priced again
    repriced = premiums.quote(contract)
    assert repriced.ltp > later.ltp and repriced.extra["iv_source"] == "flat 30% (test)"
    other = _contract(21800.0)                                             # another contract: its own price
    assert premiums.quote(other).ltp < repriced.ltp
    # a fresh source over the same spot gives the same price as the reused one
    fresh = ModelledPremiums(spots, BacktestSettings(), iv_models={"NIFTY": FlatIV(0.30, "flat 30% (test)")})
    assert fresh.quote(contract) == repriced


def test_to_ist_memo_answers_for_each_object():
    a = datetime(2024, 1, 8, 4, 45, tzinfo=UTC)
    b = datetime(2024, 1, 8, 20, 0, tzinfo=UTC)
    assert to_ist(a) == to_ist(a) == datetime(2024, 1, 8, 10, 15, tzinfo=IST)
    assert to_ist(b).date() == date(2024, 1, 9)
    assert to_ist(a).date() == date(2024, 1, 8)
    with pytest.raises(ValueError):
        to_ist(datetime(2024, 1, 8, 4, 45))

"""The sim's option ticks over the whole replayed 2024-06-04 (NIFTY fell ~5 %): never below intrinsic, on the 0.05
tick, re-priced off the spot of every instant, with a bid/ask spread — exercised in-process, without a network."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from tests.conftest import shared_file
from tradesig.feed import kite_protocol as kp
from tradesig.pricing import black_scholes, year_fraction
from tradesig.sim import SimConfig, SimExchange
from tradesig.sim.options import intrinsic
from tradesig.sim.replay import from_epoch

DAY = date(2024, 6, 4)
NIFTY_1M = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"
NIFTY = 256265


class CapturingWs:
    """Stands in for a ticker connection: keeps every binary frame the sim sends."""

    closed = False

    def __init__(self) -> None:
        self.query = {"access_token": ["t"]}
        self.frames: list[bytes] = []

    def send_binary(self, data: bytes) -> bool:
        self.frames.append(data)
        return True

    def send_text(self, text: str) -> bool:
        return True


@pytest.fixture(scope="module")
def replayed(monkeypatch_module):
    """Replay the whole day through the sim's replay and ticker hub; (sim, options, [(spot, ticks)] per step)."""
    seen: dict = {}
    import tradesig.sim.exchange as ex

    real = ex.build_iv_model

    def spy(symbol, **kw):
        seen[symbol] = kw
        return real(symbol, **kw)

    monkeypatch_module.setattr(ex, "build_iv_model", spy)
    sim = SimExchange(SimConfig(data_files=[shared_file(NIFTY_1M)], day=DAY))
    spot0 = sim.market.spot("NIFTY")
    week = min(i.expiry for i in sim.catalog.instruments if i.underlying == "NIFTY" and i.instrument_type == "CE")
    options = [i for i in sim.catalog.instruments if i.underlying == "NIFTY" and i.expiry == week
               and i.instrument_type in ("CE", "PE") and abs(i.strike - spot0) <= 400]
    ws = CapturingWs()
    sim.ticker.opened(ws)
    conn = sim.ticker.find(ws)
    sim.ticker.control(conn, kp.Subscribe(tuple(i.instrument_token for i in options)), sim.clock.now())
    sim.ticker.control(conn, kp.SetMode("full", tuple(i.instrument_token for i in options)), sim.clock.now())
    ws.frames.clear()
    steps = []
    for ts in np.unique(sim.schedule.ts).tolist():
        now = from_epoch(ts)
        batch, touched = sim.replay.advance(now)
        sim.ticker.broadcast(batch, touched, [], now)
        ticks = [t for f in ws.frames for t in kp.decode_frame(f).ticks.to_dicts()]
        ws.frames.clear()
        steps.append((now, sim.market.spot("NIFTY"), ticks))
    assert sim.replay.done
    return sim, {i.instrument_token: i for i in options}, steps, seen


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_iv_model_gets_the_index_daily_closes_before_the_day(replayed):
    sim, _, _, seen = replayed
    closes = seen["NIFTY"]["daily_closes"]
    assert closes[-1] == (date(2024, 6, 3), 23305.95) and all(d < DAY for d, _ in closes) and len(closes) > 90
    assert seen["NIFTY"]["fallback"] == sim.config.iv


def test_every_option_tick_is_at_or_above_intrinsic_on_the_tick_grid(replayed):
    _, options, steps, _ = replayed
    n = 0
    for _, spot, ticks in steps:
        assert len(ticks) == len(options)  # every subscribed option is re-sent at every move of spot
        for t in ticks:
            ins = options[t["instrument_token"]]
            ltp = t["last_price"]
            assert ltp >= intrinsic(spot, ins.strike, ins.instrument_type) - 1e-9, (ins.tradingsymbol, spot, ltp)
            assert abs(ltp * 20 - round(ltp * 20)) < 1e-6 and ltp >= 0.05
            bid, ask = t["depth"]["buy"][0]["price"], t["depth"]["sell"][0]["price"]
            assert 0 < bid <= ltp < ask
            n += 1
    assert n > 100_000  # the whole day: ~4,500 moves of spot × every subscribed option


def test_option_ltps_move_whenever_spot_moves(replayed):
    """Never stale: whenever the model's own premium moves by three ticks or more between two moves of spot
    (delta and the smile's IV change together), the quoted LTP moves too."""
    sim, options, steps, _ = replayed
    pricer = sim.market.options
    last: dict[int, tuple[float, float]] = {}
    checked = 0
    for now, spot, ticks in steps:
        for t in ticks:
            ins = options[t["instrument_token"]]
            tau = year_fraction(now, sim.market.expiry_close(ins))
            sigma = pricer.iv("NIFTY", spot, ins.strike, tau)
            model = black_scholes(spot, ins.strike, tau, sim.market.rate, sigma, ins.instrument_type)
            prev = last.get(ins.instrument_token)
            last[ins.instrument_token] = (model, t["last_price"])
            if prev is None:
                continue
            if abs(model - prev[0]) >= 0.15:  # a move of three ticks or more in the model
                assert t["last_price"] != prev[1], (ins.tradingsymbol, prev, spot, t["last_price"])
                checked += 1
    assert checked > 10_000


def test_spread_widens_for_cheap_far_strikes_and_quotes_name_the_iv_source(replayed):
    sim, options, _, _ = replayed
    now = sim.clock.now()
    spot = sim.market.spot("NIFTY")
    week = min(i.expiry for i in options.values())
    calls = [i for i in sim.catalog.instruments if i.underlying == "NIFTY" and i.expiry == week
             and i.instrument_type == "CE"]
    atm = min(calls, key=lambda i: abs(i.strike - spot))
    far = min(calls, key=lambda i: abs(i.strike - spot - 800))
    rel = {}
    for ins in (atm, far):
        q = sim.market.quote(ins, now)
        bid, ask = q["depth"]["buy"][0]["price"], q["depth"]["sell"][0]["price"]
        rel[ins.strike] = (ask - bid) / q["last_price"]
        assert "modelled" in q["price_source"] and sim.market.options.source("NIFTY") in q["price_source"]
    assert q["last_price"] < sim.market.quote(atm, now)["last_price"]
    assert rel[far.strike] > 5 * rel[atm.strike]
    assert "modelled" in sim.state()["models"]["options"]

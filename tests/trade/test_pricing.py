import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradesig.pricing import black_scholes, greeks, implied_vol


def test_hull_reference_values():
    # Hull, Example 15.6: S=42, K=40, r=10%, sigma=20%, T=0.5 -> call 4.76, put 0.81
    assert black_scholes(42, 40, 0.5, 0.10, 0.20, "CE") == pytest.approx(4.7594, abs=1e-3)
    assert black_scholes(42, 40, 0.5, 0.10, 0.20, "PE") == pytest.approx(0.8086, abs=1e-3)


@given(st.floats(1000, 60000), st.floats(0.8, 1.2), st.floats(0.0005, 0.2), st.floats(0.05, 0.8))
def test_put_call_parity(spot, moneyness, t, iv):
    strike = round(spot * moneyness, 0)
    c = black_scholes(spot, strike, t, 0.065, iv, "CE")
    p = black_scholes(spot, strike, t, 0.065, iv, "PE")
    assert c - p == pytest.approx(spot - strike * math.exp(-0.065 * t), abs=1e-6 * spot)


def test_expiry_is_intrinsic():
    assert black_scholes(24000, 23900, 0.0, 0.065, 0.15, "PE") == 0.0
    assert black_scholes(24000, 23900, 0.0, 0.065, 0.15, "CE") == pytest.approx(100.0)


def test_implied_vol_roundtrip_and_greeks():
    price = black_scholes(24000, 23800, 5 / 365, 0.065, 0.14, "PE")
    assert implied_vol(price, 24000, 23800, 5 / 365, 0.065, "PE") == pytest.approx(0.14, abs=1e-4)
    g = greeks(24000, 23800, 5 / 365, 0.065, 0.14, "PE")
    assert -1 < g.delta < 0 and g.gamma > 0 and g.vega > 0
    with pytest.raises(ValueError):
        black_scholes(24000, 23800, 1, 0.065, 0.14, "XX")

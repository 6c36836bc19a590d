"""tradesig.volatility: IV file, realised-volatility estimate, skew, flat fallback (and the calibration's data)."""

import csv
import math
from datetime import date

import pytest

from tests.conftest import shared_file
from tradesig.errors import DataError
from tradesig.pricing import black_scholes
from tradesig.volatility import (
    EXPIRY_DAY_FACTOR,
    IV_RV_RATIO,
    RV_WINDOW,
    FlatIV,
    RealisedVolIV,
    SeriesIV,
    build_iv_model,
    load_iv_file,
    realised_vol,
    skew_factor,
)

WEEK = 7 / 365


def _write(tmp_path, text):
    path = tmp_path / "vix.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_iv_file_uses_the_previous_close_and_names_its_source(tmp_path):
    path = _write(tmp_path, "date,iv,other\n2024-06-03,20.5,x\n2024-06-04,26.75,y\n\n")
    model = build_iv_model("NIFTY", iv_file=path, fallback=0.15)
    assert model.source == "IV file vix.csv with skew"
    # on 2024-06-04 only the 06-03 close is known at the open: no look-ahead
    assert model.iv(date(2024, 6, 4), spot=22000, strike=22000, t_years=WEEK) == pytest.approx(0.205)
    assert model.iv(date(2024, 6, 5), spot=22000, strike=22000, t_years=WEEK) == pytest.approx(0.2675)
    # before the series, or long after it: the flat fallback
    assert model.iv(date(2024, 6, 3), spot=22000, strike=22000, t_years=WEEK) == 0.15
    assert model.iv(date(2024, 7, 30), spot=22000, strike=22000, t_years=WEEK) == 0.15
    # an out-of-the-money put is priced at a higher IV than the at-the-money option
    assert model.iv(date(2024, 6, 5), spot=22000, strike=21000, t_years=WEEK) > 0.2675


@pytest.mark.parametrize(("text", "message"), [
    ("day,vol\n2024-06-03,20\n", "lacks 'date' and 'iv'"),
    ("date,iv\n2024-06-03,twenty\n", "line 2"),
    ("date,iv\n2024/06/03,20\n", "line 2"),
    ("date,iv\n2024-06-03,0.2\n", "between 1 and 300"),
    ("date,iv\n2024-06-03,20\n2024-06-03,21\n", "appears twice"),
    ("date,iv\n", "no rows"),
    ("", "empty"),
])
def test_bad_iv_files_are_one_line_data_errors(tmp_path, text, message):
    with pytest.raises(DataError) as exc:
        load_iv_file(_write(tmp_path, text))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_missing_iv_file(tmp_path):
    with pytest.raises(DataError, match="cannot read IV file"):
        build_iv_model("NIFTY", iv_file=tmp_path / "absent.csv")


def test_skew_shape():
    assert skew_factor(0.15, spot=22000, strike=22000, t_years=WEEK) == pytest.approx(1.0)
    put, call = (skew_factor(0.15, spot=22000, strike=k, t_years=WEEK) for k in (21000, 23000))
    assert put > call > 1.0  # smile, steeper on the put side
    # under a day to expiry the ATM level is scaled by the expiry-day factor
    assert skew_factor(0.15, spot=22000, strike=22000, t_years=0.5 / 365) == pytest.approx(EXPIRY_DAY_FACTOR)


def test_flat_without_data():
    model = build_iv_model("NIFTY", fallback=0.2)
    assert isinstance(model, FlatIV) and model.source == "flat 20% (backtest.iv)"
    assert build_iv_model("NIFTY", daily_closes=[(date(2024, 1, 1), 21000.0)]).source.startswith("flat")


def _closes():
    path = shared_file("daily/nifty50_daily_derived_from_1min_2024-01-01_2024-08-23.csv")
    with open(path, newline="") as fh:
        return [(date.fromisoformat(r["date"]), float(r["close"])) for r in csv.DictReader(fh)]


def test_realised_vol_estimate_on_real_closes():
    closes = _closes()
    model = build_iv_model("NIFTY", daily_closes=closes)
    assert isinstance(model, RealisedVolIV) and "realised vol of NIFTY" in model.source
    day = date(2024, 6, 4)
    window = [c for d, c in closes if d < day][-(RV_WINDOW + 1):]
    rets = [math.log(b / a) for a, b in zip(window, window[1:], strict=False)]
    expected = IV_RV_RATIO * math.sqrt(252 * sum(r * r for r in rets) / len(rets))
    assert model.iv(day, spot=22000, strike=22000, t_years=WEEK) == pytest.approx(expected)
    assert 0.05 < expected < 0.30
    # only closes before the day count: changing the day's own close changes nothing
    altered = [(d, c * (0.9 if d == day else 1.0)) for d, c in closes]
    assert build_iv_model("NIFTY", daily_closes=altered).iv(day, spot=1, strike=1, t_years=WEEK) == \
        pytest.approx(expected)
    # too little history before the first dates: flat fallback
    assert model.iv(date(2024, 1, 10), spot=22000, strike=22000, t_years=WEEK) == 0.15
    assert realised_vol([100.0, 101.0, 100.0]) == pytest.approx(math.sqrt(252 * 2 * math.log(1.01) ** 2 / 2),
                                                                rel=1e-3)


def test_skewed_series_beats_flat_on_a_real_chain():
    """On the real NIFTY chain at the close of 2024-06-26 (Upstox; spot = the official close), pricing OTM options
    from the day's ATM IV with the skew errs less than a flat 15 %: the median absolute premium error."""
    import json

    path = shared_file("options/upstox_option_chain_api_responses/nifty_upstox_oc_2024-06-29_commitdate.json")
    data = json.loads(path.read_text())["data"]
    spot, t = data[0]["underlying_spot_price"], 1 / 365  # expiry 2024-06-27 15:30, a day later
    atm_row = min(data, key=lambda r: abs(r["strike_price"] - spot))
    atm = atm_row["call_options"]["option_greeks"]["iv"] / 100
    series = SeriesIV((date(2024, 6, 25),), (atm,), "test")
    flat_err, model_err = [], []
    for r in data:
        for kind, key in (("CE", "call_options"), ("PE", "put_options")):
            ltp, k = r[key]["market_data"]["ltp"], r["strike_price"]
            otm = (kind == "CE" and k >= spot) or (kind == "PE" and k <= spot)
            if otm and ltp >= 0.5:
                iv = series.iv(date(2024, 6, 26), spot=spot, strike=k, t_years=t)
                model_err.append(abs(black_scholes(spot, k, t, 0.065, iv, kind) - ltp) / ltp)
                flat_err.append(abs(black_scholes(spot, k, t, 0.065, 0.15, kind) - ltp) / ltp)
    model_err.sort()
    flat_err.sort()
    assert len(model_err) > 20
    assert model_err[len(model_err) // 2] < flat_err[len(flat_err) // 2]


def test_backtest_iv_file_option_and_bad_file(run_cli, tmp_path):
    """`trade backtest --iv-file` prices modelled premiums from the series and names it; a bad file is exit 2."""
    import json

    code, _, err = run_cli("history", "import", str(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")))
    assert code == 0, err
    vix = tmp_path / "vix.csv"
    vix.write_text("date,iv\n" + "".join(f"2024-06-{d:02d},{18 + d / 10:.2f}\n" for d in range(1, 29)))
    code, out, err = run_cli("trade", "backtest", "--from", "2024-06-03", "--to", "2024-06-28", "--iv-file", str(vix),
                             "--format", "json")
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert summary["iv_source"] == "IV file vix.csv with skew"
    vix.write_text("date,iv\n2024-06-03,abc\n")
    code, out, err = run_cli("trade", "backtest", "--from", "2024-06-03", "--to", "2024-06-28", "--iv-file", str(vix))
    assert code == 2 and "line 2" in err and len(err.strip().splitlines()) == 1

"""`tradesig feed`: help, option validation and configuration errors (no network)."""

from __future__ import annotations


def test_feed_help(run_cli):
    code, out, _ = run_cli("feed", "--help")
    assert code == 0 and "--serve" in out and "--until" in out and "--sim-url" in out


def test_sim_source_needs_url(run_cli):
    code, _, err = run_cli("feed", "--source", "sim")
    assert code == 2 and "--sim-url" in err


def test_non_loopback_serve_needs_token(run_cli):
    code, _, err = run_cli("feed", "--sim-url", "http://127.0.0.1:9", "--serve", "0.0.0.0:0")
    assert code == 2 and "token" in err


def test_bad_until(run_cli):
    code, _, err = run_cli("feed", "--sim-url", "http://127.0.0.1:9", "--until", "25:99x")
    assert code == 2 and "HH:MM" in err


def test_sim_source_takes_a_loopback_kite_root(run_cli, monkeypatch):
    monkeypatch.setenv("TRADESIG_KITE_ROOT", "http://127.0.0.1:9")
    code, _, err = run_cli("feed", "--source", "sim", "--until", "25:99x")  # got past the sim-url check
    assert code == 2 and "HH:MM" in err and "--sim-url" not in err

"""The sim's REST rate limits: Kite's per-second limits, counted in the replayed market's seconds as well as the
wall clock's (tradesig.sim.ratelimit)."""

from __future__ import annotations

from tradesig.sim.ratelimit import RATE_LIMITS, RateLimiter


def test_at_1x_it_is_kites_limit():
    lim = RateLimiter()
    assert RATE_LIMITS["quote"] == 1
    assert not lim.limited("quote", "t", 10.0, 1000.0)
    assert lim.limited("quote", "t", 10.5, 1000.5)      # a second quote within the same second: 429
    assert not lim.limited("quote", "t", 11.0, 1001.0)  # the next second
    assert [lim.limited("orders", "t", 20.0, 2000.0) for _ in range(11)] == [False] * 10 + [True]
    assert not lim.limited("quote", "other-token", 10.5, 1000.5)  # per access token


def test_a_fast_replay_allows_one_quote_per_replayed_second():
    lim = RateLimiter()
    wall, sim = 100.0, 5000.0
    answers = []
    for _ in range(6):  # 6 quotes in 0.06 wall seconds at 500x: 30 replayed seconds apart
        answers.append(lim.limited("quote", "t", wall, sim))
        wall += 0.01
        sim += 5.0
    assert answers == [False] * 6
    assert lim.limited("quote", "t", wall, sim - 4.5)  # within the same replayed second and wall second: 429


def test_a_held_sim_clock_still_lets_calls_through_at_the_wall_rate():
    lim = RateLimiter()
    answers = [lim.limited("historical", "t", 50.0 + 0.4 * i, 900.0) for i in range(10)]  # clock held at 900
    assert answers[:3] == [False] * 3 and not all(answers)
    assert sum(not a for a in answers) >= 6  # ~3 per wall second over 3.6 s


def test_disabled_never_limits():
    lim = RateLimiter(enabled=False)
    assert not any(lim.limited("quote", "t", 1.0, 1.0) for _ in range(50))

"""The path model: ticks synthesised inside one 1-minute bar so that the bar's OHLC is reproduced exactly.

Pure functions, integer paise throughout (1 rupee = 100 paise) so that no float rounding can move an extreme.

Model (documented in docs/sim.md, "Path model"):

* Waypoints: ``open → first extreme → second extreme → close``. The first extreme is the **low** when the bar
  closed above its open (an up bar dips first), the **high** when it closed below its open; for a bar with
  ``close == open`` a seeded coin (seed, bar start) decides. This is the usual conservative OHLC convention of
  backtesters: it never lets a limit order see a favourable extreme before an adverse one it did not see.
* ``n`` ticks per bar (default 12): the first is the open, the last is the close; the two extremes are hit
  exactly; the remaining points lie on the legs between waypoints (leg lengths share the points in proportion
  to their size) with a seeded jitter of at most a quarter of a step, rounded to 5 paise and clipped to
  ``[low, high]`` — so no intermediate point can create a new high or low.
* Timestamps: whole seconds strictly inside the minute, tick ``k`` of ``n`` at ``round((k + 1) · 60 / (n + 1))``
  seconds after the bar start (distinct for ``n ≤ 59``; the ticker's exchange timestamp has 1 s resolution).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DEFAULT_TICKS_PER_BAR = 12
MAX_TICKS_PER_BAR = 59


@dataclass(frozen=True)
class PathPoint:
    """One synthesised tick: ``offset`` whole seconds after the bar start (1..59), ``price`` in paise."""

    offset: int
    price: int


def tick_offsets(n: int) -> list[int]:
    """Whole-second offsets of ``n`` ticks strictly inside a minute (1..59), strictly increasing.

    Raises ``ValueError`` unless ``1 <= n <= 59``.
    """
    if not 1 <= n <= MAX_TICKS_PER_BAR:
        raise ValueError(f"ticks per bar must be 1..{MAX_TICKS_PER_BAR}, got {n}")
    return [int(round((k + 1) * 60 / (n + 1))) for k in range(n)]


def _rng(seed: int, key: int) -> random.Random:
    return random.Random((seed * 1_000_003) ^ key)


def bar_path(open_: int, high: int, low: int, close: int, *, n: int = DEFAULT_TICKS_PER_BAR, seed: int = 0,
             key: int = 0) -> list[PathPoint]:
    """Ticks (paise) whose first is ``open_``, last is ``close``, max is ``high`` and min is ``low`` — exactly.

    ``key`` identifies the bar (e.g. its start as epoch seconds) so each bar gets its own deterministic jitter
    for a given ``seed``. ``n`` is raised to the number of distinct waypoints when it is smaller (at most 4).
    Raises ``ValueError`` when the bar breaks the OHLC rules (``low <= min(open, close)``,
    ``high >= max(open, close)``) or ``n`` is out of 1..59.
    """
    if not (low <= min(open_, close) and high >= max(open_, close)):
        raise ValueError(f"bar breaks OHLC rules: O={open_} H={high} L={low} C={close} (paise)")
    rng = _rng(seed, key)
    if close > open_:
        low_first = True
    elif close < open_:
        low_first = False
    else:
        low_first = rng.random() < 0.5
    ways = [open_, low, high, close] if low_first else [open_, high, low, close]
    # drop consecutive duplicates (e.g. open == low): they carry no information
    waypoints = [ways[0]]
    for w in ways[1:]:
        if w != waypoints[-1]:
            waypoints.append(w)
    if len(waypoints) == 1:  # flat bar
        prices = [open_] * max(n, 1)
    else:
        # the close must be present even if the last leg collapsed (close equals the second extreme)
        n = max(n, len(waypoints))
        prices = _interpolate(waypoints, n, low, high, rng)
    offsets = tick_offsets(len(prices))
    return [PathPoint(o, p) for o, p in zip(offsets, prices, strict=True)]


def _interpolate(waypoints: list[int], n: int, low: int, high: int, rng: random.Random) -> list[int]:
    legs = [abs(b - a) for a, b in zip(waypoints, waypoints[1:], strict=False)]
    extra = n - len(waypoints)  # points between waypoints
    total = sum(legs)
    shares = [int(extra * leg / total) for leg in legs]
    # hand out the remainder to the longest legs first (deterministic)
    order = sorted(range(len(legs)), key=lambda i: (-legs[i], i))
    for i in order[: extra - sum(shares)]:
        shares[i] += 1
    prices: list[int] = [waypoints[0]]
    for (a, b), k in zip(zip(waypoints, waypoints[1:], strict=False), shares, strict=True):
        step = (b - a) / (k + 1)
        for j in range(1, k + 1):
            p = a + step * j + rng.uniform(-0.25, 0.25) * step
            p = int(round(p / 5.0)) * 5
            prices.append(min(max(p, low), high))
        prices.append(b)
    return prices


def ohlc(prices: list[int]) -> tuple[int, int, int, int]:
    """(open, high, low, close) of a price sequence (paise)."""
    return prices[0], max(prices), min(prices), prices[-1]

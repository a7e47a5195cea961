"""The install day is not a retention observation: the fitted curves start on day 1.

A cohort's access rate on day 0 is 1 by definition (everybody opens the app on install), while
on later days it is "still alive x active that day". Where users are active on only some of the
days they are alive, a curve fitted through day 0 reads the drop from 1 to the day-1 rate as
churn and bends the whole curve. So the models describe the curve from ``start_day`` = 1, relative
to its rate there, and day 0 is taken as observed:

    R(0) = rate[0],   R(t) = rate[1] * M(t - 1)  (t >= 1, M(0) = 1 the blended fit).

``start_day`` = 0 is the game studio's original (one curve through day 0), and what a curve falls
back to where the curve from day 1 holds no churn to fit (``start_days``). Derivation and measured errors: docs/ltv_cohort.md ("Install day").
"""

from __future__ import annotations

import numpy as np

START_DAYS = (0, 1)
START_DAY = 1


def check_start_day(start_day) -> int:
    if start_day not in START_DAYS:
        raise ValueError(f"start_day must be one of {START_DAYS}, got {start_day!r}")
    return int(start_day)


def start_days(rates: np.ndarray, lengths: np.ndarray, start_day: int) -> np.ndarray:
    """Per cleaned curve (rows of ``rates``, ``lengths`` days each): ``start_day``, or 0 where the curve
    from it holds no churn to fit -- its users all gone the next day, or none gone by the last day (a
    handful of users): the models' fit would sit on a bound, so the curve through day 0 is used."""
    start = check_start_day(start_day)
    level = rates[:, start]
    last = rates[np.arange(len(rates)), np.asarray(lengths) - 1]
    return np.where((rates[:, start + 1] > 0) & (last < level), start, 0)


def level_se(level, cohort_size):
    """Binomial standard error of the rate the fitted curve is scaled by."""
    level = np.asarray(level, dtype=float)
    return np.sqrt(np.maximum(level * (1.0 - level), 0.0) / np.asarray(cohort_size, dtype=float))


def _per_start(starts, compute):
    """``compute(s)`` for start day 0 and/or 1, each row taken from its own start's result."""
    starts = np.atleast_1d(starts)
    used = np.unique(starts)
    if len(used) == 1:
        return compute(int(used[0]))
    on_one = (starts == 1)[:, None]
    zero, one = compute(0), compute(1)
    if isinstance(zero, tuple):
        return tuple(np.where(on_one, y, x) for x, y in zip(zero, one))
    return np.where(on_one, one, zero)


def anchored_survival(model, day0, level, starts, t):
    """R(t) from the fitted curve ``model(u)`` (u = t - start day), shape (K, len(t)) for (K,) levels."""
    t = np.asarray(t, dtype=float)
    day0, level = np.atleast_1d(day0)[:, None], np.atleast_1d(level)[:, None]

    def at(s):
        return np.where(t[None, :] < s, day0, level * model(np.maximum(t - s, 0.0)))

    return _per_start(starts, at)


def anchored_cumulative(model_cumulative, day0, level, level_error, starts, horizons):
    """(sum_{t<h} R(t), its standard error) per horizon, each (K, len(h)).

    ``model_cumulative(h)`` gives the fitted curve's sums over u < h and their errors; the error
    of the level (``level_error``) adds in quadrature, as for any product of independent estimates.
    """
    h = np.asarray(horizons)
    day0 = np.atleast_1d(day0)[:, None]
    level, level_error = np.atleast_1d(level)[:, None], np.atleast_1d(level_error)[:, None]

    def at(s):
        shifted = np.maximum(h - s, 0)
        has = shifted > 0
        v, se = model_cumulative(np.where(has, shifted, 1))
        v, se = np.where(has, v, 0.0), np.where(has, se, 0.0)
        value = day0 * np.minimum(h, s)[None, :] + level * v
        return value, np.sqrt((level * se) ** 2 + (v * level_error) ** 2)

    return _per_start(starts, at)

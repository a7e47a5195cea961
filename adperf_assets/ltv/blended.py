"""The studio method's retention curve: the average of the sBG and rational fits of the cleaned access rate.

Why their average: the game studio's LTV post found the rational curve under- and the sBG
over-estimating late retention. Derivation: docs/ltv_cohort.md ("Retention curve").
"""

from __future__ import annotations

import numpy as np

from adperf_assets.ltv.access_rate import (
    MIN_DAYS,
    _check_non_increasing,
    _check_rate_curve,
    _check_times,
    _cohort_sizes,
    _horizons,
    clean_access_rate,
)
from adperf_assets.ltv.install_day import (
    START_DAY,
    anchored_cumulative,
    anchored_survival,
    check_start_day,
    level_se,
    start_days,
)
from adperf_assets.ltv.rational import RationalRetention
from adperf_assets.ltv.sbg import ShiftedBetaGeometric
from adperf_assets.ltv.standard_errors import _VARIANCES, _combine_se


class BlendedRetention:
    """The average of the sBG and rational fits of the cleaned access rate (the studio method).

    Both models are fitted to the curve from ``start_day`` on, relative to its rate there, so the
    sBG's S(0) = 1 and the rational fit describe the same thing: with ``start_day`` = 1 (default)
    R(0) = rate[0] as observed and R(t) = rate[1] (S_sBG(t-1) + r_rational(t-1)) / 2 after it
    (install_day.py says why); with 0, R(t) = rate[0] (S_sBG(t) + r_rational(t)) / 2.
    ``variance``: "model_averaged" (default) or "independent" (the appendix of the game
    studio's LTV post); what each assumes about the two fits' correlation: docs/ltv_cohort.md
    ("Variance of the average").
    """

    def __init__(self, variance: str = "model_averaged"):
        if variance not in _VARIANCES:
            raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
        self.variance = variance

    def fit(self, rate, cohort_size, *, clean: bool = True, start_day: int = START_DAY) -> "BlendedRetention":
        """Fit both models on ``rate[t]``, t = 0..T-1 (T >= 7), of ``cohort_size`` users.

        ``cohort_size``: a number, or n(t) per day for pooled cohorts. ``clean=True`` applies
        ``clean_access_rate`` first (the method of the game studio's LTV post); with
        ``clean=False`` the curve must already be non-increasing.
        """
        r = _check_rate_curve(rate, min_days=MIN_DAYS)
        n = _cohort_sizes(cohort_size, len(r))
        if clean:
            r = clean_access_rate(r)
        else:
            _check_non_increasing(r)
        if r[0] <= 0:
            raise ValueError("access_rate[0] is 0: nobody was active on the install day")
        start = int(start_days(r[None, :], [len(r)], start_day)[0])
        self.rate_ = r
        self.cohort_size_ = n
        relative, m = r[start:] / r[start], n[start:]
        self.sbg_ = ShiftedBetaGeometric().fit_rates(relative, m * r[start])  # survivor counts n r(t)
        self.rational_ = RationalRetention().fit(np.arange(len(relative)), relative, weights=m)
        self._anchor(r[0], r[start], level_se(r[start], n[start]), start)
        return self

    def _anchor(self, day0, level, level_error, start_day):
        self.day0_, self.level_, self.level_se_, self.start_day_ = (float(day0), float(level), float(level_error),
                                                                    int(start_day))

    @classmethod
    def from_fits(cls, sbg: ShiftedBetaGeometric, rational: RationalRetention, variance: str = "model_averaged",
                  day0: float = 1.0, *, level: float | None = None, level_error: float = 0.0,
                  start_day: int = 0) -> "BlendedRetention":
        """Blend two models fitted to the curve from ``start_day`` on, relative to its rate there
        (``level``, default ``day0``, with standard error ``level_error``)."""
        out = cls(variance)
        out.sbg_, out.rational_ = sbg, rational
        out._anchor(day0, day0 if level is None else level, level_error, check_start_day(start_day))
        return out

    def _fits(self):
        if not hasattr(self, "sbg_"):
            raise RuntimeError("call fit() first")
        return self.sbg_, self.rational_

    @property
    def params_(self) -> dict:
        s, c = self._fits()
        return {"sbg": dict(s.params_), "rational": dict(c.params_), "day0": self.day0_, "level": self.level_,
                "start_day": self.start_day_}

    @property
    def standard_errors_(self) -> dict:
        s, c = self._fits()
        return {"sbg": dict(s.standard_errors_), "rational": dict(c.standard_errors_)}

    def _blend(self, u) -> np.ndarray:
        s, c = self._fits()
        return 0.5 * (s.survival(u) + c.survival(u))

    def survival(self, t) -> np.ndarray:
        return anchored_survival(self._blend, self.day0_, self.level_, self.start_day_, _check_times(t))[0]

    def survival_se(self, t) -> np.ndarray:
        s, c = self._fits()
        t = _check_times(t)
        u = np.maximum(t - self.start_day_, 0.0)
        se = _combine_se(s.survival(u), s.survival_se(u), c.survival(u), c.survival_se(u), self.variance)
        se = np.sqrt((self.level_ * se) ** 2 + (self._blend(u) * self.level_se_) ** 2)
        return np.where(t < self.start_day_, 0.0, se)

    def cumulative(self, horizons):
        """(sum_{t<h} R(t), its standard error) per horizon h: expected active days per user."""
        s, c = self._fits()

        def blend(h):
            vs, ses = s.cumulative(h)
            vc, sec = c.cumulative(h)
            return 0.5 * (vs + vc)[None, :], _combine_se(vs, ses, vc, sec, self.variance)[None, :]

        v, se = anchored_cumulative(blend, self.day0_, self.level_, self.level_se_, self.start_day_,
                                    _horizons(horizons))
        return v[0], se[0]

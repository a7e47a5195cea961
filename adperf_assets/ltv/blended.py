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
    _cohort_sizes,
    clean_access_rate,
)
from adperf_assets.ltv.rational import RationalRetention
from adperf_assets.ltv.sbg import ShiftedBetaGeometric
from adperf_assets.ltv.standard_errors import _VARIANCES, _combine_se


class BlendedRetention:
    """R(t) = r0 (S_sBG(t) + r_rational(t)) / 2 on the cleaned access rate (the studio method).

    Both models are fitted to the curve relative to its install-day rate r0 = rate[0] (1 for
    an access rate by definition; below 1 if the cohort size counts installs that never
    opened the app), so the sBG's S(0) = 1 and the rational fit describe the same thing.
    ``variance``: "model_averaged" (default) or "independent" (the appendix of the game
    studio's LTV post); what each assumes about the two fits' correlation: docs/ltv_cohort.md
    ("Variance of the average").
    """

    def __init__(self, variance: str = "model_averaged"):
        if variance not in _VARIANCES:
            raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
        self.variance = variance

    def fit(self, rate, cohort_size, *, clean: bool = True) -> "BlendedRetention":
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
        self.rate_ = r
        self.cohort_size_ = n
        self.day0_ = float(r[0])
        relative = r / r[0]
        self.sbg_ = ShiftedBetaGeometric().fit_rates(relative, n * r[0])  # survivor counts n r(t)
        self.rational_ = RationalRetention().fit(np.arange(len(r)), relative, weights=n)
        return self

    @classmethod
    def from_fits(cls, sbg: ShiftedBetaGeometric, rational: RationalRetention,
                  variance: str = "model_averaged", day0: float = 1.0) -> "BlendedRetention":
        """Blend two fitted models (of the curve relative to day 0, whose rate is ``day0``)."""
        out = cls(variance)
        out.sbg_, out.rational_, out.day0_ = sbg, rational, float(day0)
        return out

    def _fits(self):
        if not hasattr(self, "sbg_"):
            raise RuntimeError("call fit() first")
        return self.sbg_, self.rational_

    @property
    def params_(self) -> dict:
        s, c = self._fits()
        return {"sbg": dict(s.params_), "rational": dict(c.params_), "day0": self.day0_}

    @property
    def standard_errors_(self) -> dict:
        s, c = self._fits()
        return {"sbg": dict(s.standard_errors_), "rational": dict(c.standard_errors_)}

    def survival(self, t) -> np.ndarray:
        s, c = self._fits()
        return self.day0_ * 0.5 * (s.survival(t) + c.survival(t))

    def survival_se(self, t) -> np.ndarray:
        s, c = self._fits()
        return self.day0_ * _combine_se(s.survival(t), s.survival_se(t), c.survival(t), c.survival_se(t),
                                        self.variance)

    def cumulative(self, horizons):
        """(sum_{t<h} R(t), its standard error) per horizon h: expected active days per user."""
        s, c = self._fits()
        vs, ses = s.cumulative(horizons)
        vc, sec = c.cumulative(horizons)
        return self.day0_ * 0.5 * (vs + vc), self.day0_ * _combine_se(vs, ses, vc, sec, self.variance)

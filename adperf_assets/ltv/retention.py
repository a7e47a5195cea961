"""Retention curves of the studio method: cleaned access rate, rational NLS, sBG MLE, their average.

They live in ``access_rate`` (cleaning, input checks), ``sbg``, ``rational``, ``blended`` (the
average), ``pooling`` (cohorts pooled into one curve) and ``retention_batch`` (many curves at
once); their names stay importable from here. Derivation: docs/ltv_cohort.md ("Retention curve").
"""

from __future__ import annotations

from adperf_assets.ltv.access_rate import MIN_DAYS, clean_access_rate
from adperf_assets.ltv.blended import BlendedRetention
from adperf_assets.ltv.pooling import combine_cohorts
from adperf_assets.ltv.rational import RationalRetention
from adperf_assets.ltv.retention_batch import RetentionFits, fit_many
from adperf_assets.ltv.sbg import ShiftedBetaGeometric

# private helpers that were imported from here before the split, kept at their old path
from adperf_assets.ltv.access_rate import _as_1d, _check_rate_curve, _cohort_sizes, _horizons  # noqa: F401

__all__ = [
    "MIN_DAYS",
    "BlendedRetention",
    "RationalRetention",
    "RetentionFits",
    "ShiftedBetaGeometric",
    "clean_access_rate",
    "combine_cohorts",
    "fit_many",
]

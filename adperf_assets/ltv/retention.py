"""Retention curves of the studio method: cleaned access rate, rational NLS, sBG MLE, their average.

The names of the modules that hold them, importable from here as before: ``access_rate``
(cleaning, input checks), ``sbg``, ``rational``, ``blended`` (the average), ``pooling`` (cohorts
pooled into one curve) and ``retention_batch`` (many curves at once).
Derivation: docs/ltv_cohort.md ("Retention curve").
"""

from __future__ import annotations

from adperf_assets.ltv.access_rate import (  # noqa: F401  (private helpers: their old import path)
    MIN_DAYS,
    _as_1d,
    _check_rate_curve,
    _cohort_sizes,
    _horizons,
    clean_access_rate,
)
from adperf_assets.ltv.blended import BlendedRetention
from adperf_assets.ltv.pooling import combine_cohorts
from adperf_assets.ltv.rational import RationalRetention
from adperf_assets.ltv.retention_batch import RetentionFits, fit_many
from adperf_assets.ltv.sbg import ShiftedBetaGeometric

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

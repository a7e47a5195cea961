"""Segment curves of the studio method: install cohorts pooled per segment, fitted in one batch.

They live in ``activity_cube`` (``cohort_activity`` as arrays), ``pooling``, ``curve_revenue``
(tail ARPU, its age profile, the between-user spread), ``curve_set`` (the fitted curves, the
``retention_fit`` table) and ``segment_fits`` (``segment_curves``); their names stay importable
from here. Derivation: docs/ltv_cohort.md ("Segment curves").
"""

from __future__ import annotations

from adperf_assets.ltv.activity_cube import MAX_AGE, REVENUE_SOURCES, ActivityCube
from adperf_assets.ltv.curve_revenue import DECAY_KS, DECAY_TAUS, arpu_age_profile
from adperf_assets.ltv.curve_set import CurveSet
from adperf_assets.ltv.pooling import pooled_sums
from adperf_assets.ltv.segment_fits import (
    ARPU_WINDOW,
    CV_MAX_DAYS,
    CV_MIN_DAYS,
    NotEnoughHistoryError,
    segment_curves,
)

# private helpers that were imported from here before the split, kept at their old path
from adperf_assets.ltv.activity_cube import _day_index  # noqa: F401
from adperf_assets.ltv.curve_revenue import _arpu  # noqa: F401

__all__ = [
    "ARPU_WINDOW",
    "CV_MAX_DAYS",
    "CV_MIN_DAYS",
    "DECAY_KS",
    "DECAY_TAUS",
    "MAX_AGE",
    "REVENUE_SOURCES",
    "ActivityCube",
    "CurveSet",
    "NotEnoughHistoryError",
    "arpu_age_profile",
    "pooled_sums",
    "segment_curves",
]

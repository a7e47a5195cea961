"""BTYD LTV per user and per install cohort x segment, as the daily assets compute it (no Dagster here).

The pieces live in ``btyd_rfm`` (the per-user summary), ``btyd_segments`` (fits per segment),
``btyd_ltv_frames`` (per-user and per-cohort LTV) and ``btyd_backtest_rows`` (back-test rows); this
module re-exports them for the assets. docs/ltv_btyd.md.
"""

from __future__ import annotations

from adperf_assets.ltv.btyd_backtest_rows import (  # noqa: F401
    POOLINGS,
    Comparison,
    backtest_table,
    common_cohorts,
    due_rows,
    join_realised,
    milestone_predictions,
    realised_per_cohort,
)
from adperf_assets.ltv.btyd_ltv_frames import (  # noqa: F401
    CONFIDENCE,
    INTERVALS,
    cohort_ltv_frame,
    revenue_interval,
    user_ltv_frame,
)
from adperf_assets.ltv.btyd_rfm import (  # noqa: F401
    WINDOW_DAYS,
    RfmInputs,
    _group_codes,
    ltv_column,
    realised_column,
    summary_of,
    user_rfm_frame,
)
from adperf_assets.ltv.btyd_segments import (  # noqa: F401
    MIN_OBSERVED_DAYS,
    MIN_POOLED_REPEAT_BUYERS,
    MIN_REPEAT_BUYERS,
    NO_FIT,
    POOLED,
    SegmentFits,
    fit_segments,
)
from adperf_assets.ltv.keys import BACKTEST_HORIZONS, HORIZONS, MADE_AT_DAYS, SEGMENT_KEYS  # noqa: F401

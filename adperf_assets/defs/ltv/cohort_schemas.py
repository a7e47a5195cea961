"""LTV tables: user activity, cohort activity, the segment retention fits, cohort LTV and its back-test."""

from dagster_pandas import PandasColumn
from dagster_pandas.constraints import ColumnDTypeFnConstraint
from pandas.api.types import is_float_dtype

from adperf_assets.defs.common.schema_types import bool_col, date_col, float_col, frame_type, int_col, str_col
from adperf_assets.defs.attribution.schemas import ATTRIBUTIONS, PLATFORMS

ESTIMATORS = {"cohort", "geometric"}


def nan_float_col(name: str) -> PandasColumn:
    """A float column that may hold NaN (dagster-pandas' range check fails on NaN; checks assert ranges)."""
    return PandasColumn(name=name, constraints=[ColumnDTypeFnConstraint(is_float_dtype)])


def _segment_cols():
    return [
        PandasColumn.categorical_column("platform", PLATFORMS, non_nullable=True),
        PandasColumn.categorical_column("attribution", ATTRIBUTIONS, non_nullable=True),
        str_col("network"),
        bool_col("is_emulator"),
    ]


UserActivityFrame = frame_type(
    "UserActivityFrame",
    "Per report day (report time zone) every user who logged in: the number of logins and the first and "
    "last login instant (naive UTC).",
    [
        date_col("report_date"),
        int_col("user_id", min_value=None),
        int_col("logins", min_value=1),
        date_col("first_login_utc"),
        date_col("last_login_utc"),
    ],
)

CohortActivityFrame = frame_type(
    "CohortActivityFrame",
    "Per activity day (report_date) and install cohort (install_date, within the trailing 365 days) x "
    "segment: cohort size, users active that day (logged in), logins, payers, net payments (revenue_usd) "
    "and behaviour credit (credited_usd), at days_since_install = report_date - install_date.",
    [
        date_col("report_date"),
        date_col("install_date"),
        *_segment_cols(),
        int_col("days_since_install"),
        int_col("cohort_size", min_value=1),
        int_col("active_users"),
        int_col("logins"),
        int_col("payers"),
        float_col("revenue_usd"),
        nan_float_col("credited_usd"),
    ],
)

RetentionFitFrame = frame_type(
    "RetentionFitFrame",
    "Per report day and segment, one row per day since install t = 0..364: the trailing window's cohorts "
    "pooled the seed's way (cohorts, cohort_size n(t), active_users, revenue_usd; observed = t < "
    "curve_days), the pooled and cleaned access rate, the blended retention R(t) (sBG + rational, "
    "averaged) and its se, expected active days sum_{u<=t} R(u) and se, revenue per installed user "
    "mu(t); per-segment fit parameters and errors repeated on each row. NaN: access rates beyond the "
    "observed days; ranges of the nullable columns are asserted by the retention_fit checks.",
    [
        date_col("report_date"),
        *_segment_cols(),
        int_col("days_since_install"),
        bool_col("observed"),
        int_col("cohorts"),
        float_col("cohort_size", min_value=0.0),
        float_col("active_users", min_value=0.0),
        float_col("revenue_usd"),
        nan_float_col("access_rate"),
        nan_float_col("clean_access_rate"),
        float_col("retention", min_value=0.0, max_value=1.0),
        nan_float_col("retention_se"),
        float_col("active_days", min_value=0.0),
        nan_float_col("active_days_se"),
        float_col("revenue_per_user_usd"),
        int_col("window_days", min_value=1),
        int_col("curve_days", min_value=7),
        str_col("revenue_source"),
        float_col("arpu_usd", min_value=0.0),
        float_col("arpu_se_usd", min_value=0.0),
        bool_col("arpu_floored"),
        nan_float_col("user_revenue_cv"),
        float_col("sbg_alpha", min_value=0.0),
        float_col("sbg_beta", min_value=0.0),
        float_col("sbg_alpha_se", min_value=0.0),
        float_col("sbg_beta_se", min_value=0.0),
        bool_col("sbg_converged"),
        float_col("rational_a"),
        float_col("rational_b"),
        float_col("rational_c"),
        float_col("rational_d"),
        int_col("fit_start_day", min_value=0, max_value=1),
        float_col("fit_start_rate", min_value=0.0, max_value=1.0),
    ],
)

CohortLtvFrame = frame_type(
    "CohortLtvFrame",
    "Per report day, install cohort (installed in the last 180 days) x segment and horizon (30/90/180/365 "
    "days): expected revenue per installed user with its 99% interval, by the cohort (studio) method and "
    "the geometric baseline (estimator). observed_days: days of the cohort seen; basis 'segment' when "
    "fewer than 7 (segment curve and ARPU only) else 'cohort'; revenue_to_date_usd: already made; "
    "activity_ratio / spend_ratio: the cohort's own active days and revenue per active day against its segment's.",
    [
        date_col("report_date"),
        date_col("install_date"),
        *_segment_cols(),
        int_col("cohort_size", min_value=1),
        int_col("horizon", min_value=1),
        PandasColumn.categorical_column("estimator", ESTIMATORS, non_nullable=True),
        float_col("ltv_per_user_usd"),
        float_col("lower_usd"),
        float_col("upper_usd", min_value=0.0),
        float_col("se_usd", min_value=0.0),
        int_col("observed_days", min_value=1),
        PandasColumn.categorical_column("basis", {"cohort", "segment"}, non_nullable=True),
        float_col("revenue_to_date_usd"),
        float_col("activity_ratio", min_value=0.0),
        float_col("spend_ratio", min_value=0.0),
    ],
)

CohortLtvBacktestFrame = frame_type(
    "CohortLtvBacktestFrame",
    "Back-test rows, each on the day its realised value completes (report_date = install_date + horizon - 1): "
    "the estimate each estimator would have made after made_at_day days (predicted_per_user, lower, upper) "
    "and the revenue per installed user the cohort realised in its first `horizon` days (realised_per_user). "
    "The back-test as of D: rows of the trailing 180 days (ltv.cohort_backtest.as_of); score with "
    "adperf_assets.ltv.backtest.backtest_metrics.",
    [
        date_col("report_date"),
        PandasColumn.categorical_column("estimator", ESTIMATORS, non_nullable=True),
        *_segment_cols(),
        date_col("install_date"),
        int_col("made_at_day", min_value=1),
        int_col("horizon", min_value=1),
        float_col("predicted_per_user"),
        float_col("lower"),
        float_col("upper", min_value=0.0),
        float_col("realised_per_user"),
        int_col("cohort_size", min_value=1),
        PandasColumn.categorical_column("basis", {"cohort", "segment"}, non_nullable=True),
        float_col("revenue_to_date_usd"),
    ],
)

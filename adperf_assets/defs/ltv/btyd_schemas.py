"""BTYD (per-user) LTV tables and the estimate the report uses."""

from dagster_pandas import PandasColumn

from adperf_assets.ltv.btyd_ltv import HORIZONS, ltv_column, realised_column
from adperf_assets.defs.common.schema_types import bool_col, date_col, float_col, frame_type, int_col, str_col
from adperf_assets.defs.attribution.schemas import ATTRIBUTIONS, PLATFORMS

ESTIMATORS = {"cohort", "btyd"}


def _segment_cols() -> list[PandasColumn]:
    return [
        PandasColumn.categorical_column("platform", PLATFORMS, non_nullable=True),
        PandasColumn.categorical_column("attribution", ATTRIBUTIONS, non_nullable=True),
        str_col("network"),
        bool_col("is_emulator"),
    ]


UserRfmFrame = frame_type(
    "UserRfmFrame",
    "Per user installed in the trailing window (365 days) as of report_date: lifetimes' summary in days "
    "(frequency = purchase days after the install day, recency = age at the last of them, T = age at "
    "report_date, monetary_value_usd = their mean net revenue), net revenue to date and within the first "
    "30/90/180/365 days so far, and the user's segment keys.",
    [
        date_col("report_date"),
        int_col("user_id", min_value=1),
        date_col("install_date"),
        *_segment_cols(),
        int_col("frequency"),
        float_col("recency", min_value=0.0),
        float_col("T", min_value=0.0),
        float_col("monetary_value_usd", min_value=0.0),
        float_col("revenue_usd", min_value=0.0),
        *[float_col(realised_column(h), min_value=0.0) for h in HORIZONS],
    ],
)

UserLtvFrame = frame_type(
    "UserLtvFrame",
    "Per user as of report_date: the BTYD model used (segment, 'pooled' or 'none'), P(alive), expected net "
    "revenue still ahead within each horizon (days 0..H-1 since install) and ltv_{H}d_usd = realised so far "
    "+ expected. NaN only where no model could be fitted (model 'none'). The user's summary is in user_rfm.",
    [
        date_col("report_date"),
        int_col("user_id", min_value=1),
        date_col("install_date"),
        *_segment_cols(),
        str_col("model"),
        float_col("p_alive", min_value=0.0, max_value=1.0, nullable=True, ignore_missing_vals=True),
        *[float_col(f"expected_{h}d_usd", min_value=0.0, nullable=True, ignore_missing_vals=True) for h in HORIZONS],
        *[float_col(ltv_column(h), min_value=0.0, nullable=True, ignore_missing_vals=True) for h in HORIZONS],
    ],
)

BtydCohortLtvFrame = frame_type(
    "BtydCohortLtvFrame",
    "Per install cohort x segment x horizon as of report_date, from the BTYD fits: realised net revenue so "
    "far within the horizon, expected revenue still ahead (with the standard deviations from the parameters' "
    "covariance, delta method, and from the users' own purchase noise), their sum, and per installed user with "
    "the 99% prediction interval of the revenue the cohort will realise (both sources; the realised part has no "
    "width).",
    [
        date_col("report_date"),
        date_col("install_date"),
        *_segment_cols(),
        int_col("horizon", min_value=1),
        int_col("age_days"),
        int_col("cohort_size", min_value=1),
        float_col("realised_usd", min_value=0.0),
        float_col("expected_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("param_sd_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("process_sd_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("ltv_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("ltv_per_user_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("lower_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("upper_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        str_col("model"),
    ],
)

BtydPredictionsFrame = frame_type(
    "BtydPredictionsFrame",
    "Back-test predictions made on report_date by the BTYD estimator: cohorts whose made_at_day (days of "
    "their life seen, 7 = days 0..6) is 7, 14 or 30, per segment and horizon, in ltv.backtest's columns.",
    [
        date_col("report_date"),
        str_col("estimator"),
        date_col("install_date"),
        *_segment_cols(),
        int_col("made_at_day", min_value=1),
        int_col("horizon", min_value=1),
        int_col("cohort_size", min_value=1),
        float_col("predicted_per_user", min_value=0.0),
        float_col("lower", min_value=0.0),
        float_col("upper", min_value=0.0),
        str_col("model"),
    ],
)

LtvBacktestFrame = frame_type(
    "LtvBacktestFrame",
    "Back-test metrics as of report_date per estimator (btyd, cohort, geometric) x segment x made_at_day x "
    "horizon over the cohorts cohort_ltv_backtest scores (ltv.backtest.backtest_metrics): MAPE, bias, WAPE, "
    "interval coverage; pooling 'monthly' scores install-month cohorts (what ltv_estimates selects by), "
    "'daily' the daily cohort x segment cells.",
    [
        date_col("report_date"),
        PandasColumn.categorical_column("pooling", {"monthly", "daily"}, non_nullable=True),
        str_col("estimator"),
        *_segment_cols(),
        int_col("made_at_day", min_value=1),
        int_col("horizon", min_value=1),
        int_col("cohorts"),
        float_col("users", min_value=0.0),
        int_col("zero_realised"),
        float_col("mape", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("bias", nullable=True, ignore_missing_vals=True),
        float_col("wape", min_value=0.0, nullable=True, ignore_missing_vals=True),
        int_col("with_interval"),
        float_col("coverage", min_value=0.0, max_value=1.0, nullable=True, ignore_missing_vals=True),
    ],
)

LtvEstimatesFrame = frame_type(
    "LtvEstimatesFrame",
    "Per cohort x segment x horizon as of report_date, the ONE LTV per installed user the report uses: the "
    "estimator (cohort or btyd) with the lower back-tested WAPE for that segment and horizon (ties and too "
    "little history: cohort), its interval, its back-tested MAPE and over how many cohorts.",
    [
        date_col("report_date"),
        date_col("install_date"),
        *_segment_cols(),
        int_col("horizon", min_value=1),
        int_col("cohort_size", min_value=1),
        float_col("ltv_per_user_usd", min_value=0.0),
        float_col("lower_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("upper_usd", min_value=0.0, nullable=True, ignore_missing_vals=True),
        PandasColumn.categorical_column("estimator", ESTIMATORS, non_nullable=True),
        float_col("backtest_mape", min_value=0.0, nullable=True, ignore_missing_vals=True),
        int_col("backtest_cohorts"),
        int_col("backtest_made_at_day", min_value=1),
        int_col("backtest_horizon", min_value=1),
        float_col("other_mape", min_value=0.0, nullable=True, ignore_missing_vals=True),
        str_col("selection"),
    ],
)

"""The ROAS report table (``roas_report``): one row per report day x level x ad / ad group / campaign / account / network."""

from dagster_pandas import PandasColumn

from adperf_assets.report.roas import ID_COLUMNS
from adperf_assets.defs.common.schema_types import bool_col, date_col, float_col, frame_type, int_col, str_col

LEVELS = {"ad", "ad_group", "campaign", "account", "network"}
RECOMMENDATIONS = {"scale", "keep", "stop"}
PAYBACK_BASES = {"realised", "estimated", "none"}


def _money(name: str, nullable: bool = False) -> PandasColumn:
    return float_col(name, min_value=None, nullable=nullable, ignore_missing_vals=nullable)


def _ratio(name: str) -> PandasColumn:
    return float_col(name, nullable=True, ignore_missing_vals=True)


RoasReportFrame = frame_type(
    "RoasReportFrame",
    "Per report day and level (ad, ad_group, campaign, account, network): cost to date (since the first "
    "spend, at most max_ad_age_days back), the attributed users' behaviour credit to date (return) and own "
    "payments (paid), the LTV estimate at horizon_days with its 99% interval and back-tested MAPE, ROAS, "
    "estimated ROAS (interval), D7/D14/D30 ROAS (null with the reason in d*_note when too young), payback "
    "day (1 = first day of spend; realised or estimated) and scale/keep/stop with the reason. Columns below "
    "the row's level are empty strings. Money in the report currency.",
    [
        date_col("report_date"),
        PandasColumn.categorical_column("level", LEVELS, non_nullable=True),
        *[str_col(c) for c in ID_COLUMNS],
        date_col("first_spend_date"),
        date_col("last_spend_date", nullable=True),
        int_col("days_live", min_value=1),
        bool_col("is_active"),
        bool_col("history_truncated"),
        float_col("spend_installs", min_value=0.0),
        int_col("users"),
        _money("cost_to_date_usd"),
        _money("cost_on_day_usd"),
        _money("paid_to_date_usd"),
        _money("return_to_date_usd"),
        int_col("horizon_days", min_value=1),
        _money("estimated_return_usd"),
        _money("estimated_lower_usd"),
        float_col("estimated_upper_usd", min_value=None),
        int_col("users_without_estimate"),
        float_col("estimate_mape", min_value=0.0, nullable=True, ignore_missing_vals=True),
        PandasColumn.string_column("estimators"),
        _ratio("roas"),
        _ratio("estimated_roas"),
        _ratio("estimated_roas_lower"),
        _ratio("estimated_roas_upper"),
        _ratio("d7_roas"),
        _ratio("d14_roas"),
        _ratio("d30_roas"),
        PandasColumn.string_column("d7_note"),
        PandasColumn.string_column("d14_note"),
        PandasColumn.string_column("d30_note"),
        float_col("payback_day", min_value=1.0, nullable=True, ignore_missing_vals=True),
        date_col("payback_date", nullable=True),
        PandasColumn.categorical_column("payback_basis", PAYBACK_BASES, non_nullable=True),
        PandasColumn.categorical_column("recommendation", RECOMMENDATIONS, non_nullable=True),
        str_col("reason"),
        int_col("modelled_installs"),
        float_col("modelled_estimated_usd", min_value=0.0),
        float_col("modelled_share", min_value=0.0, max_value=1.0),
        PandasColumn.categorical_column("return_basis", {"measured", "modelled (SKAN)"}, non_nullable=True),
        int_col("modelled_unattributed_installs"),
        float_col("modelled_unattributed_usd", min_value=None),
    ],
)

OUTCOMES = {"right", "wrong", "no call"}
_in_interval = PandasColumn(name="in_interval")  # nullable boolean: null where there is no ROAS to hold
_in_interval.empty_dtype = "boolean"
DecisionBacktestFrame = frame_type(
    "DecisionBacktestFrame",
    "Per report day, the report's calls (its row of an ad, ad group or campaign on the day it was age_days "
    "live) whose horizon has passed, scored against the realised horizon ROAS of the object's install days "
    "whose horizon has passed (scored_return / scored_cost): outcome right / wrong (stop: realised ROAS below 1, "
    "scale: above 1) or 'no call' (keep), the estimate's absolute percentage error and whether its 99% interval "
    "held the realised ROAS. Money in the report currency.",
    [
        date_col("report_date"),
        PandasColumn.categorical_column("level", {"ad", "ad_group", "campaign"}, non_nullable=True),
        *[str_col(c) for c in ("network", "account_id", "campaign_id", "ad_group_id", "ad_id")],
        int_col("age_days", min_value=1),
        date_col("call_date"),
        PandasColumn.categorical_column("recommendation", RECOMMENDATIONS, non_nullable=True),
        _ratio("estimated_roas"),
        _ratio("estimated_roas_lower"),
        _ratio("estimated_roas_upper"),
        _money("cost_at_call_usd"),
        _money("scored_cost_usd"),
        _money("scored_return_usd"),
        _money("cost_after_call_usd"),
        _ratio("realised_roas"),
        PandasColumn.categorical_column("outcome", OUTCOMES, non_nullable=True),
        float_col("abs_pct_error", min_value=0.0, nullable=True, ignore_missing_vals=True),
        _in_interval,
    ],
)

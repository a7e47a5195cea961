"""The day's action plan with what became of each action (``budget_actions``)."""

from dagster_pandas import PandasColumn

from adperf_assets.defs.actions.log import OUTCOMES
from adperf_assets.defs.common.schema_types import date_col, float_col, frame_type, int_col, str_col


def _any(name: str) -> PandasColumn:
    """A nullable column (no state for an object the network does not know)."""
    return PandasColumn(name=name)


BudgetActionsFrame = frame_type(
    "BudgetActionsFrame",
    "Per report day, each stop / scale call of an ad, ad group or campaign: the action it led to (pause, resume, "
    "raise_budget, lower_budget) or none, the object's status and daily budget (account currency) before and after, "
    "the report's figures and the call's measured precision that justified it, the reason in words, the mode "
    "(dry_run, approval, apply), the outcome and the network's answer. Every row is also in "
    "analytics.budget_action_log.",
    [
        date_col("report_date"),
        str_col("network"), str_col("account_id"), str_col("campaign_id"), str_col("ad_group_id"),
        PandasColumn.categorical_column("level", {"ad", "ad_group", "campaign"}, non_nullable=True),
        str_col("object_id"), str_col("object_name"), _any("ref"),
        PandasColumn.categorical_column("call", {"stop", "scale"}, non_nullable=True),
        PandasColumn.categorical_column("action", {"none", "pause", "resume", "raise_budget", "lower_budget"},
                                        non_nullable=True),
        _any("status_before"), _any("status_after"),
        float_col("budget_before", nullable=True, ignore_missing_vals=True),
        float_col("budget_after", nullable=True, ignore_missing_vals=True),
        _any("currency"),
        int_col("days_live", min_value=1),
        float_col("cost_to_date_usd"),
        float_col("estimated_roas", nullable=True, ignore_missing_vals=True),
        float_col("estimated_roas_lower", nullable=True, ignore_missing_vals=True),
        float_col("estimated_roas_upper", nullable=True, ignore_missing_vals=True),
        _any("age_scored"),
        float_col("precision", nullable=True, ignore_missing_vals=True),
        PandasColumn.categorical_column("decision", {"planned", "skipped"}, non_nullable=True),
        str_col("reason"),
        PandasColumn.categorical_column("mode", {"dry_run", "approval", "apply"}, non_nullable=True),
        PandasColumn.categorical_column("outcome", set(OUTCOMES), non_nullable=True),
        _any("answer"),
        int_col("attempts"),
        str_col("action_id"),
    ],
)

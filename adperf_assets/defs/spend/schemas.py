"""Spend tables: per network (``raw/facebook_spend``, ``raw/google_ads_spend``) and unified (``ad_spend``).

All three have the same columns (the contract's ``ad_spend``). The money column in the
reporting currency is named by the setting (``cost_usd`` by default). Signs and
``installs <= clicks`` are not type constraints: the asset checks name the offending rows
instead of failing the run at the type boundary; ``cost_<report currency>`` is NaN only for
an account currency without a rate that day (the blocking FX check names it).
"""

from adperf_assets.normalize.spend import ATTRIBUTE_COLUMNS
from adperf_assets.defs.common.schema_types import date_col, float_col, frame_type, int_col, str_col
from adperf_assets.defs.common.money import CANONICAL_CURRENCY
from adperf_assets.normalize.spend import cost_column

COST_COLUMN = cost_column(CANONICAL_CURRENCY)  # stored as cost_<reporting currency>


def _columns():
    return [
        date_col("report_date"),
        *[str_col(c) for c in ATTRIBUTE_COLUMNS],
        int_col("impressions", min_value=None),
        int_col("clicks", min_value=None),
        float_col("installs"),
        float_col("cost_local"),
        float_col(COST_COLUMN, nullable=True, ignore_missing_vals=True),
    ]


_DESCRIPTION = (
    "Cost and delivery per report day (report time zone) and ad: network, account (its time zone and "
    "currency), objective, campaign, ad group (Facebook ad set), ad; impressions, clicks, installs as the "
    "network reports them, cost in the account currency and in the reporting currency at the report "
    "day's ECB rate (the last published one on weekends and holidays)."
)

NetworkSpendFrame = frame_type("NetworkSpendFrame", "One network's rows of ad_spend. " + _DESCRIPTION, _columns())
AdSpendFrame = frame_type("AdSpendFrame", "Every network in one table. " + _DESCRIPTION, _columns())

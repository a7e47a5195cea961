"""The report's output: one row per report day x level x group of ads, its columns and their dtypes.

``typed`` gives every day (and an empty day) the same table. Column meanings: docs/roas_report.md.
"""

from __future__ import annotations

import pandas as pd

from adperf_assets.report.config import ReportConfig
from adperf_assets.normalize.dates import as_datetimes

LEVEL_KEYS = {
    "ad": ["network", "account_id", "campaign_id", "ad_group_id", "ad_id"],
    "ad_group": ["network", "account_id", "campaign_id", "ad_group_id"],
    "campaign": ["network", "account_id", "campaign_id"],
    "account": ["network", "account_id"],
    "network": ["network"],
}
NAME_OF = {"account_id": "account_name", "campaign_id": "campaign_name", "ad_group_id": "ad_group_name",
           "ad_id": "ad_name"}
ID_COLUMNS = ["network", "account_id", "account_name", "campaign_id", "campaign_name", "ad_group_id",
              "ad_group_name", "ad_id", "ad_name"]


#: iOS privacy attribution (adperf_assets/skan/report.py): installs and estimated return modelled from SKAN
#: postbacks, their share of the estimate and the basis of the row's return ("measured" without them); the
#: part of a row's modelled installs / estimate that no row one level below carries (postbacks naming no lower level).
SKAN_COLUMNS = ["modelled_installs", "modelled_estimated_usd", "modelled_share", "return_basis",
                "modelled_unattributed_installs", "modelled_unattributed_usd"]
SKAN_DEFAULTS = {"modelled_installs": 0, "modelled_estimated_usd": 0.0, "modelled_share": 0.0, "return_basis": "measured",
                 "modelled_unattributed_installs": 0, "modelled_unattributed_usd": 0.0}


def roas_columns(roas_days=(7, 14, 30)) -> list[str]:
    """The report's columns in order, with a ``d{n}_roas`` and ``d{n}_note`` per D-n day."""
    return [
        "report_date", "level", *ID_COLUMNS,
        "first_spend_date", "last_spend_date", "days_live", "is_active", "history_truncated",
        "spend_installs", "users", "cost_to_date_usd", "cost_on_day_usd", "paid_to_date_usd", "return_to_date_usd",
        "horizon_days", "estimated_return_usd", "estimated_lower_usd", "estimated_upper_usd",
        "users_without_estimate", "estimate_mape", "estimators",
        "roas", "estimated_roas", "estimated_roas_lower", "estimated_roas_upper",
        *[f"d{n}_roas" for n in roas_days], *[f"d{n}_note" for n in roas_days],
        "payback_day", "payback_date", "payback_basis", "recommendation", "reason",
    ]


REPORT_COLUMNS = roas_columns()


def typed(frame: pd.DataFrame, config: ReportConfig | None = None) -> pd.DataFrame:
    """The report's dtypes (also for an empty frame), so every day stores the same table."""
    cfg = config or ReportConfig()
    cols = [*roas_columns(cfg.roas_days), *SKAN_COLUMNS]
    out = frame.reindex(columns=cols).copy()
    for c, v in SKAN_DEFAULTS.items():
        if c not in frame.columns:
            out[c] = v
    dates = ["report_date", "first_spend_date", "last_spend_date", "payback_date"]
    ints = ["days_live", "users", "horizon_days", "users_without_estimate", "modelled_installs",
            "modelled_unattributed_installs"]
    bools = ["is_active", "history_truncated"]
    strs = ["level", *ID_COLUMNS, "estimators", *[f"d{n}_note" for n in cfg.roas_days], "payback_basis",
            "recommendation", "reason", "return_basis"]
    for c in cols:
        if c in dates:
            out[c] = as_datetimes(out[c]).astype("datetime64[ns]")
        elif c in ints:
            out[c] = out[c].astype("int64")
        elif c in bools:
            out[c] = out[c].astype(bool)
        elif c in strs:
            out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str) if len(out) else out[c].astype(object)
        else:
            out[c] = out[c].astype("float64")
    return out.reset_index(drop=True)

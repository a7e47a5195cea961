"""The report's input tables (the data contract), checked and normalised once for any number of days.

A table that breaks the contract stops here naming the table, column and rows. See docs/roas_report.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from adperf_assets.ltv.keys import SEGMENT_KEYS
from adperf_assets.report.columns import ID_COLUMNS
from adperf_assets.normalize.dates import as_datetimes

SPEND_COLUMNS = ["report_date", "network", "account_id", "account_name", "campaign_id", "campaign_name",
                 "ad_group_id", "ad_group_name", "ad_id", "ad_name", "installs"]
INSTALL_COLUMNS = ["user_id", "install_date", "network", "ad_id", "attribution"]
SEGMENT_COLUMNS = ["user_id", "install_date", *SEGMENT_KEYS]
BEHAVIOR_COLUMNS = ["report_date", "user_id", "paid_usd", "credited_usd"]
LTV_COLUMNS = ["report_date", "install_date", *SEGMENT_KEYS, "horizon", "ltv_per_user_usd", "lower_usd",
               "upper_usd", "estimator", "backtest_mape"]


class ReportInputError(ValueError):
    """An input table is not what the contract says (names the table, column and rows)."""


def _require(frame: pd.DataFrame, table: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportInputError(f"{table}: missing column(s) {missing}; has {list(frame.columns)}")


def _dates(s: pd.Series) -> pd.Series:
    out = as_datetimes(s)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]").dt.normalize()


def _no_nan(frame: pd.DataFrame, table: str, columns: list[str], key: list[str]) -> None:
    for c in columns:
        bad = frame[c].isna()
        if bad.any():
            rows = frame.loc[bad, key].head(5).astype(str).to_dict("records")
            raise ReportInputError(f"{table}: {int(bad.sum())} row(s) with {c} missing, e.g. {rows}")


@dataclass
class ReportInputs:
    """The input tables, checked and normalised once for any number of report days."""

    spend: pd.DataFrame  # SPEND_COLUMNS + cost (report currency)
    users: pd.DataFrame  # one row per attributed user: user_id, install_date, network, ad_id, segment, has_segment
    revenue: pd.DataFrame  # behaviour rows of attributed users: report_date, user_id, paid, credited, + user's ad
    ltv: pd.DataFrame
    other_users: int = 0  # installs without an ad (organic, unattributed)
    credit_methods: tuple[str, ...] = ()


def prepare_inputs(spend: pd.DataFrame, installs: pd.DataFrame, segments: pd.DataFrame, behavior: pd.DataFrame,
                   ltv: pd.DataFrame, cost_column: str = "cost_usd") -> ReportInputs:
    _require(spend, "ad_spend", [*SPEND_COLUMNS, cost_column])
    _require(installs, "installs", INSTALL_COLUMNS)
    _require(segments, "user_segments", SEGMENT_COLUMNS)
    _require(behavior, "behavior_value", BEHAVIOR_COLUMNS)
    _require(ltv, "ltv_estimates", LTV_COLUMNS)

    sp = spend[SPEND_COLUMNS].copy()
    sp["cost"] = spend[cost_column].astype(float)
    sp["report_date"] = _dates(sp["report_date"])
    for c in ID_COLUMNS:
        sp[c] = sp[c].astype(str)
    _no_nan(sp, "ad_spend", ["cost"], ["report_date", "network", "account_id", "ad_id"])
    sp["installs"] = sp["installs"].astype(float).fillna(0.0)

    ins = installs[INSTALL_COLUMNS].copy()
    ins["install_date"] = _dates(ins["install_date"])
    ins["ad_id"] = ins["ad_id"].fillna("").astype(str)
    ins["network"] = ins["network"].astype(str)
    dup = ins["user_id"].duplicated(keep=False)
    if dup.any():
        raise ReportInputError(f"installs: {int(dup.sum())} rows share a user_id (a user counts once), e.g. "
                               f"{ins.loc[dup, 'user_id'].head(5).tolist()}")
    with_ad = ins["ad_id"] != ""
    other = int((~with_ad).sum())
    ins = ins[with_ad]
    seg = segments[SEGMENT_COLUMNS].drop(columns="install_date").drop_duplicates("user_id")
    seg = seg.rename(columns={"network": "seg_network", "attribution": "seg_attribution"})
    users = ins.merge(seg, on="user_id", how="left", indicator=True)
    users["has_segment"] = users.pop("_merge").eq("both")
    users["seg_attribution"] = users["seg_attribution"].fillna(users["attribution"]).astype(str)
    users["seg_network"] = users["seg_network"].fillna(users["network"]).astype(str)
    users["platform"] = users["platform"].fillna("").astype(str)
    users["is_emulator"] = users["is_emulator"].fillna(False).astype(bool)
    users = users.drop(columns="attribution").reset_index(drop=True)

    beh = behavior[BEHAVIOR_COLUMNS].copy()
    beh["report_date"] = _dates(beh["report_date"])
    _no_nan(beh, "behavior_value", ["paid_usd", "credited_usd"], ["report_date", "user_id"])
    methods = tuple(sorted(map(str, behavior["method"].unique()))) if "method" in behavior.columns else ()
    rev = beh.merge(users[["user_id", "install_date", "network", "ad_id"]], on="user_id", how="inner")
    rev = rev.rename(columns={"paid_usd": "paid", "credited_usd": "credited"})

    lt = ltv[LTV_COLUMNS].copy()
    lt["report_date"] = _dates(lt["report_date"])
    lt["install_date"] = _dates(lt["install_date"])
    lt["horizon"] = lt["horizon"].astype(int)
    for c in ("platform", "attribution", "network"):
        lt[c] = lt[c].astype(str)
    lt["is_emulator"] = lt["is_emulator"].astype(bool)
    _no_nan(lt, "ltv_estimates", ["ltv_per_user_usd"], ["report_date", "install_date", *SEGMENT_KEYS, "horizon"])
    return ReportInputs(spend=sp, users=users, revenue=rev, ltv=lt, other_users=other, credit_methods=methods)

"""Checks on ``installs``: one row per user, no install in the future, unattributed share, and
against ``ad_spend``: ad ids unknown there, MMP vs network-reported installs per ad per day.

The ``ad_spend`` checks load that asset's partitions of the window (and the days before it for
known ad ids); ``ad_spend`` must have been materialized for those days.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg
import numpy as np
import pandas as pd

from adperf_assets.defs.attribution.assets import installs
from adperf_assets.normalize.installs_vs_spend import installs_vs_network, unknown_ads
from adperf_assets.partitions import daily_partitions
from adperf_assets.defs.common.metadata import rows_check_result, table_md
from adperf_assets.defs.attribution.assets import user_segments

#: An install time later than now + this is "in the future" (clock skew allowance).
FUTURE_SKEW = timedelta(minutes=5)
#: Warn when more than this share of a window's users are unattributed.
UNATTRIBUTED_WARN_SHARE = 0.05


@dg.asset_check(asset=installs, blocking=True, partitions_def=daily_partitions,
                description="Each user appears once: a user counts once, at their first install.")
def installs_user_ids_unique(installs: pd.DataFrame) -> dg.AssetCheckResult:
    dup = installs[installs["user_id"].duplicated(keep=False)].sort_values(["user_id", "install_time_utc"])
    return dg.AssetCheckResult(
        passed=dup.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"duplicate_users": int(dup["user_id"].nunique()), "rows": table_md(dup)},
    )


@dg.asset_check(asset=installs, blocking=True, partitions_def=daily_partitions,
                description="No install time after now (a wrong time zone or a broken export).")
def installs_not_in_future(installs: pd.DataFrame) -> dg.AssetCheckResult:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    bad = installs[installs["install_time_utc"] > now + FUTURE_SKEW]
    return dg.AssetCheckResult(
        passed=bad.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"future_installs": len(bad), "checked_at_utc": str(now.replace(microsecond=0)), "rows": table_md(bad)},
    )


@dg.asset_check(asset=installs, partitions_def=daily_partitions,
                description=f"Warn when more than {UNATTRIBUTED_WARN_SHARE:.0%} of users have no MMP install row.")
def installs_unattributed_share(installs: pd.DataFrame) -> dg.AssetCheckResult:
    n = len(installs)
    una = installs[installs["attribution"] == "unattributed"]
    share = len(una) / n if n else 0.0
    return dg.AssetCheckResult(
        passed=share <= UNATTRIBUTED_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"users": n, "unattributed": len(una), "share": float(share),
                  "threshold": UNATTRIBUTED_WARN_SHARE,
                  "user_ids": dg.MetadataValue.text(", ".join(map(str, una["user_id"].head(200))) or "none")},
    )


# -- against ad_spend ---------------------------------------------------------------------------

#: An ad is known if it has an ``ad_spend`` row on the install day or the days before: an MMP
#: credits an install to a click up to a week earlier, when the ad may have stopped spending.
AD_LOOKBACK_DAYS = 7
#: Warn when more than this share of paid installs (of networks with spend) has an unknown ad id.
UNKNOWN_AD_WARN_SHARE = 0.02
#: Warn when an ad-day's MMP and network install counts differ by more than this factor ...
INSTALLS_MAX_RATIO = 1.5
#: ... and the larger count is at least this (small counts are noise).
INSTALLS_MIN_FOR_RATIO = 20

SPEND_IN = {"ad_spend": dg.AssetIn(key="ad_spend", partition_mapping=dg.TimeWindowPartitionMapping(
    start_offset=-(AD_LOOKBACK_DAYS - 1)))}


@dg.asset_check(asset=installs, partitions_def=daily_partitions, additional_ins=SPEND_IN,
                description=f"Warn when more than {UNKNOWN_AD_WARN_SHARE:.0%} of paid installs name an ad with no "
                            f"ad_spend row in the {AD_LOOKBACK_DAYS} days up to the install (a broken join).")
def installs_ad_ids_known_in_spend(installs: pd.DataFrame, ad_spend: pd.DataFrame) -> dg.AssetCheckResult:
    u = unknown_ads(installs, ad_spend)
    return dg.AssetCheckResult(
        passed=u.share <= UNKNOWN_AD_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"share": float(u.share), "threshold": UNKNOWN_AD_WARN_SHARE, "paid_installs": u.paid_installs,
                  "unknown_installs": int(u.unknown["installs"].sum()), "unknown_ads": table_md(u.unknown, 20),
                  "networks_without_spend": table_md(u.networks_without_spend)},
    )


@dg.asset_check(asset=installs, partitions_def=daily_partitions, additional_ins=SPEND_IN,
                description=f"Warn when an ad's MMP installs and its network-reported installs on a day differ by "
                            f"more than {INSTALLS_MAX_RATIO}x (at least {INSTALLS_MIN_FOR_RATIO} installs); the MMP's "
                            "count includes the day's 'restricted' iOS installs (no ATT consent) shared over the ads.")
def installs_match_network_installs(installs: pd.DataFrame, ad_spend: pd.DataFrame) -> dg.AssetCheckResult:
    days = pd.DatetimeIndex(installs["install_date"].astype("datetime64[ns]").unique())
    same_days = ad_spend[ad_spend["report_date"].astype("datetime64[ns]").isin(days)]
    cmp = installs_vs_network(installs, same_days, INSTALLS_MAX_RATIO, INSTALLS_MIN_FOR_RATIO)
    flagged = cmp[cmp["flagged"]].sort_values("network_installs", ascending=False)
    untracked = float(cmp["untracked_installs"].sum())
    mmp, net = int(cmp["mmp_installs"].sum()), float(cmp["network_installs"].sum())
    return dg.AssetCheckResult(
        passed=flagged.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"ad_days": len(cmp), "flagged_ad_days": len(flagged), "mmp_installs": mmp,
                  "untracked_ios_installs": untracked, "network_installs": net,
                  "network_over_mmp": float(net / (mmp + untracked)) if mmp else 0.0,
                  "max_ratio": INSTALLS_MAX_RATIO, "min_installs": INSTALLS_MIN_FOR_RATIO,
                  "flagged": table_md(flagged, 20)},
    )


@dg.asset_check(asset=user_segments, partitions_def=daily_partitions, blocking=True,
                additional_ins={"installs": dg.AssetIn(key="installs")},
                description="Exactly one segment row per installed user of the day.")
def user_segments_cover_installs(user_segments: pd.DataFrame, installs: pd.DataFrame) -> dg.AssetCheckResult:
    seg = user_segments[["install_date", "user_id"]].assign(in_segments=1)
    ins = installs[["install_date", "user_id"]].assign(in_installs=1)
    both = ins.merge(seg, on=["install_date", "user_id"], how="outer")
    counts = seg.groupby("user_id").size()
    problem = np.where(both["in_segments"].isna(), "installed user without segment",
                       np.where(both["in_installs"].isna(), "segment without install", ""))
    both = both.assign(problem=problem)
    dup = both["user_id"].map(counts).fillna(0) > 1
    both.loc[dup, "problem"] = "several segment rows"
    bad = both[both["problem"] != ""][["install_date", "user_id", "problem"]]
    return rows_check_result(bad, "user(s) not covered once", installs=len(installs), segments=len(user_segments))

"""Checks on ``installs``: one row per user, no install in the future, unattributed share.

The two checks against ``ad_spend`` (share of installs whose ad id is unknown there; MMP vs
network-reported installs per ad per day) need that asset and live here once it exists.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from adperf_assets.assets.attribution import installs
from adperf_assets.partitions import daily_partitions

#: An install time later than now + this is "in the future" (clock skew allowance).
FUTURE_SKEW = timedelta(minutes=5)
#: Warn when more than this share of a window's users are unattributed.
UNATTRIBUTED_WARN_SHARE = 0.05


def _md(df: pd.DataFrame, n: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(n).to_markdown(index=False) if len(df) else "_none_")


@dg.asset_check(asset=installs, blocking=True, partitions_def=daily_partitions,
                description="Each user appears once: a user counts once, at their first install.")
def installs_user_ids_unique(installs: pd.DataFrame) -> dg.AssetCheckResult:
    dup = installs[installs["user_id"].duplicated(keep=False)].sort_values(["user_id", "install_time_utc"])
    return dg.AssetCheckResult(
        passed=dup.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"duplicate_users": int(dup["user_id"].nunique()), "rows": _md(dup)},
    )


@dg.asset_check(asset=installs, blocking=True, partitions_def=daily_partitions,
                description="No install time after now (a wrong time zone or a broken export).")
def installs_not_in_future(installs: pd.DataFrame) -> dg.AssetCheckResult:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    bad = installs[installs["install_time_utc"] > now + FUTURE_SKEW]
    return dg.AssetCheckResult(
        passed=bad.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"future_installs": len(bad), "checked_at_utc": str(now.replace(microsecond=0)), "rows": _md(bad)},
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

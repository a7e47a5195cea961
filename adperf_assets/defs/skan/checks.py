"""Postback health: null values, tiers, campaigns the spend table does not know, duplicate transactions."""

import dagster as dg
import numpy as np
import pandas as pd
from scipy.stats import binom

from adperf_assets.defs.common.metadata import rows_check_result, table_md
from adperf_assets.defs.skan.assets import skan_postbacks
from adperf_assets.partitions import daily_partitions
from adperf_assets.skan.postbacks import inferred_tier

#: Warn when more winning first postbacks than this share carry no value (tier 0: too few installs per
#: campaign a day for Apple's crowd anonymity, or the app never set a value).
NULL_VALUE_WARN_SHARE = 0.5
#: Warn when fewer winning first postbacks than this share reach tier 2 (fine values).
FINE_TIER_WARN_SHARE = 0.1
#: A postback's campaign is known if ``ad_spend`` has it within this many days before the arrival
#: (a first postback arrives 3-4 days after the install, a last one up to 41 days).
CAMPAIGN_LOOKBACK_DAYS = 45
#: A share check warns only when its count is this unlikely under the threshold share (one-sided binomial):
#: a day of a dozen postbacks cannot tell 0% from 10%.
SIGNIFICANCE = 0.01


def _significantly_above(count: int, n: int, share: float) -> bool:
    return n > 0 and binom.sf(count - 1, n, share) < SIGNIFICANCE


def _significantly_below(count: int, n: int, share: float) -> bool:
    return n > 0 and binom.cdf(count, n, share) < SIGNIFICANCE

SPEND_IN = {"ad_spend": dg.AssetIn(key="ad_spend", partition_mapping=dg.TimeWindowPartitionMapping(
    start_offset=-(CAMPAIGN_LOOKBACK_DAYS - 1)))}


def _won_first(p: pd.DataFrame) -> pd.DataFrame:
    return p[(p["postback_sequence_index"] == 0) & p["did_win"]]


@dg.asset_check(asset=skan_postbacks, partitions_def=daily_partitions,
                description=f"Warn when significantly more than {NULL_VALUE_WARN_SHARE:.0%} of winning first postbacks carry no "
                            "conversion value (per campaign listed).")
def skan_null_value_share(skan_postbacks: pd.DataFrame) -> dg.AssetCheckResult:
    first = _won_first(skan_postbacks)
    null = first["fine_conversion_value"].isna() & (first["coarse_conversion_value"] == "")
    share = float(null.mean()) if len(first) else 0.0
    per = (first.assign(null=null).groupby(["network", "campaign_id"])["null"].agg(["size", "mean"])
           .rename(columns={"size": "postbacks", "mean": "null_share"}).reset_index())
    return dg.AssetCheckResult(passed=not _significantly_above(int(null.sum()), len(first), NULL_VALUE_WARN_SHARE),
                               severity=dg.AssetCheckSeverity.WARN,
                               metadata={"first_postbacks": len(first), "null_share": share,
                                         "threshold": NULL_VALUE_WARN_SHARE, "per_campaign": table_md(per, 30)})


@dg.asset_check(asset=skan_postbacks, partitions_def=daily_partitions,
                description=f"Warn when significantly fewer than {FINE_TIER_WARN_SHARE:.0%} of winning first postbacks show tier "
                            "2 or more (fine values); the tier distribution is listed.")
def skan_tier_distribution(skan_postbacks: pd.DataFrame) -> dg.AssetCheckResult:
    tier = inferred_tier(skan_postbacks).dropna()
    fine = float((tier >= 2).mean()) if len(tier) else 0.0
    dist = tier.value_counts(normalize=True).sort_index()
    return dg.AssetCheckResult(passed=not _significantly_below(int((tier >= 2).sum()), len(tier), FINE_TIER_WARN_SHARE),
                               severity=dg.AssetCheckSeverity.WARN,
                               metadata={"first_postbacks": len(tier), "fine_share": fine,
                                         **{f"tier_{int(k)}_share": float(v) for k, v in dist.items()}})


@dg.asset_check(asset=skan_postbacks, partitions_def=daily_partitions, blocking=True,
                description="Each (network, transaction id, postback index) arrives once.")
def skan_transaction_ids_unique(skan_postbacks: pd.DataFrame) -> dg.AssetCheckResult:
    key = ["network", "transaction_id", "postback_sequence_index"]
    dup = skan_postbacks[skan_postbacks.duplicated(key, keep=False)].sort_values(key)
    return rows_check_result(dup[key + ["source_file", "source_row"]], "duplicate postback(s)",
                             postbacks=len(skan_postbacks))


@dg.asset_check(asset=skan_postbacks, partitions_def=daily_partitions, additional_ins=SPEND_IN,
                description=f"Winning postbacks name campaigns with ad_spend rows in the {CAMPAIGN_LOOKBACK_DAYS} "
                            "days up to their arrival (else the source-identifier mapping is broken).")
def skan_postbacks_campaigns_known(skan_postbacks: pd.DataFrame, ad_spend: pd.DataFrame) -> dg.AssetCheckResult:
    won = skan_postbacks[skan_postbacks["did_win"]]
    known = set(zip(ad_spend["network"], ad_spend["campaign_id"].astype(str)))
    spend_networks = set(ad_spend["network"])
    unknown = won[np.array([(n, c) not in known and n in spend_networks
                            for n, c in zip(won["network"], won["campaign_id"])], dtype=bool)]
    per = unknown.groupby(["network", "campaign_id"]).size().rename("postbacks").reset_index()
    return dg.AssetCheckResult(passed=unknown.empty, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"winning_postbacks": len(won), "unknown": len(unknown),
                                         "campaigns": table_md(per, 30),
                                         "networks_without_spend": dg.MetadataValue.text(
                                             ", ".join(sorted(set(won["network"]) - spend_networks)) or "none")})

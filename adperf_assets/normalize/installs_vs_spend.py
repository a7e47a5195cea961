"""Attributed installs against the spend table: unknown ad ids, and MMP vs network install counts.

Pure functions behind the two ``installs`` checks that need ``ad_spend``: ``unknown_ads`` (paid
installs whose revenue would reach no ad) and ``installs_vs_network`` (networks over-claim, so only
large gaps are flagged). See docs/normalization.md ("Installs against spend").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.skan.schema import ATT_EXEMPT_NETWORKS, RESTRICTED


@dataclass(frozen=True)
class UnknownAds:
    share: float               # unknown / paid installs of spend networks
    paid_installs: int         # paid installs of networks that have spend rows
    unknown: pd.DataFrame      # network, ad_id, installs (per unknown id, most first)
    networks_without_spend: pd.DataFrame  # network, installs


def unknown_ads(installs: pd.DataFrame, ad_spend: pd.DataFrame) -> UnknownAds:
    paid = installs[installs["attribution"] == "paid"]
    spend_networks = set(ad_spend["network"])
    on_spend = paid[paid["network"].isin(spend_networks)]
    known = pd.MultiIndex.from_frame(ad_spend[["network", "ad_id"]].drop_duplicates().astype(str))
    keys = pd.MultiIndex.from_frame(on_spend[["network", "ad_id"]].astype(str))
    bad = on_spend[~keys.isin(known) | (on_spend["ad_id"] == "")]
    unknown = (bad.groupby(["network", "ad_id"]).size().rename("installs").reset_index()
               .sort_values("installs", ascending=False, kind="stable").reset_index(drop=True))
    other = (paid[~paid["network"].isin(spend_networks)].groupby("network").size().rename("installs")
             .reset_index())
    return UnknownAds(share=len(bad) / len(on_spend) if len(on_spend) else 0.0, paid_installs=len(on_spend),
                      unknown=unknown, networks_without_spend=other)


def untracked_per_ad(installs: pd.DataFrame) -> pd.Series:
    """Per (report_date, network, ad_id): the paid iOS installs the MMP shows as ``restricted`` (no ATT
    consent, so no ad), shared over the day's ads by their tracked iOS installs (consent does not depend
    on the ad). Networks exempt from ATT (``skan.schema.ATT_EXEMPT_NETWORKS``) get none."""
    day = installs["install_date"].astype("datetime64[ns]")
    paid = (installs["attribution"] == "paid") & (installs["platform"] == "ios")
    hidden = (paid & (installs["network"] == RESTRICTED)).groupby(day).sum()
    tracked = paid & (installs["ad_id"] != "") & ~installs["network"].isin(list(ATT_EXEMPT_NETWORKS))
    per_ad = installs[tracked].assign(report_date=day[tracked]).groupby(["report_date", "network", "ad_id"]).size()
    if per_ad.empty:
        return per_ad.astype(float).rename("untracked_installs")
    per_day = per_ad.groupby(level="report_date").transform("sum")
    share = hidden.reindex(per_ad.index.get_level_values("report_date")).fillna(0).to_numpy() / per_day.to_numpy()
    return (per_ad * share).astype(float).rename("untracked_installs")


def installs_vs_network(installs: pd.DataFrame, ad_spend: pd.DataFrame, max_ratio: float = 1.5,
                        min_installs: int = 20) -> pd.DataFrame:
    """Per (report_date, network, ad_id): ``mmp_installs``, ``untracked_installs`` (the day's ``restricted``
    iOS installs shared over the ads: ``untracked_per_ad``), ``network_installs`` (float), ``ratio``
    (network / MMP incl. untracked; inf when the MMP has none) and ``flagged``; every ad with a count > 0."""
    if max_ratio < 1:
        raise ValueError(f"max_ratio must be >= 1, got {max_ratio}")
    paid = installs[(installs["attribution"] == "paid") & (installs["ad_id"] != "")]
    mmp = (paid.assign(report_date=paid["install_date"].astype("datetime64[ns]"))
           .groupby(["report_date", "network", "ad_id"]).size().rename("mmp_installs"))
    net = (ad_spend.assign(report_date=ad_spend["report_date"].astype("datetime64[ns]"))
           .groupby(["report_date", "network", "ad_id"])["installs"].sum().rename("network_installs"))
    hidden = untracked_per_ad(installs) if "platform" in installs.columns else None
    out = pd.concat([mmp, net] + ([hidden] if hidden is not None and len(hidden) else []), axis=1).reset_index()
    out["mmp_installs"] = out["mmp_installs"].fillna(0).astype(np.int64)
    out["untracked_installs"] = out["untracked_installs"].fillna(0.0) if "untracked_installs" in out else 0.0
    out["network_installs"] = out["network_installs"].fillna(0.0).astype(float)  # Google reports fractions
    out = out[(out["mmp_installs"] > 0) | (out["network_installs"] > 0)].reset_index(drop=True)
    sure = out["mmp_installs"].to_numpy()
    m = sure + out["untracked_installs"].to_numpy(dtype=float)
    n = out["network_installs"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = np.where(m > 0, n / np.maximum(m, 1), np.inf)
    # the untracked share is an allocation: it may excuse a network's claim, never make one look short
    over, under = n / np.maximum(m, 1), sure / np.maximum(n, 1)
    out["flagged"] = ((over > max_ratio) | (under > max_ratio)) & (np.maximum(m, n) >= min_installs)
    return out

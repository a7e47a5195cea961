"""Attributed installs against the spend table: unknown ad ids, and MMP vs network install counts.

Pure functions behind the two ``installs`` checks that need ``ad_spend``: ``unknown_ads`` (paid
installs whose revenue would reach no ad) and ``installs_vs_network`` (networks over-claim, so only
large gaps are flagged). See docs/normalization.md ("Installs against spend").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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


def installs_vs_network(installs: pd.DataFrame, ad_spend: pd.DataFrame, max_ratio: float = 1.5,
                        min_installs: int = 20) -> pd.DataFrame:
    """Per (report_date, network, ad_id): ``mmp_installs``, ``network_installs`` (float), ``ratio``
    (network / MMP; inf when the MMP has none) and ``flagged``; every ad with either count > 0."""
    if max_ratio < 1:
        raise ValueError(f"max_ratio must be >= 1, got {max_ratio}")
    paid = installs[(installs["attribution"] == "paid") & (installs["ad_id"] != "")]
    mmp = (paid.assign(report_date=paid["install_date"].astype("datetime64[ns]"))
           .groupby(["report_date", "network", "ad_id"]).size().rename("mmp_installs"))
    net = (ad_spend.assign(report_date=ad_spend["report_date"].astype("datetime64[ns]"))
           .groupby(["report_date", "network", "ad_id"])["installs"].sum().rename("network_installs"))
    out = pd.concat([mmp, net], axis=1).reset_index()
    out["mmp_installs"] = out["mmp_installs"].fillna(0).astype(np.int64)
    out["network_installs"] = out["network_installs"].fillna(0.0).astype(float)  # Google reports fractions
    out = out[(out["mmp_installs"] > 0) | (out["network_installs"] > 0)].reset_index(drop=True)
    m, n = out["mmp_installs"].to_numpy(), out["network_installs"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = np.where(m > 0, n / np.maximum(m, 1), np.inf)
        spread = np.maximum(m, n) / np.maximum(np.minimum(m, n), 1)
    out["flagged"] = (spread > max_ratio) & (np.maximum(m, n) >= min_installs)
    return out

"""A campaign's SKAN-modelled part placed on its ad groups and ads, as far as the postbacks name them.

SKAN 4 gives a 3- or 4-digit source identifier (ad group, ad) only when the install's crowd-anonymity tier
allows it, so an ad's postbacks are seen only partly, and the busier the ad the larger the part. Each row
therefore gets the modelled part of the postbacks that **name it** (its share of the campaign's postbacks:
counts for installs, key values for return), and what the postbacks name only at a higher level stays there
as an explicit remainder: ad rows + the ad group's remainder = the ad group, ad groups + the campaign's
remainder = the campaign. Nothing is allocated by guess, so a row never holds another row's installs; its
bias is known: a row is low by its own unnamed untracked installs, more so for small ads (docs/skan.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVELS = ("campaign", "ad_group", "ad")
BELOW_COLUMNS = ["level", "network", "campaign_id", "ad_group_id", "ad_id", "skan_installs", "modelled_installs",
                 "modelled_return_usd", "modelled_lower_usd", "modelled_upper_usd", "null_share", "value_share"]


def apportion(x: np.ndarray, total: int) -> np.ndarray:
    """Integers that add up to ``total`` (``x`` adds up to it), each within 1 of its ``x``: cumulative rounding."""
    x = np.asarray(x, dtype=float)
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    c = np.round(np.cumsum(x))
    c[-1] = total
    c = np.maximum.accumulate(np.clip(c, 0, total))
    return np.diff(np.concatenate([[0.0], c])).astype(np.int64)


def leaf_of(installs: pd.DataFrame) -> pd.Series:
    """Per install the lowest level its postback names: ``ad`` (4 digits), ``ad_group`` (3) or ``campaign``."""
    grp = installs["ad_group_id"].fillna("").astype(str) != ""
    ad = grp & (installs["ad_id"].fillna("").astype(str) != "")
    return pd.Series(np.where(ad, "ad", np.where(grp, "ad_group", "campaign")), index=installs.index)


def allocate_below(installs: pd.DataFrame, values: np.ndarray, campaigns: pd.DataFrame) -> pd.DataFrame:
    """Per ad group and ad named by postbacks: its part of its campaign's modelled installs and return.

    ``installs``: one row per install (``install_keys``: network, campaign_id, ad_group_id, ad_id) of the
    cohorts the campaigns were modelled on; ``values``: each install's key value (NaN without a key: tier 0,
    taken at the campaign's mean keyed value); ``campaigns``: network, campaign_id, modelled_installs,
    modelled_return_usd, modelled_lower_usd, modelled_upper_usd.

    Installs: the campaign's modelled installs M over its N postbacks, M x n / N per leaf (ad / ad group only /
    campaign only), rounded so the leaves add up to M. Return: the campaign's modelled return x the leaf's share
    of the postbacks' key values. A row's interval: the campaign's half-widths x sqrt(share): exact for the
    rest's own scatter (independent per install), wider than needed for the key values' and the ratio's error,
    which a share carries in proportion. Rows are subtrees: an ad group's part includes its ads'.
    ``value_share``: the row's share of the campaign's modelled return; ``null_share``: of its postbacks without
    a value."""
    cols = {c: pd.Series(dtype=object) for c in BELOW_COLUMNS[:5]}
    empty = pd.DataFrame({**cols, **{c: pd.Series(dtype="int64") for c in BELOW_COLUMNS[5:7]},
                          **{c: pd.Series(dtype="float64") for c in BELOW_COLUMNS[7:]}})
    if installs.empty or campaigns.empty:
        return empty
    inst = installs[["network", "campaign_id", "ad_group_id", "ad_id"]].astype(str).reset_index(drop=True)
    inst["value"] = np.asarray(values, dtype=float)
    inst["leaf"] = leaf_of(inst).to_numpy()
    inst.loc[inst["leaf"] == "campaign", ["ad_group_id", "ad_id"]] = ""
    inst.loc[inst["leaf"] == "ad_group", "ad_id"] = ""
    camp = campaigns.set_index(["network", "campaign_id"])
    rows = []
    for (net, cid), g in inst.groupby(["network", "campaign_id"], sort=True):
        if (net, cid) not in camp.index:
            continue
        c = camp.loc[(net, cid)]
        m = int(c["modelled_installs"])
        if m <= 0:
            continue
        v = g["value"].to_numpy()
        keyed = np.isfinite(v)
        v = np.where(keyed, v, v[keyed].mean() if keyed.any() else 1.0)
        if v.sum() <= 0:
            v = np.ones(len(v))  # no value anywhere: shares by count
        leaves = g.assign(value=v, null=~keyed).groupby(["ad_group_id", "ad_id"], sort=True).agg(
            n=("value", "size"), value=("value", "sum"), null=("null", "sum")).reset_index()
        leaves["inst"] = apportion(m * leaves["n"].to_numpy() / len(g), m)
        leaves["share"] = leaves["value"] / v.sum()
        ret = float(c["modelled_return_usd"])
        lo_half, hi_half = ret - float(c["modelled_lower_usd"]), float(c["modelled_upper_usd"]) - ret
        named = leaves[leaves["ad_group_id"] != ""]
        for level, keys in (("ad_group", ["ad_group_id"]), ("ad", ["ad_group_id", "ad_id"])):
            sub = named if level == "ad_group" else named[named["ad_id"] != ""]
            for k, t in sub.groupby(keys, sort=True):
                k = k if isinstance(k, tuple) else (k,)
                s = float(t["share"].sum())
                r = s * ret
                rows.append({"level": level, "network": net, "campaign_id": cid, "ad_group_id": k[0],
                             "ad_id": k[1] if level == "ad" else "", "skan_installs": int(t["n"].sum()),
                             "modelled_installs": int(t["inst"].sum()), "modelled_return_usd": r,
                             "modelled_lower_usd": max(r - lo_half * np.sqrt(s), 0.0),
                             "modelled_upper_usd": r + hi_half * np.sqrt(s),
                             "null_share": float(t["null"].sum() / t["n"].sum()), "value_share": s})
    if not rows:
        return empty
    out = pd.DataFrame(rows)[BELOW_COLUMNS]
    for c in ("skan_installs", "modelled_installs"):
        out[c] = out[c].astype("int64")
    return out.reset_index(drop=True)

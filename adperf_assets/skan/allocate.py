"""A campaign's SKAN-modelled part placed on its ad groups and ads (docs/skan.md).

SKAN 4 gives a 3- or 4-digit source identifier (ad group, ad) only when the install's crowd-anonymity tier
allows it, so an ad's postbacks are seen only partly, and the busier the ad the larger the part: splitting
the rest by the named postbacks' shares favours busy ads. So each row gets the modelled part of the
postbacks that **name it** (exactly placed), and what is named only higher up goes to the rows whose
**tracked users** (whose ad the MMP names at every tier: a sample of all installs that tiers do not bias)
show more installs than their postbacks name; what no row below can take stays as the row's remainder.
Ad rows + the ad group's remainder = the ad group, ad groups + the campaign's remainder = the campaign.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

BELOW_COLUMNS = ["level", "network", "campaign_id", "ad_group_id", "ad_id", "skan_installs", "modelled_installs",
                 "modelled_return_usd", "modelled_lower_usd", "modelled_upper_usd", "null_share", "value_share",
                 "allocated_share"]


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


def allocate_below(installs: pd.DataFrame, values: np.ndarray, campaigns: pd.DataFrame,
                   tracked: pd.DataFrame | None = None, level: float = 0.99) -> pd.DataFrame:
    """Per ad group and ad: its part of its campaign's modelled installs and return.

    ``installs``: one row per install (``install_keys``: network, campaign_id, ad_group_id, ad_id) of the
    cohorts the campaigns were modelled on; ``values``: each install's key value (NaN without a key: tier 0,
    taken at the campaign's mean keyed value); ``campaigns``: network, campaign_id, modelled_installs,
    modelled_return_usd, modelled_lower_usd, modelled_upper_usd; ``tracked``: one row per tracked user of
    those cohorts with the ad the MMP names (network, campaign_id, ad_group_id, ad_id; optionally ``value``:
    the key value of the user's own keys), or None.

    Named part: the campaign's modelled installs M over its N postbacks, M / N per postback to the lowest
    level it names (ad / ad group / campaign); return by the postbacks' key values. Rest (with ``tracked``):
    what postbacks name only higher up goes down to the rows whose tracked users show more installs than their
    postbacks name: a row's unnamed installs are estimated as t / p − named (t its tracked users, p = the
    campaign's tracked share), the campaign's 2-digit part is split over its ad groups by that, each ad group's
    3-digit part plus what it got over its ads; the value by that x the row's mean tracked key value (``value``
    of ``tracked``: their own keys' values), shrunk to the campaign's. Without ``tracked``, or where no row
    below shows unnamed installs, it stays as the row's remainder. Installs are whole numbers
    (cumulative rounding: the parts add up to M). Interval: the campaign's decoder half-widths x sqrt(share)
    (exact for the rest's own scatter, wide for the shared key-value and ratio errors) and, for an allocated
    part, its sampling error (binomial t: relative sd sqrt(t (1 − p)) / (p x unnamed)), in quadrature. Rows
    are subtrees: an ad group's part includes its ads'. ``value_share``: the row's share of the campaign's
    modelled return; ``allocated_share``: of the row's modelled return, the allocated part; ``null_share``: of
    its postbacks without a value."""
    cols = {c: pd.Series(dtype=object) for c in BELOW_COLUMNS[:5]}
    empty = pd.DataFrame({**cols, **{c: pd.Series(dtype="int64") for c in BELOW_COLUMNS[5:7]},
                          **{c: pd.Series(dtype="float64") for c in BELOW_COLUMNS[7:]}})
    if installs.empty or campaigns.empty:
        return empty
    z = float(norm.ppf(0.5 + level / 2))
    inst = installs[["network", "campaign_id", "ad_group_id", "ad_id"]].astype(str).reset_index(drop=True)
    inst["value"] = np.asarray(values, dtype=float)
    inst["leaf"] = leaf_of(inst).to_numpy()
    inst.loc[inst["leaf"] == "campaign", ["ad_group_id", "ad_id"]] = ""
    inst.loc[inst["leaf"] == "ad_group", "ad_id"] = ""
    camp = campaigns.set_index(["network", "campaign_id"])
    trk = {}
    if tracked is not None and len(tracked):
        t = tracked[["network", "campaign_id", "ad_group_id", "ad_id"]].astype(str)
        t["value"] = tracked["value"].to_numpy(float) if "value" in tracked else 1.0  # no keys: all alike
        agg = t.groupby(["network", "campaign_id", "ad_group_id", "ad_id"], sort=True)["value"].agg(["size", "sum"])
        agg.columns = ["n", "value"]
        trk = {k: g.droplevel([0, 1]) for k, g in agg.groupby(level=[0, 1])}
    rows = []
    # keyless installs at their campaign's mean keyed value; a campaign with no value anywhere: by count
    cg = inst.groupby(["network", "campaign_id"], sort=False)["value"]
    inst["null"] = ~np.isfinite(inst["value"].to_numpy())
    inst["value"] = inst["value"].fillna(cg.transform("mean")).fillna(1.0)
    none = inst.groupby(["network", "campaign_id"], sort=False)["value"].transform("sum").to_numpy() <= 0
    inst.loc[none, "value"] = 1.0
    inst["n"] = 1
    lv_all = inst.groupby(["network", "campaign_id", "ad_group_id", "ad_id"], sort=True)[["n", "value", "null"]].sum()
    for (net, cid), lv in lv_all.groupby(level=[0, 1], sort=True):
        if (net, cid) not in camp.index:
            continue
        c = camp.loc[(net, cid)]
        m = int(c["modelled_installs"])
        if m <= 0:
            continue
        n_all, v_all = int(lv["n"].sum()), float(lv["value"].sum())
        # per leaf (ad_group_id, ad_id; "" = the level above): named postbacks n, modelled installs x, value
        # share s, allocated share a and its squared sampling half-width h2 (in shares)
        leaf = {(k[2], k[3]): {"n": int(n), "x": m * n / n_all, "s": v / v_all, "a": 0.0, "h2": 0.0, "null": int(nl)}
                for k, n, v, nl in zip(lv.index, lv["n"], lv["value"], lv["null"])}
        p = (n_all - m) / n_all
        if tracked is not None and p > 0:
            _allocate(leaf, trk.get((net, cid), pd.DataFrame({"n": [], "value": []})), p, z)
        rows += _rows(leaf, net, cid, m, float(c["modelled_return_usd"]), float(c["modelled_lower_usd"]),
                      float(c["modelled_upper_usd"]))
    if not rows:
        return empty
    out = pd.DataFrame(rows)[BELOW_COLUMNS]
    for c in ("skan_installs", "modelled_installs"):
        out[c] = out[c].astype("int64")
    return out.reset_index(drop=True)


def _unnamed(t: float, named: int, p: float) -> tuple[float, float]:
    """A row's installs its postbacks did not name, t / p − named (>= 0), and its relative sampling sd."""
    u = max(t / p - named, 0.0)
    return u, (min(np.sqrt(t * (1 - p)) / p / u, 1.0) if u > 0 else 0.0)


def _move(leaf: dict, src, w_x: dict, w_s: dict, rel: dict, z: float) -> None:
    """Move leaf ``src``'s installs and value to the leaves in ``w_x`` / ``w_s`` in proportion (new leaves as needed)."""
    tx, ts = sum(w_x.values()), sum(w_s.values())
    if tx <= 0 or ts <= 0 or src not in leaf:
        return
    s = leaf[src]
    for k in w_x:
        d = leaf.setdefault(k, {"n": 0, "x": 0.0, "s": 0.0, "a": 0.0, "h2": 0.0, "null": 0})
        fx, fs = w_x[k] / tx, w_s[k] / ts
        d["x"] += fx * s["x"]
        d["s"] += fs * s["s"]
        d["a"] += fs * s["s"]  # all of it allocated, for the row it moves to
        d["h2"] += fs * fs * s["h2"] + (z * fs * s["s"] * rel[k]) ** 2
    s["x"] = s["s"] = s["a"] = s["h2"] = 0.0


#: Pseudo-users of the campaign's mean in a row's mean tracked key value (as the decoder's key shrinkage).
SHRINK = 20.0


def _allocate(leaf: dict, t: pd.DataFrame, p: float, z: float) -> None:
    """The rest named only higher up, down to the rows whose tracked users show unnamed installs: the
    campaign's over its ad groups, then each ad group's over its ads; installs by the unnamed installs, value
    by them x the row's mean tracked key value (shrunk to the campaign's: an ad's quality as its users' keys
    show it). ``t``: tracked users (``n``) and their summed key values (``value``) per (ad group, ad)."""
    has_value = bool(len(t)) and np.isfinite(t["value"].to_numpy(float)).all() and t["value"].sum() > 0
    q_c = float(t["value"].sum() / t["n"].sum()) if has_value else 1.0

    def quality(n: float, v: float) -> float:
        return (v + SHRINK * q_c) / (n + SHRINK) if has_value else 1.0

    t_ad = {k: (float(n), float(v)) for k, n, v in zip(t.index, t["n"], t["value"])} if len(t) else {}
    t_g: dict = {}
    for (gr, _), (n, v) in t_ad.items():
        n0, v0 = t_g.get(gr, (0.0, 0.0))
        t_g[gr] = (n0 + n, v0 + v)
    by_group: dict = {}
    for k in [*leaf, *t_ad]:
        if k[0]:
            by_group.setdefault(k[0], set()).add(k[1])
    named_g = {gr: 0 for gr in by_group}
    for k, d in leaf.items():
        if k[0]:
            named_g[k[0]] += d["n"]
    u_g = {(gr, ""): _unnamed(t_g.get(gr, (0.0, 0.0))[0], named_g[gr], p) for gr in sorted(by_group)}
    _move(leaf, ("", ""), {k: u for k, (u, _) in u_g.items()},
          {k: u * quality(*t_g.get(k[0], (0.0, 0.0))) for k, (u, _) in u_g.items()},
          {k: r for k, (_, r) in u_g.items()}, z)
    for gr in sorted(by_group):
        ads = sorted(a for a in by_group[gr] if a)
        u_a = {(gr, a): _unnamed(t_ad.get((gr, a), (0.0, 0.0))[0], leaf.get((gr, a), {"n": 0})["n"], p) for a in ads}
        _move(leaf, (gr, ""), {k: u for k, (u, _) in u_a.items()},
              {k: u * quality(*t_ad.get(k, (0.0, 0.0))) for k, (u, _) in u_a.items()},
              {k: r for k, (_, r) in u_a.items()}, z)


def _rows(leaf: dict, net: str, cid: str, m: int, ret: float, lower: float, upper: float) -> list[dict]:
    """The ad group and ad rows (subtrees of leaves) of one campaign."""
    keys = sorted(leaf)
    ints = dict(zip(keys, apportion(np.array([leaf[k]["x"] for k in keys]), m)))
    lo_half, hi_half = ret - lower, upper - ret
    rows = []
    by_group: dict = {}
    for k in keys:
        if k[0]:
            by_group.setdefault(k[0], []).append(k)
    for gr, in_group in by_group.items():
        for level, ks in [("ad_group", in_group), *(("ad", [k]) for k in in_group if k[1])]:
            n = sum(leaf[k]["n"] for k in ks)
            s = sum(leaf[k]["s"] for k in ks)
            if not n and s <= 0:
                continue
            a, h2 = sum(leaf[k]["a"] for k in ks), sum(leaf[k]["h2"] for k in ks)
            r = s * ret
            lo = math.sqrt(lo_half ** 2 * s + h2 * ret ** 2)
            hi = math.sqrt(hi_half ** 2 * s + h2 * ret ** 2)
            rows.append({"level": level, "network": net, "campaign_id": cid, "ad_group_id": gr,
                         "ad_id": ks[0][1] if level == "ad" else "", "skan_installs": n,
                         "modelled_installs": int(sum(ints[k] for k in ks)), "modelled_return_usd": r,
                         "modelled_lower_usd": max(r - lo, 0.0), "modelled_upper_usd": r + hi,
                         "null_share": sum(leaf[k]["null"] for k in ks) / n if n else 0.0, "value_share": s,
                         "allocated_share": a / s if s > 0 else 0.0})
    return rows

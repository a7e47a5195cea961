"""SKAN-modelled installs and 180-day return per iOS ad and ad group, scored against generated worlds' truth.

    PYTHONPATH=. .venv/bin/python benchmarks/skan_ads.py --world DIR [DIR ...] [--min-monthly 30]

Reads a world as ``benchmarks/skan.py`` does (its ``load``: postbacks, tracked and restricted users with
their keys and realised 180-day return), fits ``SkanDecoder`` and places each campaign's modelled part on
its ad groups and ads (``skan.allocate.allocate_below``) as the report does: the part of the postbacks that
name them, and the rest by their tracked users. A row shows its tracked users (their ad from the MMP's
install row) + its modelled part. Scored per ad / ad group with
at least ``--min-monthly`` true paid-iOS installs a month, against the world's truth (``truth/users``: each
paid user's true ad and expected 180-day LTV): installs and return MAPE and median error, and how much of
the campaigns' modelled installs stays in the campaign- and ad-group-level remainder. For contrast, three
allocations the report does not use: ``named only`` (no allocation: the rest stays as remainders),
``naive`` (the whole modelled rest split by the 4-digit postbacks' shares) and ``by tracked`` (the campaign's SKAN installs split by its tracked users' shares); and, as a
diagnosis, ``perfect``: every paid user's realised return by their true ad (world truth), the error no
measurement of realised revenue avoids. Last line: one JSON object over all worlds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from skan import load  # noqa: E402  (benchmarks/skan.py)

from adperf_assets.sample import layout  # noqa: E402
from adperf_assets.skan.allocate import allocate_below  # noqa: E402
from adperf_assets.skan.decode import SkanDecoder  # noqa: E402

KEYS = {"ad": ["network", "campaign_id", "ad_group_id", "ad_id"], "ad_group": ["network", "campaign_id", "ad_group_id"]}


def score(world: Path, args) -> tuple[pd.DataFrame, dict]:
    w = load(world, args.horizon)
    inst = w["installs"].reset_index(drop=True)
    dec = SkanDecoder().fit(w["calibration"])
    pred = dec.predict(inst, w["tracked"])
    camp = pred.rename(columns={"modelled_return": "modelled_return_usd", "modelled_return_low": "modelled_lower_usd",
                                "modelled_return_high": "modelled_upper_usd"})
    values = dec.predict_keys(inst["key"], inst["later"])
    named = allocate_below(inst, values, camp)  # the named part only, the rest left as remainders
    users = pd.read_parquet(layout.truth(world, "users"), columns=["user_id", "cohort_date", "acquisition", "network",
                                                                   "campaign_id", "ad_group_id", "ad_id", "platform",
                                                                   f"expected_ltv_usd_{args.horizon}"])
    users = users[(users["cohort_date"] <= w["cutoff"]) & (users["acquisition"] == "paid") & (users["platform"] == "ios")
                  & users["campaign_id"].isin(set(camp["campaign_id"]))]
    # the tracked users' ad: the MMP names it (the world's truth is the same for them)
    trk = w["tracked"][["user_id", "value", "fine", "later"]].merge(users[["user_id", *KEYS["ad"]]], on="user_id",
                                                                   how="inner")
    # as the report: the rest allocated by the tracked users (and their keys' values)
    below = allocate_below(inst, values, camp, trk.assign(value=dec.predict_keys(trk["fine"], trk["later"])))
    rows, remainder = [], {}
    c_total = camp.set_index(["network", "campaign_id"])
    for level, key in KEYS.items():
        truth = users.groupby(key).agg(true_installs=("user_id", "size"),
                                       true_return=(f"expected_ltv_usd_{args.horizon}", "sum"))
        t = trk.groupby(key).agg(tracked=("user_id", "size"), tracked_return=("value", "sum"))
        # diagnosis: every paid user's realised return by their true ad (perfect user-level attribution)
        perfect = w["attributed"][["user_id", "value"]].merge(users[["user_id", *key]], on="user_id").groupby(key)[
            "value"].sum().rename("perfect_return")
        truth = truth.join(perfect, how="left")
        b = below[below["level"] == level].set_index(key)[["skan_installs", "modelled_installs", "modelled_return_usd",
                                                           "modelled_lower_usd", "modelled_upper_usd", "allocated_share"]]
        nb = named[named["level"] == level].set_index(key)["modelled_installs"].rename("named_modelled")
        out = truth.join(t, how="left").join(b, how="left").join(nb, how="left").fillna(0).reset_index()
        out["named_installs"] = out["tracked"] + out["named_modelled"]
        out["level"] = level
        out["shown_installs"] = out["tracked"] + out["modelled_installs"]
        out["shown_return"] = out["tracked_return"] + out["modelled_return_usd"]
        out["covered"] = ((out["tracked_return"] + out["modelled_lower_usd"] <= out["true_return"])
                          & (out["true_return"] <= out["tracked_return"] + out["modelled_upper_usd"]))
        cc = c_total.reindex(pd.MultiIndex.from_frame(out[["network", "campaign_id"]]))
        # naive: the campaign's whole modelled rest by the named postbacks' shares; by tracked: its SKAN installs
        n_named = out.groupby(["network", "campaign_id"])["skan_installs"].transform("sum").to_numpy()
        out["naive_installs"] = out["tracked"] + cc["modelled_installs"].to_numpy() * np.divide(
            out["skan_installs"].to_numpy(), n_named, out=np.zeros(len(out)), where=n_named > 0)
        t_c = out.groupby(["network", "campaign_id"])["tracked"].transform("sum").to_numpy()
        out["by_tracked_installs"] = cc["skan_installs"].to_numpy() * np.divide(
            out["tracked"].to_numpy(), t_c, out=np.zeros(len(out)), where=t_c > 0)
        out["monthly"] = out["true_installs"] / w["months"]
        rows.append(out.assign(world=str(world), opt_in=w["opt_in"]))
        for name, frame in (("", below), ("named_", named)):
            on_level = frame.loc[frame["level"] == level, "modelled_installs"].sum()
            remainder[name + level] = float(1 - on_level / max(camp["modelled_installs"].sum(), 1))
    print(f"world {world}: att_opt_in {w['opt_in']}, cohorts up to {w['cutoff'].date()} ({w['months']:.1f} months); "
          f"of {int(camp['modelled_installs'].sum())} modelled installs {100 * (1 - remainder['ad_group']):.1f}% on ad "
          f"groups, {100 * (1 - remainder['ad']):.1f}% on ads (named by postbacks: "
          f"{100 * (1 - remainder['named_ad_group']):.1f}%, {100 * (1 - remainder['named_ad']):.1f}%)")
    return pd.concat(rows, ignore_index=True), remainder


def summary(g: pd.DataFrame) -> dict:
    err = lambda a, b: (a / b - 1) * 100  # noqa: E731
    s = {"rows": len(g)}
    for name, col in (("installs", "shown_installs"), ("named_only_installs", "named_installs"),
                      ("naive_installs", "naive_installs"),
                      ("by_tracked_installs", "by_tracked_installs")):
        e = err(g[col], g["true_installs"])
        s[f"{name}_mape"], s[f"{name}_median_err"] = round(float(e.abs().mean()), 1), round(float(e.median()), 1)
    e = err(g["shown_return"], g["true_return"])
    s["return_mape"], s["return_median_err"] = round(float(e.abs().mean()), 1), round(float(e.median()), 1)
    e = err(g["perfect_return"], g["true_return"])
    s["perfect_return_mape"] = round(float(e.abs().mean()), 1)
    s["named_share"] = round(float((g["skan_installs"] / g["true_installs"]).median()), 3)
    s["coverage"] = round(float(g["covered"].mean()), 3)
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, type=Path, nargs="+")
    ap.add_argument("--horizon", type=int, default=180)
    ap.add_argument("--min-monthly", type=float, default=30.0, help="true paid-iOS installs a month an ad needs")
    args = ap.parse_args()
    scored = [score(w, args) for w in args.world]
    rows = pd.concat([s for s, _ in scored], ignore_index=True)
    rows = rows[rows["monthly"] >= args.min_monthly]
    for level in ("ad_group", "ad"):
        g = rows[rows["level"] == level]
        # by volume: the named share, hence the shown part, grows with an ad's volume
        for lo, hi in ((args.min_monthly, 100), (100, 300), (300, np.inf)):
            b = g[(g["monthly"] >= lo) & (g["monthly"] < hi)]
            if len(b):
                print(f"{level:<8} {lo:>4.0f}-{hi:<4.0f}/month:", json.dumps(summary(b)))
        print(f"{level:<8} all:", json.dumps(summary(g)))
    if len(args.world) > 1:
        for (level, opt), g in rows.groupby(["level", "opt_in"]):
            print(f"{level:<8} att_opt_in {opt}:", json.dumps(summary(g)))
    # where a level's error comes from: its tracked users' realised return vs p x the truth, the modelled part
    # vs (1 - p) x the truth (pooled sums)
    for level, g in rows.groupby("level"):
        p = g["tracked"].sum() / g["true_installs"].sum()
        print(f"{level:<8} pooled: shown / true return {g['shown_return'].sum() / g['true_return'].sum():.3f}, tracked / "
              f"(p x true) {g['tracked_return'].sum() / (p * g['true_return'].sum()):.3f}, modelled / ((1 - p) x true) "
              f"{g['modelled_return_usd'].sum() / ((1 - p) * g['true_return'].sum()):.3f}; allocated share of the "
              f"modelled return {(g['allocated_share'] * g['modelled_return_usd']).sum() / g['modelled_return_usd'].sum():.3f}")
    rem = {k: round(float(np.mean([r[k] for _, r in scored])), 3) for k in scored[0][1]}
    print(json.dumps({"ads": summary(rows[rows["level"] == "ad"]), "ad_groups": summary(rows[rows["level"] == "ad_group"]),
                      "remainder_share": {"above_ad_groups": rem["ad_group"], "above_ads": rem["ad"],
                                          "named_only_above_ad_groups": rem["named_ad_group"],
                                          "named_only_above_ads": rem["named_ad"]}}))


if __name__ == "__main__":
    main()

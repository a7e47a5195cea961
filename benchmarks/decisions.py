"""Per-ad 180-day value at ad ages 7, 14 and 30 days, scored against a generated world's truth.

    PYTHONPATH=. .venv/bin/python benchmarks/decisions.py --world DIR [--ages 7 14 30] [--horizon 180]

DIR is any generated world (``generate_world``; the ``ads`` preset gives ads with >= 30 installs a day).
It reads the world's files directly with pandas, not through Dagster: the users' attribution to ads
(``truth/user_value.ad_index``, the MMP's), their install day and segment (``truth/users``), the
purchases (``truth/purchases``, gross USD, times 1 - refund_rate - chargeback_rate of ``world.json``,
the expected net share, since the truth is net), the ads' start days (``truth/ads``) and cost
(``truth/spend``). The segment curves (expected cumulative net revenue per user by age, per platform x
acquisition x network x emulator) are the realised means over each segment's users with 180 days seen,
i.e. what a well-fitted cohort model would give.

An ad at age A has the users it brought on its days 0..A-1, seen up to its day A-1. Every ad that ran
at least max(ages) days is scored at every age against its truth (``truth/ad_value``: the expected
180-day revenue per install of all its users) by:

- ``adperf``: ``AdValueEstimator`` (report/ad_value.py, docs/per_ad_value.md);
- ``oracle``: the true expected 180-day revenue per install of the users it had by age A (its error is
  which users came first, pure chance);
- ``segment_average``: its users x their segment's 180-day LTV (today's report default);
- ``dn_multiplier``: D-A revenue per install of the cohorts whose first A days are seen (at age A: the
  first day's) x the segment's LTV(180) / LTV(A), the industry rule;
- ``cohort_multiplier``: every cohort's revenue so far x LTV(180) / LTV(its age), the same rule using
  every cohort (``adperf`` with credibility 1).

Decisions as the report makes them (report/recommend.py, ReportConfig defaults): ``adperf`` stops when the
99% upper bound of the estimated ROAS is below ``stop_below`` (1.0) and scales when the lower bound is above
``scale_above`` (1.2); a point estimator (no interval) calls with the same thresholds on its estimate;
``adperf_point`` calls on adperf's estimate at an age where adperf's interval covered the truth in
>= ``POINT_CALL_MIN_COVERAGE`` of the ads (an honest interval: the estimate is then the centre of a calibrated
distribution), else with the interval rule (``rule`` in the JSON says which). Per estimator and age:
``stop_precision`` = share of the stop calls whose ad's true ROAS < 1, ``scale_precision`` = share of the
scale calls with true ROAS > 1, ``unprofitable_spend_stopped`` = the cost of truly unprofitable ads after a
stop call at that age (life cost - cost so far) over the life cost of all truly unprofitable ads (null: no
call / no such ad). MAPE and bias are means over the ads of (estimate - truth) / truth in %, ``rmse_usd``
the root mean squared error per install in USD (the loss the credibility weights minimise; table only).
ROAS is value per install x installs / cost up to the age; the true ROAS is the ad's true value over its
whole cost. ``unprofitable_spend_stopped_at_equal_precision``: each point estimator's stop threshold moved to
the most stops that keep its precision at ``adperf_point``'s (``stopped_at_precision``). Prints a table, then one JSON line (issue 17's format, with bias, stops, scales and rule added).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.report.ad_value import AdValueEstimator
from adperf_assets.report.config import ReportConfig
from adperf_assets.sample import layout
from world_truth import KEYS, SEGMENT, read_truth

ESTIMATORS = ("adperf", "adperf_point", "oracle", "segment_average", "dn_multiplier", "cohort_multiplier")
#: adperf_point calls on adperf's point estimate at an age where adperf's 99% interval covered the truth
#: in at least this share of the ads (the issue's bar for an honest interval); elsewhere the interval rule
POINT_CALL_MIN_COVERAGE = 0.95


def load(world: Path, horizon: int) -> dict:
    w = read_truth(world, horizon)
    cfg, users, b_user, b_age, b_net = w["cfg"], w["users"], w["b_user"], w["b_age"], w["b_net"]
    users["seg"] = users.groupby(SEGMENT, sort=True).ngroup()
    truth = pd.read_parquet(layout.truth(world, "ad_value"))
    if not (truth[KEYS].to_numpy() == w["ads"][KEYS].to_numpy()).all():
        raise SystemExit(f"{world}: truth/ads and truth/ad_value list different ads")
    days = int(cfg["days"])
    # segment curves: mean net revenue per user over its first a days, users with the horizon seen
    seen = users["day"].to_numpy() <= days - 1 - horizon
    n_seg = int(users["seg"].max()) + 1
    seg_users = np.bincount(users["seg"].to_numpy()[seen], minlength=n_seg)
    bsel = seen[b_user]
    rev = np.bincount(users["seg"].to_numpy()[b_user[bsel]] * horizon + b_age[bsel],
                      b_net[bsel], minlength=n_seg * horizon).reshape(n_seg, horizon)
    curves = np.concatenate([np.zeros((n_seg, 1)), np.cumsum(rev, axis=1)], axis=1) / np.maximum(seg_users, 1)[:, None]
    return {**w, "ads": w["ads"][["start_day", "end_day"]], "truth": truth, "curves": curves, "days": days,
            "seg_users": seg_users}


def cells_at(w: dict, age: int, horizon: int, ad_ix: np.ndarray) -> pd.DataFrame:
    """Per scored ad x install day of the ad x segment: users, net revenue within the horizon up to the ad's
    day ``age - 1``, age seen, the segment curve so far and at the horizon, the true value of the users."""
    u = w["users"]
    start = w["ads"]["start_day"].to_numpy()
    a_of = u["ad_index"].to_numpy()
    ok = np.isin(a_of, ad_ix)
    d = np.where(ok, u["day"].to_numpy() - start[np.maximum(a_of, 0)], -1)
    d = np.where(ok, np.maximum(d, 0), -1)  # the ad's day 0 in its own zone may be the day before in ours
    sel = ok & (d < age)
    frame = pd.DataFrame({"ad_index": a_of[sel], "ad_day": d[sel], "seg": u["seg"].to_numpy()[sel],
                          "true_value": u["true_value"].to_numpy()[sel]})
    frame["revenue_usd"] = 0.0
    idx = np.flatnonzero(sel)
    pos = np.full(len(u), -1)
    pos[idx] = np.arange(len(idx))
    b_pos = pos[w["b_user"]]
    last_day = start[np.maximum(a_of, 0)] + age - 1
    b_ok = (b_pos >= 0) & (w["b_day"] <= last_day[w["b_user"]])
    frame["revenue_usd"] = np.bincount(b_pos[b_ok], w["b_net"][b_ok], minlength=len(frame))
    cells = (frame.groupby(["ad_index", "ad_day", "seg"], sort=True)
             .agg(users=("true_value", "size"), revenue_usd=("revenue_usd", "sum"), true_sum=("true_value", "sum"))
             .reset_index())
    cells["age_days"] = age - cells["ad_day"]
    curves = w["curves"]
    a = np.minimum(cells["age_days"].to_numpy(), horizon)
    cells["seg_to_date_usd"] = curves[cells["seg"].to_numpy(), a]
    cells["seg_horizon_usd"] = curves[cells["seg"].to_numpy(), horizon]
    return cells


def estimates(cells: pd.DataFrame, age: int) -> dict[str, pd.DataFrame]:
    """Per estimator, per ad: ``est`` (per install), ``lo``, ``hi`` (NaN: no interval)."""
    fit = AdValueEstimator(keys=["ad_index"]).fit(cells)
    p = fit.predict(cells)
    g = cells.groupby("ad_index", sort=True)
    n = g["users"].sum()
    nan = pd.Series(np.nan, index=n.index)
    out = {"adperf": pd.DataFrame({"est": p["estimate_per_install_usd"], "lo": p["lower_usd"], "hi": p["upper_usd"]})}
    out["oracle"] = pd.DataFrame({"est": g["true_sum"].sum() / n, "lo": nan, "hi": nan})
    out["segment_average"] = pd.DataFrame({"est": (cells["users"] * cells["seg_horizon_usd"]).groupby(
        cells["ad_index"]).sum() / n, "lo": nan, "hi": nan})
    mult = np.divide(cells["seg_horizon_usd"], cells["seg_to_date_usd"], out=np.zeros(len(cells)),
                     where=cells["seg_to_date_usd"].to_numpy() > 0)
    first = cells["age_days"] >= age  # the cohorts with their first `age` days seen: the ad's first day
    dn = (cells["revenue_usd"] * mult)[first].groupby(cells["ad_index"][first]).sum()
    out["dn_multiplier"] = pd.DataFrame({"est": dn / cells["users"][first].groupby(cells["ad_index"][first]).sum(),
                                         "lo": nan, "hi": nan}).reindex(n.index)
    out["cohort_multiplier"] = pd.DataFrame({"est": (cells["revenue_usd"] * mult).groupby(cells["ad_index"]).sum() / n,
                                             "lo": nan, "hi": nan})
    out["_params"] = fit.params_
    out["_installs"] = n
    z = p["credibility"].reindex(n.index).to_numpy(float)
    # Z = E / (E + k) and E grows with the installs, so the ad's own evidence weighs as much as its
    # segment's (Z = 1/2) at installs x k / E = installs x (1 - Z) / Z
    out["_half_credibility_installs"] = float(np.median(n.to_numpy() * (1 - z) / np.maximum(z, 1e-12)))
    return out


def score(est: pd.DataFrame, truth: pd.Series, cost_so_far: pd.Series, installs: pd.Series, true_roas: pd.Series,
          life_cost: pd.Series, cfg: ReportConfig, on_point: bool = False) -> dict:
    """Accuracy, interval coverage and the calls' precision; ``on_point``: call on the point estimate even
    where there is an interval. The stopped spend is the ad's cost after the call (life cost - cost so far)."""
    e, t = est["est"].to_numpy(), truth.reindex(est.index).to_numpy()
    good = np.isfinite(e) & (t > 0)
    rel = (e[good] - t[good]) / t[good]
    has_iv = np.isfinite(est["lo"].to_numpy()) & good
    cover = ((est["lo"].to_numpy() <= t) & (t <= est["hi"].to_numpy()))[has_iv]
    per_roas = installs.reindex(est.index).to_numpy() / cost_so_far.reindex(est.index).to_numpy()
    roas, tr = e * per_roas, true_roas.reindex(est.index).to_numpy()
    lo = np.where(has_iv & (not on_point), est["lo"].to_numpy() * per_roas, roas)
    hi = np.where(has_iv & (not on_point), est["hi"].to_numpy() * per_roas, roas)
    stop = good & (hi < cfg.stop_below)
    scale = good & (lo > cfg.scale_above)
    bad = good & (tr < 1.0)
    lc = life_cost.reindex(est.index).to_numpy()
    after = np.maximum(lc - cost_so_far.reindex(est.index).to_numpy(), 0.0)

    def share(a, b):
        return round(float(a.sum() / b.sum()), 4) if b.sum() > 0 else None

    return {"mape": round(float(np.mean(np.abs(rel)) * 100), 2) if good.any() else None,
            "bias": round(float(np.mean(rel) * 100), 2) if good.any() else None,
            "rmse_usd": round(float(np.sqrt(np.mean((e[good] - t[good]) ** 2))), 3) if good.any() else None,
            "coverage": round(float(cover.mean()), 4) if has_iv.any() else None,
            "stop_precision": share(stop & (tr < 1.0), stop), "scale_precision": share(scale & (tr > 1.0), scale),
            "unprofitable_spend_stopped": share(np.where(stop & bad, after, 0.0), np.where(bad, lc, 0.0)),
            "stops": int(stop.sum()), "scales": int(scale.sum())}


def stopped_at_precision(est: pd.DataFrame, installs: pd.Series, cost_so_far: pd.Series, true_roas: pd.Series,
                         life_cost: pd.Series, precision: float) -> float | None:
    """The share of truly unprofitable spend a point estimator stops when it stops its lowest-ROAS ads up to
    the most it can while its stop precision stays >= ``precision`` (its threshold moved to that precision):
    estimators compared at equal precision, not at one threshold."""
    idx = est.index
    roas = (est["est"] * installs.reindex(idx) / cost_so_far.reindex(idx)).to_numpy(float)
    tr = true_roas.reindex(idx).to_numpy(float)
    ok = np.isfinite(roas) & np.isfinite(tr)
    lc = life_cost.reindex(idx).to_numpy(float)
    after = np.maximum(lc - cost_so_far.reindex(idx).to_numpy(float), 0.0)
    bad_cost = lc[ok & (tr < 1.0)].sum()
    if bad_cost <= 0:
        return None
    order = np.argsort(roas[ok], kind="stable")
    bad = (tr[ok] < 1.0)[order]
    prec = np.cumsum(bad) / np.arange(1, len(bad) + 1)
    k = np.flatnonzero(prec >= precision)
    if not len(k):
        return 0.0
    n = k[-1] + 1
    return round(float(np.where(bad[:n], after[ok][order][:n], 0.0).sum() / bad_cost), 4)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, type=Path)
    ap.add_argument("--ages", type=int, nargs="+", default=[7, 14, 30])
    ap.add_argument("--horizon", type=int, default=180)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    w = load(args.world, args.horizon)
    ads, truth = w["ads"], w["truth"]
    life = ads["end_day"] - ads["start_day"]
    scored = np.flatnonzero((life.to_numpy() >= max(args.ages)) & (truth["installs"].to_numpy() > 0))
    per_day = truth["installs"].to_numpy()[scored] / life.to_numpy()[scored]
    tv = truth[f"expected_ltv_per_install_usd_{args.horizon}"]
    sp = w["spend"]
    life_cost = sp.groupby("ad_index")["cost_usd"].sum()
    true_roas = tv * truth["installs"] / life_cost.reindex(truth.index)
    cfg = ReportConfig()
    print(f"world {args.world}: {len(ads)} ads, {len(scored)} ran >= {max(args.ages)} days; their MMP installs a day: "
          f"median {np.median(per_day):.1f}, 10th percentile {np.percentile(per_day, 10):.1f}, "
          f"min {per_day.min():.1f}; true ROAS < 1 for {int((true_roas.iloc[scored] < 1).sum())}")
    result = {"ads": int(len(scored)), "estimators": {k: {} for k in ESTIMATORS}}
    rows = []
    for age in args.ages:
        cells = cells_at(w, age, args.horizon, scored)
        out = estimates(cells, age)
        start = ads["start_day"].to_numpy()
        cut = sp["day"].to_numpy() <= start[sp["ad_index"].fillna(0).astype(int).to_numpy()] + age - 1
        cost_so_far = sp[cut].groupby("ad_index")["cost_usd"].sum()
        prm = out["_params"]
        print(f"age {age}: {int(out['_installs'].median())} installs per ad (median); fitted s2={prm.s2:.3g}, "
              f"t2={prm.t2:.3g}, k=${prm.k:.3g} of segment-expected revenue, from {prm.ads} ads; cells capped at "
              f"quantile {prm.cap_quantile} of the standardised ratios, excess {prm.excess:.3f}; an ad's own users "
              f"weigh as much as its segment from {out['_half_credibility_installs']:.0f} installs (median)")
        # adperf's error by the ads' size: the terciles of installs by this age
        ins = out["_installs"]
        rel = ((out["adperf"]["est"] - tv.reindex(ins.index)) / tv.reindex(ins.index)).abs()
        for lo_q, hi_q in ((0, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 1)):
            a, b = ins.quantile(lo_q), ins.quantile(hi_q)
            m = (ins >= a) & (ins <= b)
            print(f"  ads with {a:.0f}-{b:.0f} installs: adperf MAPE {100 * rel[m].mean():.1f}% ({int(m.sum())} ads)")
        out["adperf_point"] = out["adperf"]
        cov = score(out["adperf"], tv, cost_so_far, out["_installs"], true_roas, life_cost, cfg)["coverage"]
        for name in ESTIMATORS:
            on_point = name == "adperf_point" and cov is not None and cov >= POINT_CALL_MIN_COVERAGE
            s = score(out[name], tv, cost_so_far, out["_installs"], true_roas, life_cost, cfg, on_point)
            s["rule"] = "interval" if out[name]["lo"].notna().any() and not on_point else "point"
            rows.append({"age": age, "estimator": name, **s})
            result["estimators"][name][str(age)] = {k: s[k] for k in ("mape", "bias", "coverage", "stop_precision",
                                                                        "scale_precision", "unprofitable_spend_stopped",
                                                                        "stops", "scales", "rule")}
        # at equal precision: the point rule's stop precision at this age, the others' thresholds moved to it
        target = result["estimators"]["adperf_point"][str(age)]["stop_precision"]
        if target is not None:
            matched = {name: stopped_at_precision(out[name], out["_installs"], cost_so_far, true_roas, life_cost, target)
                       for name in ("adperf", "dn_multiplier", "cohort_multiplier", "segment_average", "oracle")}
            print(f"age {age}: unprofitable spend stopped at stop precision >= {target:.2f}: "
                  + ", ".join(f"{k} {v}" for k, v in matched.items()))
            for name, v in matched.items():
                result["estimators"][name][str(age)]["unprofitable_spend_stopped_at_equal_precision"] = v
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(f"({time.perf_counter() - t0:.1f} s)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)

"""Budget actions in a closed loop on a generated world: 90 days with the policy applied against 90 days without.

    PYTHONPATH=. .venv/bin/python benchmarks/actions.py --world DIR [--days 90] [--every 7] [--start DAY]
        [--rule interval|point] [--horizon 180] [--max-budget-step 0.2] [--min-precision 0.8]
        [--max-actions-per-day 20] [--min-cost 100] [--min-days 7] [--no-resume] [--work DIR] [--keep]

DIR is any generated world (``generate_world``; the ``ads`` preset gives ads with ~45 installs a day). Its
config is read from the manifest (``manifest.world_config``); the world "without" is DIR itself (or, if DIR was
generated with ``ad_actions``, DIR regenerated without them). From a start day T0 (``--start``, default: the
world's days - ``--days``), every ``--every`` days t in [T0, T0 + days):

1. what the report would show at the end of day t, from the acted world as generated so far: per ad its users
   (MMP attribution, ``truth/user_value.ad_index``) and their net revenue (``truth/purchases`` x (1 - refund
   rate - chargeback rate), as decisions.py) on days <= t within the horizon, cells per ad x install day x
   segment fed to ``AdValueEstimator`` (fitted on every ad with users by t), its cost to date (``truth/spend``
   up to t), hence the estimated ROAS and its 99% interval; per ad group the sum of its ads (``rollup_ads``,
   ``segments_independent``, floored at the revenue so far); calls by the report's rule
   (``recommend.recommend``, ``ReportConfig`` defaults: stop when the upper bound < 1.0, scale when the lower
   bound > 1.2, nothing before $50 and 3 days) or, with ``--rule point``, on the point estimate;
2. the network's state: the ads within their run (started by t, ending after t + 1) ACTIVE or PAUSED as the
   loop has acted; each ad group with such an ad holds a daily budget = its ads' mean daily cost over days
   t-6..t (USD), ACTIVE when one of its ads is;
3. ``plan_actions(report, state, ActionPolicy(act_unmeasured=True, ...), precision=None)``: the world has no
   scored history (``decision_backtest``), so no call has a measured precision and ``min_precision`` has no
   effect here;
4. the planned actions become ``WorldConfig.ad_actions`` from day t + 1: pause = factor 0 for the ad, resume
   = 1, an ad-group budget change multiplies the group's factor (budget after / before) for every ad of the
   group (a paused ad stays at 0); the world is regenerated with every action so far and the loop goes on.

At the end the acted world is compared with the world without actions over [T0, T0 + days): spend
(``truth/spend.cost_usd``, every ad), the true expected return of the users the ads acquired in that period
(``truth/user_value.expected_ltv_usd_<horizon>`` of the users with an ``ad_index`` whose ``truth/users.cohort_date``
falls in it; the truth's expected LTV is already net of refunds and chargebacks), the ROAS of both, the actions
by kind, and how many actions were on objects whose true ROAS in the world without actions was on the
action's side of 1 (``actions_right``). Since a user's expected value varies much between users (whales), the
same installs of an ad drawn twice differ in their expected return; ``return_at_ad_value_usd`` values each
install at its ad's mean expected value per install over all its users in the world without actions (fixed
across worlds), leaving the actions' effect on the installs (volume and mix of ads) and the install counts' own
noise. A control: the same figures over the days before T0 (as many, where the world has them), the same in
expectation in both worlds since no action acts before T0 + 1: their difference is that of the draws alone.
Prints a table, then one JSON line.

What this is and is not:

- The world has one random stream: an acted world is a different draw from the first action on, and not only
  after it -- delivery draws all ads x hours at once, so a changed volume shifts every later draw, the past
  included (the users, their purchases). Each step observes the history of the world regenerated with the
  actions so far (a valid draw of the same world with those actions), not the history an earlier step saw.
  The comparison is of *expected* values (spend is realised, the return is each user's expected 180-day value)
  over different draws of users; its noise is that of the users' and ads' draws, not only of the actions.
- Not available at t but used: the segment curves (expected net revenue per user by age per platform x
  acquisition x network x emulator) are decisions.py's, the realised means over the users of the world
  *without* actions whose whole horizon is seen by the world's last day (cohorts 0 .. days - 1 - horizon);
  at T0 = 180 of a 270-day world no cohort has its 180 days seen yet, so a report at t could not build them
  from its own data (what a well-fitted cohort model would give). Fixed across steps and worlds.
- The sample world has no diminishing returns: an ad at k x its volume buys installs at the same cost and
  value, so budget raises on profitable ad groups pay without limit here (1.2 per plan compounds), unlike on a
  real network.
- Approximated: the plan's day t is a report (Seoul) day and its actions act from the account-local day t + 1
  (the ``ad_actions`` day; on the American account the report day t + 1 still holds hours of day t); the report's
  other estimators, its 400-day window and its ``decision_backtest`` precision are not modelled; the campaigns
  hold no budget (no campaign rows); budgets are in USD; an ad's installs are its MMP-attributed users.
- Regeneration writes only what the loop reads (``truth/`` and ``world.json``): the same draws as
  ``generate_world`` in the same order (fx, catalog, delivery, users, activity), skipping the writers that
  only draw after them (ad reports, app.db, events, MMP); the truth files are the same as ``generate_world``'s
  (``truth/purchases`` in a different row order).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.actions.plan import (
    ACTIVE,
    PAUSED,
    PLANNED,
    STATE_COLUMNS,
    plan_actions,
)
from adperf_assets.actions.policy import ActionPolicy
from adperf_assets.report.ad_basis import rollup_ads
from adperf_assets.report.ad_value import AdValueEstimator
from adperf_assets.report.config import ReportConfig
from adperf_assets.report.recommend import recommend
from adperf_assets.sample import manifest
from adperf_assets.sample.config import WorldConfig
from adperf_assets.sample.generator import write_world
from world_truth import KEYS, SEGMENT, read_truth

ACTION_KINDS = ("pause", "resume", "raise_budget", "lower_budget")


# --- the world -------------------------------------------------------------------------------------------------

def generate_truth(path: Path, cfg: WorldConfig) -> Path:
    """``truth/`` and ``world.json`` of the world ``cfg`` into ``path`` (replaced): the generator's draws in its
    order, without the writers the loop does not read (``write_world(truth_only=True)``)."""
    return write_world(cfg, path, truth_only=True)


def load(world: Path, horizon: int) -> dict:
    """What the loop reads of a world's truth, with its config as a ``WorldConfig``."""
    return {**read_truth(world, horizon), "cfg": manifest.world_config(world)}


def segment_curves(w: dict, horizon: int) -> dict:
    """decisions.py's curves: per segment the mean net revenue per user over its first a days (a = 0..horizon),
    from the users whose horizon is seen by the world's last day."""
    u = w["users"]
    seen = u["day"].to_numpy() <= w["cfg"].days - 1 - horizon
    if not seen.any():
        raise SystemExit(f"no cohort has its {horizon} days seen in a {w['cfg'].days}-day world: no segment curves "
                         f"(a shorter --horizon, or a longer world)")
    keys = list(u[SEGMENT].itertuples(index=False, name=None))
    codes, uniq = pd.factorize(pd.Series(keys))
    n_seg = len(uniq)
    bsel = seen[w["b_user"]]
    rev = np.bincount(codes[w["b_user"][bsel]] * horizon + w["b_age"][bsel], w["b_net"][bsel],
                      minlength=n_seg * horizon).reshape(n_seg, horizon)
    n = np.bincount(codes[seen], minlength=n_seg)
    curves = np.concatenate([np.zeros((n_seg, 1)), np.cumsum(rev, axis=1)], axis=1) / np.maximum(n, 1)[:, None]
    return {k: curves[i] for i, k in enumerate(uniq)}


# --- one step: the report, the state, the plan ------------------------------------------------------------------

def ad_estimates(w: dict, t: int, horizon: int, curves: dict) -> pd.DataFrame:
    """Per ad (index: ad_index) with users by day t: installs, revenue so far, estimated return and its 99%
    interval (USD, the horizon's), from what is seen at the end of day t."""
    u = w["users"]
    day = u["day"].to_numpy()
    a_of = u["ad_index"].to_numpy()
    sel = (a_of >= 0) & (day <= t)
    idx = np.flatnonzero(sel)
    pos = np.full(len(u), -1)
    pos[idx] = np.arange(len(idx))
    b_pos = pos[w["b_user"]]
    b_ok = (b_pos >= 0) & (w["b_day"] <= t)
    seg = pd.Series(list(u.loc[sel, SEGMENT].itertuples(index=False, name=None)), dtype=object)
    frame = pd.DataFrame({"ad_index": a_of[sel], "cohort": day[sel], "seg": seg.to_numpy(),
                          "revenue_usd": np.bincount(b_pos[b_ok], w["b_net"][b_ok], minlength=len(idx))})
    frame["seg_code"], seg_values = pd.factorize(frame["seg"])
    cells = (frame.groupby(["ad_index", "cohort", "seg_code"], sort=True)
             .agg(users=("revenue_usd", "size"), revenue_usd=("revenue_usd", "sum")).reset_index())
    age = np.minimum(t - cells["cohort"].to_numpy() + 1, horizon)
    curve = np.stack([np.asarray(curves.get(s, np.zeros(horizon + 1))) for s in seg_values])
    cells["seg_to_date_usd"] = curve[cells["seg_code"].to_numpy(), age]
    cells["seg_horizon_usd"] = curve[cells["seg_code"].to_numpy(), horizon]
    p = AdValueEstimator(keys=["ad_index"]).fit(cells).predict(cells)
    n = p["installs"]
    return pd.DataFrame({"installs": n, "revenue_usd": p["revenue_usd"],
                         "est_usd": p["estimate_per_install_usd"] * n, "lo_usd": p["lower_usd"] * n,
                         "hi_usd": p["upper_usd"] * n})


def report_rows(w: dict, t: int, est: pd.DataFrame, running: np.ndarray, rule: str, rcfg: ReportConfig,
                report_date) -> pd.DataFrame:
    """Report-like rows at the end of day t: each running ad, and each ad group of a running ad as the sum of
    all its ads so far; ``recommendation`` by the report's rule (``rule='point'``: on the point estimate)."""
    ads = w["ads"]
    sp = w["spend"][w["spend"]["day"] <= t]
    cost = sp.groupby("ad_index")["cost_usd"].sum().reindex(range(len(ads)), fill_value=0.0).to_numpy()
    first = sp.groupby("ad_index")["day"].min().reindex(range(len(ads))).to_numpy()
    e = est.reindex(range(len(ads)))
    has = e["est_usd"].notna().to_numpy()
    est_v, lo_v, hi_v = (e[c].fillna(0.0).to_numpy() for c in ("est_usd", "lo_usd", "hi_usd"))
    floor = e["revenue_usd"].fillna(0.0).to_numpy()
    gid, groups = pd.factorize(pd.MultiIndex.from_frame(ads[KEYS[:-1]]))
    ng = len(groups)
    g_est, g_lo, g_hi = rollup_ads(gid[has], ng, est_v[has], lo_v[has], hi_v[has], floor[has], rcfg.interval_rule)
    g_cost = np.bincount(gid, cost, minlength=ng)
    g_has = np.bincount(gid[has], minlength=ng) > 0
    g_first = pd.Series(first).groupby(gid).min().reindex(range(ng)).to_numpy()
    rows = []

    def row(level, ids, names, c, f, value, lo, hi, ok):
        days_live = int(t - f + 1) if np.isfinite(f) else 0
        roas = [v / c if ok and c > 0 else np.nan for v in (value, lo, hi)]
        if rule == "point":
            call_lo = call_hi = roas[0]
        else:
            call_lo, call_hi = roas[1], roas[2]
        rec, _ = recommend(float(c), days_live, None if np.isnan(roas[0]) else roas[0],
                           None if np.isnan(call_lo) else call_lo, None if np.isnan(call_hi) else call_hi, rcfg)
        rows.append({"report_date": report_date, "level": level, **ids, **names, "days_live": days_live,
                     "cost_to_date_usd": float(c), "estimated_roas": roas[0], "estimated_roas_lower": roas[1],
                     "estimated_roas_upper": roas[2], "recommendation": rec})

    for i in np.flatnonzero(running):
        a = ads.iloc[i]
        row("ad", {k: a[k] for k in KEYS}, {"campaign_name": a["campaign_name"], "ad_group_name": a["ad_group_name"],
                                            "ad_name": a["ad_name"]},
            cost[i], first[i], est_v[i], lo_v[i], hi_v[i], has[i])
    for g in np.unique(gid[running]):
        a = ads.iloc[int(np.flatnonzero(gid == g)[0])]
        row("ad_group", {**{k: a[k] for k in KEYS[:-1]}, "ad_id": ""},
            {"campaign_name": a["campaign_name"], "ad_group_name": a["ad_group_name"], "ad_name": ""},
            g_cost[g], g_first[g], g_est[g], g_lo[g], g_hi[g], g_has[g])
    return pd.DataFrame(rows)


def network_state(w: dict, t: int, running: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    """The ads within their run ACTIVE / PAUSED as acted; each of their ad groups with a daily budget = its
    ads' mean daily cost over days t-6..t."""
    ads = w["ads"]
    sp = w["spend"]
    last7 = sp[(sp["day"] > t - 7) & (sp["day"] <= t)]
    cost7 = last7.groupby("ad_index")["cost_usd"].sum().reindex(range(len(ads)), fill_value=0.0).to_numpy()
    rows = [{"network": ads.at[i, "network"], "level": "ad", "object_id": str(ads.at[i, "ad_id"]),
             "status": ACTIVE if status[i] else PAUSED, "daily_budget": np.nan, "currency": "USD"}
            for i in np.flatnonzero(running)]
    gkey = ads["ad_group_id"].astype(str).to_numpy()
    for g in pd.unique(gkey[running]):
        m = gkey == g
        rows.append({"network": ads.loc[m, "network"].iloc[0], "level": "ad_group", "object_id": g,
                     "status": ACTIVE if (status[m & running]).any() else PAUSED,
                     "daily_budget": float(cost7[m].sum() / 7.0), "currency": "USD"})
    return pd.DataFrame(rows, columns=STATE_COLUMNS)


def actions_right(base: dict, log: list[dict], t0: int, t1: int) -> dict:
    """Per action kind [right, all]: a pause or lower_budget is right when the object's true ROAS is < 1, a
    resume or raise_budget when > 1. True ROAS in the world without actions: an ad's over its whole life (its
    users' expected value / its cost, as decisions.py), an ad group's over the compared days [t0, t1)."""
    u, sp, ads = base["users"], base["spend"], base["ads"]
    paid = u[u["ad_index"] >= 0]
    ad_ret = paid.groupby("ad_index")["true_value"].sum()
    ad_cost = sp.groupby("ad_index")["cost_usd"].sum()
    gid = ads["ad_group_id"].astype(str).to_numpy()
    win_u = paid[(paid["day"] >= t0) & (paid["day"] < t1)]
    win_s = sp[(sp["day"] >= t0) & (sp["day"] < t1)]
    g_ret = win_u.groupby(gid[win_u["ad_index"].to_numpy()])["true_value"].sum()
    g_cost = win_s.groupby(gid[win_s["ad_index"].astype(int).to_numpy()])["cost_usd"].sum()
    ad_of = {str(a): i for i, a in enumerate(ads["ad_id"])}
    out = {k: [0, 0] for k in ACTION_KINDS}
    for a in log:
        if a["level"] == "ad":
            i = ad_of[a["object_id"]]
            roas = ad_ret.get(i, 0.0) / ad_cost.get(i, np.nan)
        else:
            roas = g_ret.get(a["object_id"], 0.0) / g_cost.get(a["object_id"], np.nan)
        good = a["action"] in ("resume", "raise_budget")
        out[a["action"]][1] += 1
        out[a["action"]][0] += int(bool(roas > 1.0) if good else bool(roas < 1.0))
    return out


# --- the loop ---------------------------------------------------------------------------------------------------

def outcome(w: dict, lo: int, hi: int, per_install: np.ndarray) -> dict:
    """Spend, true expected return of the ads' users acquired in days [lo, hi), ROAS; and the return valued
    at ``per_install`` (per ad index: its users' mean expected value in the world without actions)."""
    sp = w["spend"]
    spend = float(sp.loc[(sp["day"] >= lo) & (sp["day"] < hi), "cost_usd"].sum())
    u = w["users"]
    m = (u["ad_index"] >= 0) & (u["day"] >= lo) & (u["day"] < hi)
    ret = float(u.loc[m, "true_value"].sum())
    at_ad = float(per_install[u.loc[m, "ad_index"].to_numpy()].sum())
    return {"spend_usd": round(spend, 2), "expected_return_usd": round(ret, 2),
            "roas": round(ret / spend, 4) if spend > 0 else None, "installs": int(m.sum()),
            "return_at_ad_value_usd": round(at_ad, 2),
            "roas_at_ad_value": round(at_ad / spend, 4) if spend > 0 else None}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, type=Path)
    ap.add_argument("--days", type=int, default=90, help="days of the comparison (default 90)")
    ap.add_argument("--every", type=int, default=7, help="days between two plans (default 7)")
    ap.add_argument("--start", type=int, default=None, help="T0, a day index (default: world days - --days)")
    ap.add_argument("--rule", choices=("interval", "point"), default="interval")
    ap.add_argument("--horizon", type=int, default=180)
    ap.add_argument("--max-budget-step", type=float, default=ActionPolicy.max_budget_step)
    ap.add_argument("--min-precision", type=float, default=ActionPolicy.min_precision,
                    help="passed to the policy; no call is measured here, so it has no effect")
    ap.add_argument("--max-actions-per-day", type=int, default=ActionPolicy.max_actions_per_day)
    ap.add_argument("--min-cost", type=float, default=ActionPolicy.min_cost)
    ap.add_argument("--min-days", type=int, default=ActionPolicy.min_days)
    ap.add_argument("--no-resume", action="store_true", help="do not resume paused ads called scale")
    ap.add_argument("--work", type=Path, default=None,
                    help="where the acted world is generated and left (default: a temp dir, removed unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir of the acted world")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    policy = ActionPolicy(dry_run=False, act_unmeasured=True, max_budget_step=args.max_budget_step,
                          min_precision=args.min_precision, max_actions_per_day=args.max_actions_per_day,
                          min_cost=args.min_cost, min_days=args.min_days, allow_resume=not args.no_resume)
    rcfg = ReportConfig()
    cfg0 = manifest.world_config(args.world)
    t0 = cfg0.days - args.days if args.start is None else args.start
    t1 = t0 + args.days
    if t0 < 1 or t1 > cfg0.days:
        raise SystemExit(f"days [{t0}, {t1}) do not fit the world's 0..{cfg0.days - 1}")
    work = Path(args.work or tempfile.mkdtemp(prefix="actions-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    base_cfg = dataclasses.replace(cfg0, ad_actions=())
    timing = {"generate_s": 0.0, "load_s": 0.0, "plan_s": 0.0}
    if cfg0.ad_actions:
        c = time.perf_counter()
        base_dir = generate_truth(work / "without", base_cfg)
        timing["generate_s"] += time.perf_counter() - c
    else:
        base_dir = args.world
    c = time.perf_counter()
    base = load(base_dir, args.horizon)
    curves = segment_curves(base, args.horizon)
    timing["load_s"] += time.perf_counter() - c
    ads = base["ads"]
    n_ads = len(ads)
    status = np.ones(n_ads, dtype=bool)  # ACTIVE / PAUSED as the loop acted
    gkey = ads["ad_group_id"].astype(str).to_numpy()
    g_factor = {g: 1.0 for g in pd.unique(gkey)}
    factor = np.ones(n_ads)
    actions: list[tuple[int, str, float]] = []
    log = []
    world, w = base_dir, base
    acted_dir = work / "acted"
    steps = list(range(t0, t1, args.every))
    print(f"world {args.world}: {n_ads} ads, {cfg0.days} days; loop over days [{t0}, {t1}) every {args.every} "
          f"({len(steps)} plans), rule {args.rule}, horizon {args.horizon}")
    for t in steps:
        c = time.perf_counter()
        start, end = ads["start_day"].to_numpy(), ads["end_day"].to_numpy()
        running = (start <= t) & (end > t + 1)
        est = ad_estimates(w, t, args.horizon, curves)
        report_date = (pd.Timestamp(cfg0.start) + pd.Timedelta(days=t)).date()
        report = report_rows(w, t, est, running, args.rule, rcfg, report_date)
        state = network_state(w, t, running, status)
        plan = plan_actions(report, state, policy, None)
        timing["plan_s"] += time.perf_counter() - c
        done = plan[plan["decision"] == PLANNED]
        calls = report["recommendation"].value_counts().to_dict()
        for _, p in done.iterrows():
            if p["level"] == "ad":
                i = int(np.flatnonzero(ads["ad_id"].astype(str).to_numpy() == p["object_id"])[0])
                status[i] = p["action"] == "resume"
            else:
                g_factor[p["object_id"]] *= float(p["budget_after"]) / float(p["budget_before"])
            log.append({"day": t, "level": p["level"], "object_id": p["object_id"], "action": p["action"],
                        "estimated_roas": p["estimated_roas"], "lower": p["estimated_roas_lower"],
                        "upper": p["estimated_roas_upper"], "cost_to_date_usd": p["cost_to_date_usd"]})
        new = np.where(status, np.array([g_factor[g] for g in gkey]), 0.0)
        changed = np.flatnonzero(~np.isclose(new, factor) & (end > t + 1))  # an ended ad delivers nothing
        for i in changed:
            actions.append((t + 1, str(ads.at[i, "ad_id"]), round(float(new[i]), 6)))
        factor[changed] = new[changed]
        print(f"day {t}: {int(running.sum())} running ads; calls {calls}; "
              f"planned {done['action'].value_counts().to_dict()}"
              f"; {len(changed)} ad factors changed")
        if len(changed):
            c = time.perf_counter()
            world = generate_truth(acted_dir, dataclasses.replace(base_cfg, ad_actions=tuple(actions)))
            timing["generate_s"] += time.perf_counter() - c
            c = time.perf_counter()
            w = load(world, args.horizon)
            timing["load_s"] += time.perf_counter() - c
    bu = base["users"][base["users"]["ad_index"] >= 0]
    per_install = (bu.groupby("ad_index")["true_value"].mean().reindex(range(n_ads), fill_value=0.0).to_numpy())
    without, with_ = outcome(base, t0, t1, per_install), outcome(w, t0, t1, per_install)
    right = actions_right(base, log, t0, t1)
    # the control: the days before T0, the same in expectation in both worlds (no action acts before T0 + 1);
    # their difference is the draws' alone
    c0 = max(0, t0 - args.days)
    control = {"without": outcome(base, c0, t0, per_install), "with": outcome(w, c0, t0, per_install)}
    kinds = {k: 0 for k in ACTION_KINDS}
    for a in log:
        kinds[a["action"]] = kinds.get(a["action"], 0) + 1
    table = pd.DataFrame([{"world": "without actions", **without}, {"world": "with actions", **with_},
                          {"world": f"control: days {c0}-{t0 - 1}, without", **control["without"]},
                          {"world": f"control: days {c0}-{t0 - 1}, with", **control["with"]}])
    print(table.to_string(index=False))
    if log:
        print(pd.DataFrame(log).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("actions on objects whose true ROAS (the world without actions) was on the action's side of 1: "
          + ", ".join(f"{k} {r}/{n}" for k, (r, n) in right.items()))
    elapsed = time.perf_counter() - t_start
    print(f"({elapsed:.1f} s: generation {timing['generate_s']:.1f} s, reading {timing['load_s']:.1f} s, "
          f"reports and plans {timing['plan_s']:.1f} s)")
    result = {"days": args.days, "start_day": t0, "every": args.every, "rule": args.rule, "horizon": args.horizon,
              "without": without, "with": with_, "actions": kinds, "ad_actions": len(actions),
              "control_before": {"days": [c0, t0], **control}, "actions_right": right,
              "seconds": round(elapsed, 1)}
    print(json.dumps(result))
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return {**result, "acted_world": str(world), "ad_action_list": actions, "log": log}


if __name__ == "__main__":
    sys.exit(main() and 0)

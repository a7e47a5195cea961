"""SKAN-modelled installs and 180-day return per iOS campaign, scored against generated worlds' truth.

    PYTHONPATH=. .venv/bin/python benchmarks/skan.py --world DIR [DIR ...] [--horizon 180] [--min-monthly 300]

DIR: generated worlds with ATT (``att_opt_in`` < 1). It reads the world's files with pandas, not through
Dagster, and gives the decoder only what a pipeline sees: the postbacks (AppsFlyer ``skad_postbacks``
export, parsed as the ``skan_postbacks`` asset does) and the users whose keys the app knows: the tracked
(paid iOS users whose AppsFlyer install row names their campaign) and the restricted (AppsFlyer's
``restricted`` rows: no campaign), with their keys by the schema (purchases from ``truth/purchases``, gross
USD, as the app's payments show them; logins) and their realised net revenue up to the horizon
(``--tracked-value expected`` gives their true expected LTV instead: world truth, an oracle for diagnosis
only; ``--calibration tracked`` learns the key values from the tracked users alone).
``--tracked-value model`` gives each its posterior-mean return (``ShrunkUserValue``), fitted per world on the
calibration users alone from what the app has: each user's purchase-days and realised net return over the
horizon, and the campaign of the tracked ones (their prior: their campaign's mean purchase rate; the
restricted users, campaign unknown, one group); no truth. ``model-population``: everyone's prior the
population's. Cohorts: installs up to the last day minus the horizon.
Per world and campaign it prints SKAN, tracked and true installs, the modelled total 180-day return with
its 99% interval, the true expected return (``truth/skan``) and, as a diagnosis, how far perfect
user-level attribution (every paid user's realised return by their true campaign) is from it (and, at
the end, the same with every paid user's posterior-mean value: what the model values could reach); a per-world
JSON line (``--ratios``: also each campaign's ratio before and after shrinkage, and the ratio that would
have hit the truth); with several worlds, one line per opt-in and the pooled error quantiles; then the perfect
attribution's pooled MAPE. The last line is one JSON object over all worlds' campaigns with at least
``--min-monthly`` true installs a month: campaigns, installs and return MAPE (%), and the share of them
whose interval covers the truth.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.defs.attribution.mmp import read_day_files
from adperf_assets.defs.skan.resources import arrival_times
from adperf_assets.sample import layout
from adperf_assets.sample.manifest import load_manifest
from adperf_assets.sample.skan import SKAN_NETWORK_ID
from adperf_assets.skan import schema
from adperf_assets.skan.decode import SkanDecoder
from adperf_assets.skan.keys import install_keys, user_keys
from adperf_assets.skan.postbacks import parse_appsflyer
from adperf_assets.skan.user_value import ShrunkUserValue

#: AppsFlyer's estimate of the install from a first postback's arrival (its docs: 48 h + 36 h).
FIRST_POSTBACK_LAG = pd.Timedelta(hours=84)


def load(world: Path, horizon: int, tracked_value: str = "realised") -> dict:
    """The world's postbacks (install keys); the calibration users (tracked, and restricted: AppsFlyer
    shows them without their campaign) with keys and value; the tracked users; the truth; and, for
    diagnosis only, every paid SKAN user's realised value by their true campaign (``attributed``)."""
    m = load_manifest(world)
    cfg = m["config"]
    first, last = pd.Timestamp(m["first_day"]), pd.Timestamp(m["last_day"])
    cutoff = last - pd.Timedelta(days=horizon)
    folder = layout.appsflyer_skad_postbacks(world, first.date()).parent
    if not folder.is_dir():
        raise SystemExit(f"{world}: no SKAN postbacks (a world with att_opt_in < 1 has them)")
    raw = read_day_files(folder, datetime.combine(first.date(), datetime.min.time()) - timedelta(days=1),
                         datetime.combine(last.date(), datetime.min.time()) + timedelta(days=2), arrival_times,
                         required=(datetime(2100, 1, 1), datetime(2100, 1, 1)))
    inst = install_keys(parse_appsflyer(raw))
    est = inst["arrival_time_utc"] - FIRST_POSTBACK_LAG
    # report-zone install day, as the truth's install_date
    est_day = est.dt.tz_localize("UTC").dt.tz_convert(m["report_timezone"]).dt.tz_localize(None).dt.normalize()
    inst = inst[(est_day <= cutoff).to_numpy()]

    users = pd.read_parquet(layout.truth(world, "users"),
                            columns=["user_id", "cohort_date", "acquisition", "network", "campaign_id", "platform"])
    users = users[users["cohort_date"] <= cutoff]
    af = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False, usecols=["Customer User ID", "Media Source",
                                                                            "Is Reinstall"])
                    for p in sorted((world / "mmp/appsflyer/installs_report").glob("*.csv"))], ignore_index=True)
    af = af[af["Is Reinstall"] == "false"]
    shown = af["Media Source"] != schema.RESTRICTED
    tracked_ids = set(af.loc[shown, "Customer User ID"].astype(np.int64))
    restricted_ids = set(af.loc[~shown, "Customer User ID"].astype(np.int64))
    paid = ((users["acquisition"] == "paid") & (users["platform"] == "ios")
            & users["network"].isin(list(SKAN_NETWORK_ID))).to_numpy()
    is_tracked = paid & users["user_id"].isin(tracked_ids).to_numpy()
    is_restricted = users["user_id"].isin(restricted_ids).to_numpy()
    # every user whose keys are computed: the tracked, the restricted and (diagnosis) every paid SKAN user
    people = users[paid | is_restricted].reset_index(drop=True)
    sel = paid | is_restricted
    flags = pd.DataFrame({"tracked": is_tracked[sel], "restricted": is_restricted[sel], "paid_skan": paid[sel]})

    # their purchases and logins: their keys and measured net return at the horizon
    buys = pd.read_parquet(layout.truth(world, "purchases"))
    buys = buys[buys["user_id"].isin(people["user_id"])]
    coh = people.set_index("user_id")["cohort_date"]
    t = (buys["report_date"] - coh.reindex(buys["user_id"]).to_numpy()).dt.days.to_numpy()
    net = 1 - cfg["refund_rate"] - cfg["chargeback_rate"]
    uid = buys["user_id"].to_numpy()
    amount = buys["gross_usd"].to_numpy()

    def per_user(mask, weights=None):
        s = pd.Series(amount[mask] if weights is None else weights[mask], index=uid[mask])
        return s.groupby(level=0).sum().reindex(people["user_id"]).fillna(0).to_numpy()

    rev = [per_user(t <= hi) for _, hi in schema.WINDOWS]
    n_buys = per_user(t <= schema.WINDOWS[0][1], np.ones(len(t)))
    value = per_user(t < horizon) * net
    realised = value
    purchases = per_user(t < horizon, np.ones(len(t)))  # purchase-days: one purchase a day at most here
    returned = np.zeros(len(people), dtype=bool)
    opened = [np.zeros(len(people), dtype=bool) for _ in schema.WINDOWS[1:]]  # a later postback is sent only then
    logins_dir = layout.events_dir(world, "logins")
    ids = set(people["user_id"])
    tz = m["report_timezone"]
    for p in sorted(logins_dir.glob("*.parquet")):
        day = pd.Timestamp(p.stem)
        if day > cutoff + pd.Timedelta(days=schema.WINDOWS[-1][1] + 2):
            break
        lg = pd.read_parquet(p, columns=["event_time", "user_id"])
        lg = lg[lg["user_id"].isin(ids)]
        if lg.empty:
            continue
        ev_day = lg["event_time"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
        d = (ev_day - coh.reindex(lg["user_id"]).to_numpy()).dt.days.to_numpy()
        returned |= people["user_id"].isin(lg.loc[(d >= 1) & (d <= 2), "user_id"]).to_numpy()
        for o, (lo, hi) in zip(opened, schema.WINDOWS[1:]):
            o |= people["user_id"].isin(lg.loc[(d >= lo) & (d <= hi), "user_id"]).to_numpy()
    if tracked_value == "expected":  # what an exact per-user LTV estimate would give the report
        uv = pd.read_parquet(layout.truth(world, "user_value"), columns=["user_id", f"expected_ltv_usd_{horizon}"])
        value = uv.set_index("user_id")[f"expected_ltv_usd_{horizon}"].reindex(people["user_id"]).to_numpy()
    keys = user_keys(rev, n_buys, returned, opened)
    known = pd.concat([people, keys, flags], axis=1).assign(value=value, realised=realised, purchases=purchases)
    exposure = np.full(len(known), float(horizon))  # every cohort here has the whole horizon behind it
    if tracked_value in ("model", "model-population"):
        # posterior means from what the app has, fitted on the calibration users: their purchase-days and
        # realised return up to the horizon, and (model) the campaign of the tracked ones, whose own mean
        # purchase rate is their prior; restricted users (no campaign) form one group
        calib_mask = (known["tracked"] | known["restricted"]).to_numpy()
        group = np.where(known["tracked"], known["network"] + "/" + known["campaign_id"].astype(str), schema.RESTRICTED)
        group = None if tracked_value == "model-population" else group
        shrink = ShrunkUserValue().fit(purchases[calib_mask], realised[calib_mask], exposure[calib_mask],
                                       None if group is None else group[calib_mask])
        known["value"] = shrink.predict(purchases, realised, exposure, group)
        print(f"{world}: shrunk user value {json.dumps({k: round(v, 4) for k, v in shrink.params_.items()})}")
    # diagnosis: the same posterior means for every paid user with their true campaign (world truth)
    paid_mask = known["paid_skan"].to_numpy()
    true_group = (known["network"] + "/" + known["campaign_id"].astype(str)).to_numpy()
    oracle_shrink = ShrunkUserValue().fit(purchases[paid_mask], realised[paid_mask], exposure[paid_mask],
                                          true_group[paid_mask])
    known["attributed_model"] = oracle_shrink.predict(purchases, realised, exposure, true_group)
    calib = known[known["tracked"] | known["restricted"]].copy()
    # the restricted users' campaign is not known to a pipeline
    calib.loc[calib["restricted"], ["network", "campaign_id"]] = [schema.RESTRICTED, ""]
    attributed = known[known["paid_skan"]]

    truth = pd.read_parquet(layout.truth(world, "skan"))
    truth = truth[truth["install_date"] <= cutoff]
    months = max((cutoff - first).days + 1, 1) / 30.4
    return {"installs": inst, "tracked": known[known["tracked"]].reset_index(drop=True),
            "calibration": calib.reset_index(drop=True), "attributed": attributed, "truth": truth,
            "months": months, "cutoff": cutoff, "opt_in": cfg.get("att_opt_in", 1.0)}


def score(world: Path, args) -> pd.DataFrame:
    """One world's campaigns: the decoder's figures against the truth, printed; returned with ``covered``."""
    w = load(world, args.horizon, args.tracked_value)
    calib = w["calibration"] if args.calibration == "all" else w["tracked"]
    dec = SkanDecoder(tail=args.tail, tail_index_noise=args.tail_index_noise).fit(calib)
    pred = dec.predict(w["installs"], w["tracked"])
    truth = (w["truth"].groupby(["network", "campaign_id"])
             .agg(true_installs=("installs", "sum"), true_return=(f"expected_ltv_usd_{args.horizon}", "sum"))
             .reset_index())
    # diagnosis: what perfect user-level attribution would measure (every paid user's realised return)
    attributed = (w["attributed"].groupby(["network", "campaign_id"])[["realised", "attributed_model"]].sum()
                  .rename(columns={"realised": "attributed_return"}).reset_index())
    out = pred.merge(truth, on=["network", "campaign_id"], how="outer").merge(
        attributed, on=["network", "campaign_id"], how="left").fillna(0)
    out["monthly"] = out["true_installs"] / w["months"]
    out["covered"] = (out["total_return_low"] <= out["true_return"]) & (out["true_return"] <= out["total_return_high"])
    print(f"world {world}: att_opt_in {w['opt_in']}, tracked value {args.tracked_value}, cohorts up to {w['cutoff'].date()} "
          f"({w['months']:.1f} months), {len(calib)} users calibrate ({len(w['tracked'])} tracked); tail index "
          f"{dec.params_['tail_alpha']:.2f} above {dec.params_['tail_u']:.1f} USD")
    print(f"{'network':<11} {'campaign':<18} {'/month':>6} {'skan':>6} {'tracked':>7} {'true':>6} "
          f"{'return':>10} {'99% interval':>23} {'true ret':>10} {'err%':>6} {'perfect':>7} {'modelled':>8} {'null':>5}")
    for r in out.sort_values("monthly", ascending=False).itertuples():
        err = 100 * (r.total_return / r.true_return - 1) if r.true_return else float("nan")
        perfect = 100 * (r.attributed_return / r.true_return - 1) if r.true_return else float("nan")
        print(f"{r.network:<11} {r.campaign_id:<18} {r.monthly:6.0f} {r.skan_installs:6.0f} {r.tracked_installs:7.0f} "
              f"{r.true_installs:6.0f} {r.total_return:10.0f} [{r.total_return_low:10.0f}, {r.total_return_high:10.0f}] "
              f"{r.true_return:10.0f} {err:6.1f} {perfect:7.1f} {r.modelled_share:8.2f} {r.null_share:5.2f}"
              f"{'' if r.covered else '  (not covered)'}")
    if args.ratios:
        print_ratios(out)
    big = out[out["monthly"] >= args.min_monthly].assign(world=str(world), opt_in=w["opt_in"])
    print("world", json.dumps(summary(big)))
    return big


def print_ratios(out: pd.DataFrame) -> None:
    """Diagnosis of the campaigns' ratios: the tracked users' (capped) ratio, its shrinkage weight, the shrunk
    ratio, and the ratio that would have hit the truth: (true - tracked return) / the rest's key values
    (world truth: diagnosis only)."""
    print(f"{'network':<11} {'campaign':<18} {'/month':>6} {'raw':>6} {'weight':>6} {'ratio':>6} {'hit':>6}")
    for r in out.sort_values("monthly", ascending=False).itertuples():
        x_rest = r.modelled_return / r.ratio if r.ratio else float("nan")
        hit = (r.true_return - r.tracked_return) / x_rest if x_rest else float("nan")
        print(f"{r.network:<11} {r.campaign_id:<18} {r.monthly:6.0f} {r.raw_ratio:6.3f} {r.ratio_weight:6.3f} "
              f"{r.ratio:6.3f} {hit:6.3f}")


def summary(big: pd.DataFrame) -> dict:
    ape = lambda a, b: float(100 * np.mean(np.abs(a / b - 1))) if len(b) else float("nan")  # noqa: E731
    return {"campaigns": len(big), "installs_mape": round(ape(big["skan_installs"], big["true_installs"]), 2),
            "return_mape": round(ape(big["total_return"], big["true_return"]), 2),
            "coverage": round(float(big["covered"].mean()), 3) if len(big) else float("nan")}


def perfect_attribution(big: pd.DataFrame) -> str:
    """Diagnosis: how far every paid user's realised return, perfectly attributed, is from the expected truth,
    and the decoder's distance to that realised return (its error beyond the world's own scatter)."""
    ape = lambda a, b: float(100 * np.mean(np.abs(a / b - 1))) if len(b) else float("nan")  # noqa: E731
    return (f"perfect user-level attribution vs the expected truth: MAPE {ape(big['attributed_return'], big['true_return']):.1f}%; "
            f"the decoder vs that realised return: MAPE {ape(big['total_return'], big['attributed_return']):.1f}%; "
            f"perfect attribution of posterior-mean values (ShrunkUserValue, campaign prior) vs the expected truth: "
            f"MAPE {ape(big['attributed_model'], big['true_return']):.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, type=Path, nargs="+", help="one or more worlds: pooled at the end")
    ap.add_argument("--horizon", type=int, default=180)
    ap.add_argument("--min-monthly", type=float, default=300.0)
    ap.add_argument("--tracked-value", choices=("realised", "model", "model-population", "expected"),
                    default="realised",
                    help="the calibration users' return: their realised net revenue (what a pipeline measures), "
                         "its posterior mean given their purchases (model: the tracked users' prior their "
                         "campaign's mean rate; model-population: everyone's the population's) or, "
                         "as an oracle for diagnosis only, their true expected LTV (world truth)")
    ap.add_argument("--calibration", choices=("all", "tracked"), default="all",
                    help="the users the key values are learnt from: the tracked and the restricted ones (the "
                         "pipeline's), or the tracked only (the decoder before)")
    ap.add_argument("--tail", choices=("empirical", "pareto"), default="empirical")
    ap.add_argument("--tail-index-noise", type=float, default=1.0)
    ap.add_argument("--ratios", action="store_true",
                    help="also print, per campaign, the ratio before and after shrinkage and the one that would "
                         "have hit the truth (diagnosis)")
    args = ap.parse_args()
    scored = [score(w, args) for w in args.world]
    pooled = pd.concat(scored, ignore_index=True)
    if len(args.world) > 1:
        for opt, g in pooled.groupby("opt_in"):
            print(f"att_opt_in {opt}:", json.dumps(summary(g)))
        ratio = pooled["total_return"] / pooled["true_return"]
        print(f"pooled over {len(args.world)} worlds: error quantiles 5/50/95% "
              f"{', '.join(f'{100 * (q - 1):+.1f}' for q in ratio.quantile([0.05, 0.5, 0.95]))}")
    print(perfect_attribution(pooled))
    print(json.dumps(summary(pooled)))


if __name__ == "__main__":
    main()

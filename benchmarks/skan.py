"""SKAN-modelled installs and 180-day return per iOS campaign, scored against generated worlds' truth.

    PYTHONPATH=. .venv/bin/python benchmarks/skan.py --world DIR [DIR ...] [--horizon 180] [--min-monthly 300]

DIR: generated worlds with ATT (``att_opt_in`` < 1). It reads the world's files with pandas, not through
Dagster, and gives the decoder only what a pipeline sees: the postbacks (AppsFlyer ``skad_postbacks``
export, parsed as the ``skan_postbacks`` asset does) and the tracked users (paid iOS users whose AppsFlyer
install row names their campaign, i.e. not ``restricted``) with their keys by the schema (purchases from
``truth/purchases``, gross USD, as the app's payments show them; logins) and their realised net revenue
up to the horizon (``--tracked-value expected`` gives their true expected LTV instead: world truth, an
oracle for diagnosis only). Cohorts: installs up to the last day minus the horizon.
Per world and campaign it prints SKAN, tracked and true installs, the modelled total 180-day return with
its 99% interval and the true expected return (``truth/skan``), and a per-world JSON line; with several
worlds, one line per opt-in and the pooled error quantiles. The last line is one JSON object over all
worlds' campaigns with at least ``--min-monthly`` true installs a month: campaigns, installs and return
MAPE (%), and the share of them whose interval covers the truth.
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
from adperf_assets.skan.decode import SkanDecoder, install_keys, user_keys
from adperf_assets.skan.postbacks import parse_appsflyer

#: AppsFlyer's estimate of the install from a first postback's arrival (its docs: 48 h + 36 h).
FIRST_POSTBACK_LAG = pd.Timedelta(hours=84)


def load(world: Path, horizon: int, tracked_value: str = "realised", everyone: bool = False) -> dict:
    """The world's postbacks (install keys), tracked users with keys and value, truth. ``everyone``: also
    keys and values of the untracked paid users (``everyone``, with a ``tracked`` flag): diagnosis only."""
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
    paid = users[(users["acquisition"] == "paid") & (users["platform"] == "ios")
                 & users["network"].isin(list(SKAN_NETWORK_ID)) & (users["cohort_date"] <= cutoff)]
    af = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False, usecols=["Customer User ID", "Media Source",
                                                                            "Is Reinstall"])
                    for p in sorted((world / "mmp/appsflyer/installs_report").glob("*.csv"))], ignore_index=True)
    af = af[af["Is Reinstall"] == "false"]
    tracked_ids = set(af.loc[af["Media Source"] != "restricted", "Customer User ID"].astype(np.int64))
    is_tracked = paid["user_id"].isin(tracked_ids).to_numpy()
    tracked = (paid if everyone else paid[is_tracked]).reset_index(drop=True)

    # the tracked users' purchases and logins: their keys and measured net return at the horizon
    buys = pd.read_parquet(layout.truth(world, "purchases"))
    buys = buys[buys["user_id"].isin(tracked["user_id"])]
    coh = tracked.set_index("user_id")["cohort_date"]
    t = (buys["report_date"] - coh.reindex(buys["user_id"]).to_numpy()).dt.days.to_numpy()
    net = 1 - cfg["refund_rate"] - cfg["chargeback_rate"]
    uid = buys["user_id"].to_numpy()
    amount = buys["gross_usd"].to_numpy()

    def per_user(mask, weights=None):
        s = pd.Series(amount[mask] if weights is None else weights[mask], index=uid[mask])
        return s.groupby(level=0).sum().reindex(tracked["user_id"]).fillna(0).to_numpy()

    rev = [per_user(t <= hi) for _, hi in schema.WINDOWS]
    n_buys = per_user(t <= schema.WINDOWS[0][1], np.ones(len(t)))
    value = per_user(t < horizon) * net
    returned = np.zeros(len(tracked), dtype=bool)
    logins_dir = layout.events_dir(world, "logins")
    ids = set(tracked["user_id"])
    tz = m["report_timezone"]
    for p in sorted(logins_dir.glob("*.parquet")):
        day = pd.Timestamp(p.stem)
        if day > cutoff + pd.Timedelta(days=4):
            break
        lg = pd.read_parquet(p, columns=["event_time", "user_id"])
        lg = lg[lg["user_id"].isin(ids)]
        if lg.empty:
            continue
        ev_day = lg["event_time"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
        d = (ev_day - coh.reindex(lg["user_id"]).to_numpy()).dt.days.to_numpy()
        returned |= tracked["user_id"].isin(lg.loc[(d >= 1) & (d <= 2), "user_id"]).to_numpy()
    if tracked_value == "expected":  # what an exact per-user LTV estimate would give the report
        uv = pd.read_parquet(layout.truth(world, "user_value"), columns=["user_id", f"expected_ltv_usd_{horizon}"])
        value = uv.set_index("user_id")[f"expected_ltv_usd_{horizon}"].reindex(tracked["user_id"]).to_numpy()
    keys = user_keys(rev, n_buys, returned)
    tracked = pd.concat([tracked, keys], axis=1).assign(value=value)
    out_everyone = None
    if everyone:
        out_everyone = tracked.assign(tracked=is_tracked)
        tracked = out_everyone[is_tracked].drop(columns="tracked").reset_index(drop=True)

    truth = pd.read_parquet(layout.truth(world, "skan"))
    truth = truth[truth["install_date"] <= cutoff]
    months = max((cutoff - first).days + 1, 1) / 30.4
    return {"installs": inst, "tracked": tracked, "truth": truth, "months": months, "cutoff": cutoff,
            "opt_in": cfg.get("att_opt_in", 1.0),
            "everyone": out_everyone}


def score(world: Path, args) -> pd.DataFrame:
    """One world's campaigns: the decoder's figures against the truth, printed; returned with ``covered``."""
    w = load(world, args.horizon, args.tracked_value)
    dec = SkanDecoder(tail=args.tail, tail_index_noise=args.tail_index_noise).fit(w["tracked"])
    pred = dec.predict(w["installs"], w["tracked"])
    truth = (w["truth"].groupby(["network", "campaign_id"])
             .agg(true_installs=("installs", "sum"), true_return=(f"expected_ltv_usd_{args.horizon}", "sum"))
             .reset_index())
    out = pred.merge(truth, on=["network", "campaign_id"], how="outer").fillna(0)
    out["monthly"] = out["true_installs"] / w["months"]
    out["covered"] = (out["total_return_low"] <= out["true_return"]) & (out["true_return"] <= out["total_return_high"])
    print(f"world {world}: att_opt_in {w['opt_in']}, tracked value {args.tracked_value}, cohorts up to {w['cutoff'].date()} "
          f"({w['months']:.1f} months), {len(w['tracked'])} tracked users calibrate; tail index "
          f"{dec.params_['tail_alpha']:.2f} above {dec.params_['tail_u']:.1f} USD")
    print(f"{'network':<11} {'campaign':<18} {'/month':>6} {'skan':>6} {'tracked':>7} {'true':>6} "
          f"{'return':>10} {'99% interval':>23} {'true ret':>10} {'err%':>6} {'modelled':>8} {'null':>5}")
    for r in out.sort_values("monthly", ascending=False).itertuples():
        err = 100 * (r.total_return / r.true_return - 1) if r.true_return else float("nan")
        print(f"{r.network:<11} {r.campaign_id:<18} {r.monthly:6.0f} {r.skan_installs:6.0f} {r.tracked_installs:7.0f} "
              f"{r.true_installs:6.0f} {r.total_return:10.0f} [{r.total_return_low:10.0f}, {r.total_return_high:10.0f}] "
              f"{r.true_return:10.0f} {err:6.1f} {r.modelled_share:8.2f} {r.null_share:5.2f}"
              f"{'' if r.covered else '  (not covered)'}")
    big = out[out["monthly"] >= args.min_monthly].assign(world=str(world), opt_in=w["opt_in"])
    print("world", json.dumps(summary(big)))
    return big


def summary(big: pd.DataFrame) -> dict:
    ape = lambda a, b: float(100 * np.mean(np.abs(a / b - 1))) if len(b) else float("nan")  # noqa: E731
    return {"campaigns": len(big), "installs_mape": round(ape(big["skan_installs"], big["true_installs"]), 2),
            "return_mape": round(ape(big["total_return"], big["true_return"]), 2),
            "coverage": round(float(big["covered"].mean()), 3) if len(big) else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, type=Path, nargs="+", help="one or more worlds: pooled at the end")
    ap.add_argument("--horizon", type=int, default=180)
    ap.add_argument("--min-monthly", type=float, default=300.0)
    ap.add_argument("--tracked-value", choices=("realised", "expected"), default="realised",
                    help="the tracked users' return: their realised net revenue (what a pipeline measures) or, "
                         "as an oracle for diagnosis only, their true expected LTV (world truth)")
    ap.add_argument("--tail", choices=("empirical", "pareto"), default="empirical")
    ap.add_argument("--tail-index-noise", type=float, default=1.0)
    args = ap.parse_args()
    scored = [score(w, args) for w in args.world]
    pooled = pd.concat(scored, ignore_index=True)
    if len(args.world) > 1:
        for opt, g in pooled.groupby("opt_in"):
            print(f"att_opt_in {opt}:", json.dumps(summary(g)))
        ratio = pooled["total_return"] / pooled["true_return"]
        print(f"pooled over {len(args.world)} worlds: error quantiles 5/50/95% "
              f"{', '.join(f'{100 * (q - 1):+.1f}' for q in ratio.quantile([0.05, 0.5, 0.95]))}")
    print(json.dumps(summary(pooled)))


if __name__ == "__main__":
    main()

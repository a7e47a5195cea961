"""Back-test of the LTV estimators on a sample world, through the Dagster assets; prints the tables.

    ADPERF_HOME=/tmp/adperf .venv/bin/python benchmarks/btyd_backtest.py [--last 2026-11-25] [--skip-upstream]
    ADPERF_HOME=/tmp/adperf_realistic .venv/bin/python benchmarks/btyd_backtest.py --preset realistic

Materializes (into $ADPERF_HOME's DuckDB, generating the world there if it is missing) the
upstream tables, the cohort method's chain (``defs/ltv/``, behaviour credit by the ``direct``
method: the LTV uses net payments) and the BTYD chain (``user_rfm`` / ``user_ltv`` in chunks of
``--chunk-days``: each holds one row per user of the 365-day window per day), then
``ltv_backtest`` and ``ltv_estimates`` for the last day, and prints:

1. MAPE per estimator x segment x horizon x made_at_day (install-month cohorts, what the
   selection uses), and over all segments;
2. per segment with enough back-tested months, the estimator ``ltv_estimates`` picks for 180 days
   and whether its WAPE (the error it is chosen by) is below both the geometric baseline's and the other
   estimator's;
3. where the world has its truth (``truth/users``): the same back-test rows scored against each cohort's
   true expected revenue instead of what it realised (the error without the cohorts' luck), and per
   segment x horizon x made_at_day which estimator the selection's MAPE, WAPE and the truth would pick;
4. the times of each step.

``--preset`` names the world preset (``adperf_assets.sample.config.PRESETS``) the world is generated
with; a world already in the folder is reused only if its manifest records that preset's knobs.

Days after "now" are not partitions yet (end_offset=0), so ``--last`` defaults to yesterday or
the world's last day, whichever is earlier.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from datetime import date, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

warnings.filterwarnings("ignore")
logging.getLogger("dagster").setLevel(logging.WARNING)  # the figures, not the run's event log

from adperf_assets.defs.attribution import assets as attribution  # noqa: E402
from adperf_assets.defs.fx import assets as fx  # noqa: E402
from adperf_assets.defs.ltv import btyd_assets as btyd  # noqa: E402
from adperf_assets.defs.ltv import activity_assets as activity  # noqa: E402
from adperf_assets.defs.ltv import cohort_assets as ltv  # noqa: E402
from adperf_assets.defs.revenue import assets as revenue  # noqa: E402
from adperf_assets.ltv.backtest import SEGMENT_KEYS  # noqa: E402
from adperf_assets.defs.resources import DUCKDB_SCHEMA, build_resources  # noqa: E402
from adperf_assets.settings import load_settings  # noqa: E402

ALL = [fx.fx_rates, revenue.payments_snapshot, attribution.installs, attribution.user_segments,
       revenue.match_sessions, revenue.behavior_value, activity.user_activity, activity.cohort_activity, ltv.retention_fit,
       ltv.cohort_ltv, ltv.cohort_ltv_backtest, btyd.user_rfm, btyd.user_ltv, btyd.ltv_backtest, btyd.ltv_estimates]


def run(assets, first: str, last: str, settings, preset: str = "default") -> float:
    keys = {k for a in assets for k in a.keys}
    sources = [s for a in ALL if not set(a.keys) & keys for s in a.to_source_assets()]
    tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    run_config = dg.RunConfig(ops={"behavior_value": {"config": {"method": "direct"}}})
    t0 = time.perf_counter()
    with dg.instance_for_test() as inst:
        result = dg.materialize([*assets, *sources], selection=list(assets), resources=resources(settings, preset),
                                tags=tags, instance=inst, run_config=run_config if revenue.behavior_value in assets else None)
    if not result.success:
        raise SystemExit(f"run of {[a.key.to_user_string() for a in assets]} failed")
    seconds = time.perf_counter() - t0
    print(f"  {', '.join(k.to_user_string() for a in assets for k in a.keys)} {first}..{last}: {seconds:.0f} s", flush=True)
    return seconds


def resources(settings, preset: str) -> dict:
    """build_resources with the world generated from ``preset`` (SampleWorld.root does not compare presets,
    so the manifest's knobs are checked here)."""
    from adperf_assets.sample.config import EASY, PRESETS

    res = build_resources(settings)
    world = res["world"].model_copy(update={"preset": preset})
    cfg = world.manifest()["config"]
    want = {**EASY, **{k: v for k, v in PRESETS[preset].items() if k in EASY}}
    have = {k: cfg.get(k, v) for k, v in EASY.items()}
    if have != want:
        raise SystemExit(f"the world in {world.path} has knobs {have}, preset {preset!r} wants {want}: use another ADPERF_HOME")
    return {k: (v.model_copy(update={"world": world}) if hasattr(v, "world") else v) for k, v in {**res, "world": world}.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--last", help="last report day (default: the last partition that exists)")
    parser.add_argument("--chunk-days", type=int, default=120)
    parser.add_argument("--skip-upstream", action="store_true", help="reuse the tables already in $ADPERF_HOME")
    parser.add_argument("--preset", default="default", help="world preset (adperf_assets.sample.config.PRESETS)")
    parser.add_argument("--report-only", action="store_true", help="print the tables already materialized")
    parser.add_argument("--btyd-from", help="first day of the BTYD chunks (default: the back-test's first day)")
    parser.add_argument("--skip-btyd", action="store_true", help="reuse user_rfm / user_ltv already materialized")
    args = parser.parse_args()

    s = load_settings()
    first = s.start_date
    world_last = s.start_date + timedelta(days=s.sample_days - 1)
    last = date.fromisoformat(args.last) if args.last else min(world_last, date.today() - timedelta(days=1))
    print(f"home {s.home}, world {s.world_path} (preset {args.preset}), days {first}..{last}", flush=True)
    if args.report_only:
        return report(s, last)
    if not args.skip_upstream:
        run([fx.fx_rates, revenue.payments_snapshot, attribution.installs, attribution.user_segments],
            str(first), str(last), s, args.preset)
        run([revenue.match_sessions, revenue.behavior_value, activity.user_activity, activity.cohort_activity],
            str(first), str(last), s, args.preset)
        # the cohort method's curves only on the last day; its back-test rows (partition = the day a
        # cohort's realised revenue completes) over the trailing window ltv_backtest scores
        run([ltv.retention_fit, ltv.cohort_ltv], str(last), str(last), s, args.preset)
        bt_first = max(first, last - timedelta(days=btyd.BACKTEST_METRICS_DAYS - 1))
        run([ltv.cohort_ltv_backtest], str(bt_first), str(last), s, args.preset)
    if not args.skip_btyd:
        start = max(first, last - timedelta(days=btyd.BACKTEST_DAYS - 1))
        if args.btyd_from:  # resume after a failed chunk
            start = max(start, date.fromisoformat(args.btyd_from))
        while start <= last:
            end = min(last, start + timedelta(days=args.chunk_days - 1))
            run([btyd.user_rfm, btyd.user_ltv], str(start), str(end), s, args.preset)
            start = end + timedelta(days=1)
    run([btyd.ltv_backtest, btyd.ltv_estimates], str(last), str(last), s, args.preset)
    report(s, last)


def report(s, last: date) -> None:
    con = duckdb.connect(str(s.duckdb_path), read_only=True)
    q = lambda sql: con.sql(sql).df()  # noqa: E731
    bt = q(f"select * from {DUCKDB_SCHEMA}.ltv_backtest where report_date = '{last}' and pooling = 'monthly'")
    est = q(f"select * from {DUCKDB_SCHEMA}.ltv_estimates where report_date = '{last}'")
    oldest = last - timedelta(days=btyd.BACKTEST_METRICS_DAYS - 1)
    rows = q(f"select * from {DUCKDB_SCHEMA}.cohort_ltv_backtest where report_date between '{oldest}' and '{last}'")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    seg = bt.assign(segment=bt["platform"] + "/" + bt["attribution"] + "/" + bt["network"]
                    + bt["is_emulator"].map({True: "/emulator", False: ""}))
    print(f"\nback-test as of {last}: per horizon, the cohorts whose revenue over it completed in "
          f"{oldest}..{last} (install months pooled per segment)")
    table = seg.pivot_table(index=["segment", "horizon", "made_at_day"], columns="estimator", values="mape")
    months = seg.pivot_table(index=["segment", "horizon", "made_at_day"], columns="estimator",
                             values="cohorts", aggfunc="first")
    print("\nMAPE (share) per segment x horizon x made_at_day, install-month cohorts:")
    print((table.round(3)).join(months[["btyd"]].rename(columns={"btyd": "months"})).to_string())

    from adperf_assets.ltv.backtest import OVERALL, backtest_metrics, pool_cohorts
    from adperf_assets.ltv.btyd_ltv import common_cohorts, join_realised, realised_per_cohort
    print("\nMAPE over all segments (install-month cohorts, all segments pooled):")
    pred = q(f"select * from {DUCKDB_SCHEMA}.btyd_ltv_predictions")
    pay = q(f"select user_id, report_date, net_usd from {DUCKDB_SCHEMA}.payments_snapshot where report_date <= '{last}'")
    segs = q(f"select * from {DUCKDB_SCHEMA}.user_segments where install_date <= '{last}'")
    first_install = pd.Timestamp(last) - pd.Timedelta(days=btyd.BACKTEST_DAYS - 1)
    segs = segs[segs["install_date"] >= first_install]
    realised = realised_per_cohort(pay, segs, pd.Timestamp(last))
    realised = realised[realised["install_date"] + pd.to_timedelta(realised["horizon"] - 1, "D") >= pd.Timestamp(oldest)]
    ours = join_realised(pred[(pred["install_date"] >= first_install) & (pred["report_date"] <= pd.Timestamp(last))],
                         realised)
    both = common_cohorts([ours, rows[[c for c in ours.columns]]])
    overall = backtest_metrics(pool_cohorts(both, "MS", across_segments=True), by=OVERALL)
    print(overall.pivot_table(index=["horizon", "made_at_day"], columns="estimator", values=["mape", "bias", "coverage"])
          .round(3).to_string())
    truth_section(s, both, segs)

    from adperf_assets.ltv.selection import METRICS
    metric = METRICS[0]  # what ltv_estimates compares by default
    print(f"\n180-day estimates: the estimator with the lower {metric.upper()} vs the baseline and the other one "
          "(per segment, made at day 7/14/30):")
    h180 = bt[bt["horizon"] == 180]
    m = h180.pivot_table(index=[*SEGMENT_KEYS, "made_at_day"], columns="estimator", values=metric)
    mape = h180.pivot_table(index=[*SEGMENT_KEYS, "made_at_day"], columns="estimator", values="mape")
    n = h180.assign(n=h180["cohorts"] - h180["zero_realised"]).pivot_table(
        index=[*SEGMENT_KEYS, "made_at_day"], columns="estimator", values="n")
    out = []
    for idx, r in m.iterrows():
        enough = n.loc[idx].min() >= btyd.MIN_POOLED_COHORTS and pd.notna(r.get("btyd")) and pd.notna(r.get("cohort"))
        if not enough:
            out.append({**dict(zip([*SEGMENT_KEYS, "made_at_day"], idx)), "chosen": "cohort (too little history)"})
            continue
        chosen = "btyd" if r["btyd"] < r["cohort"] else "cohort"
        other = "cohort" if chosen == "btyd" else "btyd"
        out.append({**dict(zip([*SEGMENT_KEYS, "made_at_day"], idx)), "chosen": chosen,
                    f"chosen_{metric}": round(r[chosen], 3), f"other_{metric}": round(r[other], 3),
                    f"geometric_{metric}": round(r["geometric"], 3),
                    "chosen_mape": round(mape.loc[idx, chosen], 3), "other_mape": round(mape.loc[idx, other], 3),
                    "beats_both": bool(r[chosen] < r["geometric"] and r[chosen] <= r[other])})
    print(pd.DataFrame(out).to_string(index=False))
    last_est = est.groupby(["horizon", "estimator", "selection"]).agg(cells=("install_date", "size"),
                                                                     users=("cohort_size", "sum"))
    print("\nltv_estimates on the last day (cells = cohort x segment):")
    print(last_est.to_string())


def truth_section(s, both: pd.DataFrame, segs: pd.DataFrame) -> None:
    """The back-test rows against each cohort x segment's true expected revenue per user (truth/users)."""
    from adperf_assets.ltv.backtest import OVERALL, backtest_metrics, pool_cohorts
    from adperf_assets.sample import layout

    path = layout.truth(s.world_path, "users")
    if not path.exists():
        return
    cols = [f"expected_ltv_usd_{h}" for h in sorted(both["horizon"].unique())]
    truth = pd.read_parquet(path, columns=["user_id", *cols])
    keys = ["install_date", *SEGMENT_KEYS]
    exp = segs[["user_id", *keys]].merge(truth, on="user_id").groupby(keys)[cols].mean()
    exp = exp.stack().rename("truth").rename_axis([*keys, "col"]).reset_index()
    exp["horizon"] = exp["col"].str.rsplit("_", n=1).str[1].astype(int)
    b = both.merge(exp.drop(columns="col"), on=[*keys, "horizon"], how="left")
    if b["truth"].isna().any():
        print(f"\n({int(b['truth'].isna().sum())} back-test rows have no truth; left out below)")
        b = b[b["truth"].notna()]
    vs_truth = b.assign(realised_per_user=b["truth"]).drop(columns="truth")
    print("\nagainst the truth (each cohort's true expected revenue, not what it realised), all segments pooled:")
    o = backtest_metrics(pool_cohorts(vs_truth, "MS", across_segments=True), by=OVERALL)
    print(o.pivot_table(index=["horizon", "made_at_day"], columns="estimator", values=["mape", "bias", "wape"])
          .round(3).to_string())
    real = backtest_metrics(pool_cohorts(b.drop(columns="truth"), "MS"))
    true = backtest_metrics(pool_cohorts(vs_truth, "MS"))
    idx = [*SEGMENT_KEYS, "made_at_day", "horizon"]
    wide = real.pivot_table(index=idx, columns="estimator", values=["mape", "wape"]).join(
        true.pivot_table(index=idx, columns="estimator", values=["mape", "wape"]).rename(
            columns={"mape": "true_mape", "wape": "true_wape"}, level=0))
    n = real.assign(n=real["cohorts"] - real["zero_realised"]).pivot_table(index=idx, columns="estimator", values="n")
    wide = wide[(n[["btyd", "cohort"]].min(axis=1) >= btyd.MIN_POOLED_COHORTS).reindex(wide.index, fill_value=False)]
    pick = pd.DataFrame({rule: (wide[(rule, "btyd")] < wide[(rule, "cohort")]).map({True: "btyd", False: "cohort"})
                         for rule in ("mape", "wape", "true_wape")})
    print(f"\nper segment x made_at_day x horizon with >= {btyd.MIN_POOLED_COHORTS} back-tested months each "
          f"({len(pick)} cells): the pick by MAPE / WAPE on realised revenue vs by WAPE against the truth")
    for rule in ("mape", "wape"):
        chosen = np.where(pick[rule] == "btyd", wide[("true_wape", "btyd")], wide[("true_wape", "cohort")])
        print(f"  by {rule}: agrees with the truth's pick in {int((pick[rule] == pick['true_wape']).sum())} of "
              f"{len(pick)}, picks btyd in {int((pick[rule] == 'btyd').sum())}; mean true WAPE of its picks "
              f"{np.mean(chosen):.3f}")
    best = np.minimum(wide[("true_wape", "btyd")], wide[("true_wape", "cohort")])
    print(f"  by the truth: picks btyd in {int((pick['true_wape'] == 'btyd').sum())}; mean true WAPE {np.mean(best):.3f}; "
          f"always cohort {wide[('true_wape', 'cohort')].mean():.3f}, always btyd {wide[('true_wape', 'btyd')].mean():.3f}")
    wide.columns = [f"{m}_{e}" for m, e in wide.columns]
    print(wide.round(3).join(pick.add_prefix("pick_by_")).to_string())


if __name__ == "__main__":
    main()

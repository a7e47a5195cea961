"""Back-test of the cohort (studio) LTV method on a sample world, through the Dagster assets.

Generates the world if needed (default preset, 545 days, ~79k users; ``--churn-model weibull``
for the world where no retention model is exact), materializes the upstream chain and
``user_activity`` / ``cohort_activity`` over every day in single runs, then
``cohort_ltv_backtest`` for the back-test day, and prints:

- MAPE / bias / WAPE / 99%-interval coverage of the cohort method and the geometric baseline,
  from 7, 14 and 30 days, at 30/90/180-day horizons, at four cohort sizes: daily cohort x segment
  (the table's rows), all segments of a day, segment x install month, all segments x install month;
- the same for an *oracle* that predicts each cohort's true expected revenue (the world's
  ``truth/users.parquet``): the error no estimator can beat, because a cohort's realised revenue
  scatters around its expectation; and the cohort method's error against that expectation;
- with ``--windows 90,180``: the back-test recomputed by the pure function on the stored
  ``cohort_activity`` for other fit windows (the default window is checked to equal the asset).

    .venv/bin/python benchmarks/ltv_backtest.py --home /tmp/ltv_default
    .venv/bin/python benchmarks/ltv_backtest.py --home /tmp/ltv_weibull --churn-model weibull

A second call with the same ``--home`` reuses the materialized tables (``--rematerialize`` redoes them).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", required=True, help="ADPERF_HOME to use (world in <home>/world unless --world)")
    ap.add_argument("--world", help="an existing world folder")
    ap.add_argument("--churn-model", default="sbg", choices=["sbg", "weibull"])
    ap.add_argument("--day", help="back-test day (default: the world's last complete day)")
    ap.add_argument("--windows", default="", help="extra fit windows to compare, e.g. 90,180")
    ap.add_argument("--rematerialize", action="store_true")
    args = ap.parse_args()

    os.environ["ADPERF_HOME"] = str(Path(args.home).resolve())
    if args.world:
        os.environ["ADPERF_WORLD"] = str(Path(args.world).resolve())
    warnings.filterwarnings("ignore")
    import dagster as dg
    import duckdb
    import pandas as pd

    from adperf_assets.assets import ltv
    from adperf_assets.assets.attribution import installs, user_segments
    from adperf_assets.assets.fx import fx_rates
    from adperf_assets.assets.revenue import behavior_value, match_sessions, payments_snapshot
    from adperf_assets.ltv.backtest import OVERALL, backtest_metrics, pool_cohorts
    from adperf_assets.ltv.cohort_backtest import cohort_backtest
    from adperf_assets.ltv.curves import ActivityCube
    from adperf_assets.resources import DUCKDB_SCHEMA, build_resources
    from adperf_assets.resources.world import SampleWorld
    from adperf_assets.sample import layout
    from adperf_assets.settings import load_settings

    s = load_settings()
    res = build_resources(s)
    world = SampleWorld(path=str(s.world_path), seed=s.sample_seed, start=s.start_date.isoformat(),
                        days=s.sample_days, installs_per_day=s.sample_installs_per_day, churn_model=args.churn_model)
    res = {k: (v.model_copy(update={"world": world}) if hasattr(v, "world") else v) for k, v in res.items()}
    res["world"] = world
    t0 = time.perf_counter()
    root = world.root()
    print(f"world {root} ({args.churn_model}): ready in {time.perf_counter() - t0:.0f}s", flush=True)
    first = world.first_day()
    # the last complete day that is also a partition (the partitions stop at today - 1)
    last = min(world.last_day(), date.today() - timedelta(days=1))
    day = date.fromisoformat(args.day) if args.day else last
    everything = [fx_rates, payments_snapshot, match_sessions, installs, user_segments, behavior_value,
                  ltv.user_activity, ltv.cohort_activity, ltv.cohort_ltv_backtest]
    db = s.duckdb_path

    def tables() -> set[str]:
        if not db.exists():
            return set()
        con = duckdb.connect(str(db), read_only=True)
        try:
            return {r[0] for r in con.sql("select table_name from information_schema.tables").fetchall()}
        finally:
            con.close()

    def read(name: str) -> pd.DataFrame:
        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.sql(f"select * from {DUCKDB_SCHEMA}.{name}").df()
        finally:
            con.close()

    def run(assets, a: date, b: date) -> float:
        t = time.perf_counter()
        tags = {"dagster/asset_partition_range_start": a.isoformat(), "dagster/asset_partition_range_end": b.isoformat()}
        with dg.instance_for_test() as inst:
            dg.materialize(everything, selection=assets, resources=res, tags=tags, instance=inst)
        return time.perf_counter() - t

    have = tables()
    for group in ([fx_rates], [payments_snapshot], [match_sessions], [installs], [user_segments], [behavior_value],
                  [ltv.user_activity], [ltv.cohort_activity]):
        name = group[0].key.path[-1]
        if name in have and not args.rematerialize:
            continue
        print(f"materialize {name} {first}..{last}: {run(group, first, last):.0f}s", flush=True)
    secs = run([ltv.cohort_ltv_backtest], day, day)
    print(f"materialize cohort_ltv_backtest {day}: {secs:.0f}s (run incl. loading {ltv.BACKTEST_HISTORY_DAYS} days "
          "of cohort_activity)", flush=True)

    bt = read("cohort_ltv_backtest")
    bt = bt[bt["report_date"] == pd.Timestamp(day)].reset_index(drop=True)
    # oracle: each cohort's true expected revenue per user (same users, same realised values)
    truth = pd.read_parquet(layout.truth(root, "users"))
    segs = read("user_segments")
    keys = ["install_date", "platform", "attribution", "network", "is_emulator"]
    exp = segs.merge(truth[["user_id"] + [c for c in truth.columns if c.startswith("expected_ltv_usd_")]], on="user_id")
    oracle_rows = []
    for h in sorted(bt["horizon"].unique()):
        per = exp.groupby(keys)[f"expected_ltv_usd_{h}"].mean().rename("oracle").reset_index()
        part = bt[(bt["estimator"] == "cohort") & (bt["horizon"] == h)].merge(per, on=keys, how="left")
        oracle_rows.append(part.assign(estimator="oracle", predicted_per_user=part["oracle"], lower=float("nan"),
                                       upper=float("nan")).drop(columns="oracle"))
    oracle = pd.concat(oracle_rows, ignore_index=True)
    vs_truth = bt[bt["estimator"] != "geometric"].merge(
        oracle[keys + ["made_at_day", "horizon", "predicted_per_user"]].rename(columns={"predicted_per_user": "truth"}),
        on=keys + ["made_at_day", "horizon"])
    vs_truth = vs_truth.assign(estimator=vs_truth["estimator"] + " vs truth", realised_per_user=vs_truth["truth"])
    scored = pd.concat([bt, oracle, vs_truth.drop(columns="truth")], ignore_index=True)

    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 200)
    cols = ["estimator", "made_at_day", "horizon", "cohorts", "users", "zero_realised", "mape", "bias", "wape",
            "coverage"]
    levels = {
        "daily cohort x segment": scored,
        "daily cohort, all segments": pool_cohorts(scored, None, across_segments=True),
        "monthly cohort x segment": pool_cohorts(scored, "MS"),
        "monthly cohort, all segments": pool_cohorts(scored, "MS", across_segments=True),
    }
    print(f"\nback-test as of {day}: {bt['install_date'].min().date()}..{bt['install_date'].max().date()} installs, "
          f"{bt[['install_date', *keys[1:]]].drop_duplicates().shape[0]} cohort x segments, "
          f"{int(bt.drop_duplicates(keys)['cohort_size'].sum())} users; fit window 180 days")
    for name, frame in levels.items():
        m = backtest_metrics(frame, by=OVERALL)[cols]
        print(f"\n== {name} ==")
        print(m.to_string(index=False, float_format=lambda x: f"{x:.3f}"))

    for w in [int(x) for x in args.windows.split(",") if x.strip()]:
        t = time.perf_counter()
        cube = ActivityCube.from_frame(read("cohort_activity"), first_day=pd.Timestamp(day) - pd.Timedelta(
            days=ltv.BACKTEST_HISTORY_DAYS - 1), last_day=pd.Timestamp(day))
        alt = cohort_backtest(cube, [pd.Timestamp(day)], window_days=w)
        note = ""
        if w == 180:
            same = alt.reset_index(drop=True).equals(bt.reset_index(drop=True)) or (
                (alt["predicted_per_user"].to_numpy() - bt["predicted_per_user"].to_numpy()).__abs__().max() < 1e-9)
            note = f"; equals the asset's table: {same}"
        print(f"\n== fit window {w} days (pure function, {time.perf_counter() - t:.0f}s{note}) ==")
        for name, frame in (("daily cohort, all segments", pool_cohorts(alt, None, across_segments=True)),
                            ("monthly cohort, all segments", pool_cohorts(alt, "MS", across_segments=True))):
            m = backtest_metrics(frame, by=OVERALL)
            m = m[(m["horizon"] == 180)][cols]
            print(f"-- {name}, 180-day horizon")
            print(m.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\ntotal {time.perf_counter() - t0:.0f}s at {datetime.now():%H:%M}")


if __name__ == "__main__":
    sys.exit(main())

"""Back-test of the cohort (studio) LTV method on a sample world, through the Dagster assets.

Generates the world if needed (default preset, 545 days, ~79k users; ``--churn-model weibull``
for the world where no retention model is exact), materializes the upstream chain and
``user_activity`` / ``cohort_activity`` over every day in single runs, then
``cohort_ltv_backtest`` over the 180 days up to the back-test day (one run), and prints:

- MAPE / bias / WAPE / 99%-interval coverage of the cohort method and the geometric baseline,
  from 7, 14 and 30 days, at 30/90/180-day horizons, at four cohort sizes: daily cohort x segment
  (the table's rows), all segments of a day, segment x install month, all segments x install month
  (complete install months only: where the back-test's range cuts a month, it is left out);
- the same for an *oracle* that predicts each cohort's true expected revenue (the world's
  ``truth/users.parquet``): the error no estimator can beat, because a cohort's realised revenue
  scatters around its expectation; and the cohort method's error against that expectation;
- the same over every cohort of the world (the back-test as of a day keeps the last 180 days), by
  the pure function on the stored ``cohort_activity`` (checked to equal the asset's rows where
  both exist), and with ``--windows 90`` for other fit windows.

    .venv/bin/python benchmarks/ltv_backtest.py --home /tmp/ltv_default --windows 90
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
    ap.add_argument("--preset", default="default", help="world preset (adperf_assets.sample.config.PRESETS)")
    ap.add_argument("--day", help="back-test day (default: the world's last complete day)")
    ap.add_argument("--windows", default="", help="extra fit windows to compare, e.g. 90")
    ap.add_argument("--rematerialize", action="store_true")
    args = ap.parse_args()

    os.environ["ADPERF_HOME"] = str(Path(args.home).resolve())
    if args.world:
        os.environ["ADPERF_WORLD"] = str(Path(args.world).resolve())
    warnings.filterwarnings("ignore")
    import dagster as dg
    import duckdb
    import pandas as pd

    from adperf_assets.defs.ltv import activity_assets as activity
    from adperf_assets.defs.ltv import cohort_assets as ltv
    from adperf_assets.defs.ltv import windows
    from adperf_assets.defs.attribution.assets import installs, user_segments
    from adperf_assets.defs.fx.assets import fx_rates
    from adperf_assets.defs.revenue.assets import behavior_value, match_sessions, payments_snapshot
    from adperf_assets.ltv.backtest import OVERALL, backtest_metrics, pool_cohorts
    from adperf_assets.ltv.cohort_backtest import as_of, cohort_backtest
    from adperf_assets.ltv.curves import ActivityCube
    from adperf_assets.defs.resources import DUCKDB_SCHEMA, build_resources
    from adperf_assets.defs.common.world import SampleWorld
    from adperf_assets.sample import layout
    from adperf_assets.settings import load_settings

    s = load_settings()
    res = build_resources(s)
    world = SampleWorld(path=str(s.world_path), seed=s.sample_seed, start=s.start_date.isoformat(),
                        days=s.sample_days, installs_per_day=s.sample_installs_per_day, churn_model=args.churn_model,
                        preset=args.preset)
    res = {k: (v.model_copy(update={"world": world}) if hasattr(v, "world") else v) for k, v in res.items()}
    res["world"] = world
    t0 = time.perf_counter()
    root = world.root()
    print(f"world {root} ({args.preset}, {args.churn_model}): ready in {time.perf_counter() - t0:.0f}s", flush=True)
    first = world.first_day()
    # the last complete day that is also a partition (the partitions stop at today - 1)
    last = min(world.last_day(), date.today() - timedelta(days=1))
    day = date.fromisoformat(args.day) if args.day else last
    everything = [fx_rates, payments_snapshot, match_sessions, installs, user_segments, behavior_value,
                  activity.user_activity, activity.cohort_activity, ltv.cohort_ltv_backtest]
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
                  [activity.user_activity], [activity.cohort_activity]):
        name = group[0].key.path[-1]
        if name in have and not args.rematerialize:
            continue
        print(f"materialize {name} {first}..{last}: {run(group, first, last):.0f}s", flush=True)
    since = day - timedelta(days=windows.BACKTEST_METRICS_DAYS - 1)
    secs = run([ltv.cohort_ltv_backtest], since, day)
    print(f"materialize cohort_ltv_backtest {since}..{day}: {secs:.0f}s (one run; loads "
          f"{windows.BACKTEST_HISTORY_DAYS + windows.BACKTEST_METRICS_DAYS - 1} days of cohort_activity)", flush=True)

    bt = as_of(read("cohort_ltv_backtest"), day).reset_index(drop=True)
    # oracle: each cohort's true expected revenue per user (same users, same realised values)
    truth = pd.read_parquet(layout.truth(root, "users"))
    segs = read("user_segments")
    keys = ["install_date", "platform", "attribution", "network", "is_emulator"]
    exp = segs.merge(truth[["user_id"] + [c for c in truth.columns if c.startswith("expected_ltv_usd_")]], on="user_id")
    expected = {h: exp.groupby(keys)[f"expected_ltv_usd_{h}"].mean().rename("truth").reset_index()
                for h in (30, 90, 180, 365)}

    def with_truth(frame: pd.DataFrame) -> pd.DataFrame:
        """Adds 'oracle' (predicts the true expectation) and 'cohort vs truth' (scored against it) rows."""
        c = frame[frame["estimator"] == "cohort"]
        c = pd.concat([c[c["horizon"] == h].merge(expected[h], on=keys, how="left") for h in sorted(c["horizon"].unique())],
                      ignore_index=True)
        nan = float("nan")
        oracle = c.assign(estimator="oracle", predicted_per_user=c["truth"], lower=nan, upper=nan)
        vs = c.assign(estimator="cohort vs truth", realised_per_user=c["truth"], lower=nan, upper=nan)
        return pd.concat([frame, oracle.drop(columns="truth"), vs.drop(columns="truth")], ignore_index=True)

    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 200)
    cols = ["estimator", "made_at_day", "horizon", "cohorts", "users", "zero_realised", "mape", "bias", "wape",
            "coverage"]

    def full_months(frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of install months whose every day is there (per estimator, made_at_day, horizon): a
        month cut by the back-test's range would be a few daily cohorts scored as a month."""
        month = pd.to_datetime(frame["install_date"]).dt.to_period("M")
        days = frame.groupby(["estimator", "made_at_day", "horizon", month])["install_date"].transform("nunique")
        keep = days.to_numpy() == month.dt.days_in_month.to_numpy()
        cut = sorted({str(m) for m in month[~keep]})
        if cut:
            print(f"(monthly levels leave out the partly covered install month(s) {', '.join(cut)})")
        return frame[keep]

    def show(frame: pd.DataFrame, title: str, horizons=None) -> None:
        frame = with_truth(frame)
        print(f"\n######## {title}: installs {frame['install_date'].min().date()}..{frame['install_date'].max().date()}, "
              f"{frame[frame['estimator'] == 'cohort'][keys].drop_duplicates().shape[0]} cohort x segments, "
              f"{int(frame[frame['estimator'] == 'cohort'].drop_duplicates(keys)['cohort_size'].sum())} users")
        months = full_months(frame)
        levels = {
            "daily cohort x segment": frame,
            "daily cohort, all segments": pool_cohorts(frame, None, across_segments=True),
            "monthly cohort x segment": pool_cohorts(months, "MS"),
            "monthly cohort, all segments": pool_cohorts(months, "MS", across_segments=True),
        }
        for name, f in levels.items():
            m = backtest_metrics(f, by=OVERALL)[cols]
            if horizons:
                m = m[m["horizon"].isin(horizons)]
            print(f"== {name} ==")
            print(m.to_string(index=False, float_format=lambda x: f"{x:.3f}"))

    show(bt, f"asset cohort_ltv_backtest as of {day}: rows completed in the last 180 days (fit window 180)")
    cube = ActivityCube.from_frame(read("cohort_activity"), first_day=pd.Timestamp(first), last_day=pd.Timestamp(day))
    completed = pd.date_range(pd.Timestamp(first) + pd.Timedelta(days=29), pd.Timestamp(day))
    for w in sorted({180, *[int(x) for x in args.windows.split(",") if x.strip()]}):
        t = time.perf_counter()
        alt = cohort_backtest(cube, completed, window_days=w)
        if w == 180:
            same = as_of(alt, day).reset_index(drop=True)
            diff = float((same["predicted_per_user"] - bt["predicted_per_user"]).abs().max()) \
                if len(same) == len(bt) else float("inf")
            print(f"\npure function on the stored cohort_activity vs the asset's rows: max |difference| {diff:.2e}")
        show(alt, f"every cohort of the world, fit window {w} days (pure function, {time.perf_counter() - t:.0f}s)",
             horizons=None if w == 180 else [180])
    print(f"\ntotal {time.perf_counter() - t0:.0f}s at {datetime.now():%H:%M}")


if __name__ == "__main__":
    sys.exit(main())

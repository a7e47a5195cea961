"""The per-user work of one steady-state day at several population sizes: does it grow linearly in users?

For each size N (default 110,000, 330,000, 1,000,000 users installed uniformly over a full 365-day
window, ~0.3 payment rows per user as in the sample worlds): the day's ``user_rfm`` rows summarised
anew (``user_rfm_frame``) and from the running state (``RfmState``: yesterday's population advanced
by one day), their schema check (``UserRfmFrame``), BG/NBD + Gamma-Gamma per segment
(``fit_segments``), ``user_ltv_frame``, ``cohort_ltv_frame``, and a DuckDB write and read of the
day's ``user_rfm`` rows (the IO manager's part, without Dagster). Prints CPU seconds per step and
per million users. Synthetic data, one process, no Dagster run: the per-user steps only.

Run: .venv/bin/python benchmarks/per_user_day.py [--sizes 110000,330000,1000000] [--seed 0]
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

import bench_common as bc

END = pd.Timestamp("2026-11-23")


def population(n: int, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    install = END - pd.to_timedelta(rng.integers(0, 366, n), "D")  # the window and the day that leaves it
    seg = pd.DataFrame({"user_id": np.arange(1, n + 1), "install_date": install,
                        "platform": rng.choice(["ios", "android"], n), "attribution": rng.choice(["paid", "organic"], n),
                        "network": rng.choice(["facebook", "google_ads", "none"], n), "is_emulator": rng.random(n) < 0.01})
    seg = seg.sort_values(["install_date", "user_id"]).reset_index(drop=True)
    k = rng.poisson(1.5, n) * (rng.random(n) < 0.2)
    owner = np.repeat(np.arange(n), k)
    day = np.minimum(seg["install_date"].to_numpy()[owner] + pd.to_timedelta(rng.geometric(0.03, len(owner)) - 1, "D").to_numpy(),
                     END.to_datetime64())
    pay = pd.DataFrame({"user_id": seg["user_id"].to_numpy()[owner], "report_date": day,
                        "net_usd": rng.gamma(2.0, 3.0, len(owner)).round(2) + 0.01})
    return seg, pay


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="110000,330000,1000000")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import dagster as dg
    import duckdb

    from adperf_assets.defs.ltv.btyd_schemas import UserRfmFrame
    from adperf_assets.ltv.btyd_ltv import cohort_ltv_frame, fit_segments, user_ltv_frame
    from adperf_assets.ltv.btyd_rfm import user_rfm_frame
    from adperf_assets.ltv.btyd_rfm_state import RfmState

    bc.print_machine()
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        rng = np.random.default_rng(args.seed)
        seg, pay = population(n, rng)
        fig = {}
        rfm, fig["user_rfm_frame (anew)"], _ = timed(lambda: user_rfm_frame(pay, seg, END))
        state = RfmState.of(seg, END - pd.Timedelta(days=1))
        advanced, fig["RfmState.advance + frame"], _ = timed(lambda: state.advance(seg).frame(pay))
        same = advanced.sort_values("user_id").reset_index(drop=True)[rfm.columns].astype({"report_date": "datetime64[ns]"}).equals(
            rfm.sort_values("user_id").reset_index(drop=True).astype({"report_date": "datetime64[ns]"}))
        _, fig["UserRfmFrame check"], _ = timed(lambda: dg.check_dagster_type(UserRfmFrame, rfm))
        fits, fig["fit_segments"], _ = timed(lambda: fit_segments(rfm))
        _, fig["user_ltv_frame"], _ = timed(lambda: user_ltv_frame(fits, rfm))
        _, fig["cohort_ltv_frame"], _ = timed(lambda: cohort_ltv_frame(fits, rfm))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.duckdb")
            con = duckdb.connect(path)
            con.register("rfm_frame", rfm)
            con.execute("create table user_rfm as select * from rfm_frame limit 0")
            _, fig["DuckDB insert (user_rfm)"], _ = timed(lambda: (con.execute("insert into user_rfm select * from rfm_frame"),
                                                                 con.execute("checkpoint")))
            _, fig["DuckDB read (user_rfm)"], _ = timed(lambda: con.execute("select * from user_rfm").df())
            con.close()
        print(f"\n{n:,} users ({int((rfm['frequency'] > 0).sum()):,} repeat buyers, {len(pay):,} payment rows); "
              f"state frame == anew: {same}; load average {bc.machine()['load_1_5_15']}")
        for k, v in fig.items():
            print(f"  {k:28s} {v:7.2f} s CPU  {v / n * 1e6:7.2f} s per 1M users")
        rows.append((n, fig))
    print("\nCPU seconds per step (per 1M users in brackets)")
    names = list(rows[0][1])
    print(f"  {'step':28s} " + " ".join(f"{n:>18,d}" for n, _ in rows))
    for k in names:
        print(f"  {k:28s} " + " ".join(f"{f[k]:7.2f} ({f[k] / n * 1e6:6.2f})   " for n, f in rows))
    total = {n: sum(v for k, v in f.items() if k != "user_rfm_frame (anew)") for n, f in rows}
    print(f"  {'total (state path)':28s} " + " ".join(f"{total[n]:7.2f} ({total[n] / n * 1e6:6.2f})   " for n, _ in rows))


if __name__ == "__main__":
    sys.exit(main())

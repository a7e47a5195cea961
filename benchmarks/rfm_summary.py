"""Time `rfm_summary` against lifetimes' `summary_data_from_transaction_data` on the same rows.

    .venv/bin/python benchmarks/rfm_summary.py [--users 1000000] [--seed 0]

Per-user-per-day revenue rows for users installed over 200 days. Both functions run in
lifetimes' convention (birth = first purchase day, `installs=None`) so the outputs must be
equal; then `rfm_summary` with `installs` (birth = install day, non-payers included) is
timed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data

from adperf_assets.ltv.rfm import rfm_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    n = args.users
    installs = pd.DataFrame({
        "user_id": np.arange(n, dtype=np.int64),
        "install_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 200, n), "D"),
    })
    per_user = rng.poisson(1.2, n) * (rng.random(n) < 0.4)  # most users never pay
    owner = np.repeat(np.arange(n), per_user)
    rows = pd.DataFrame({
        "user_id": owner,
        "report_date": installs["install_date"].to_numpy()[owner]
        + pd.to_timedelta(rng.geometric(0.02, len(owner)) - 1, "D").to_numpy(),
        "revenue_usd": rng.gamma(2.0, 3.0, len(owner)).round(2) + 0.01,
    })
    end = "2025-07-31"
    print(f"users: {n:,}; revenue rows: {len(rows):,}")

    t0 = time.perf_counter()
    ours = rfm_summary(rows, end)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = summary_data_from_transaction_data(rows, "user_id", "report_date", "revenue_usd", observation_period_end=end)
    t_ref = time.perf_counter() - t0
    ref = ref.loc[ours.index]
    equal = len(ref) == len(ours) and all(
        np.allclose(ours[c].to_numpy(dtype=float), ref[c].to_numpy(dtype=float))
        for c in ("frequency", "recency", "T", "monetary_value")
    )
    t0 = time.perf_counter()
    with_installs = rfm_summary(rows, end, installs)
    t_inst = time.perf_counter() - t0

    print(f"lifetimes summary_data_from_transaction_data: {t_ref:7.2f} s")
    print(f"rfm_summary (birth = first purchase):         {t_ours:7.2f} s  -> {t_ref / t_ours:.1f}x faster; "
          f"same output: {equal}")
    print(f"rfm_summary (birth = install, {len(with_installs):,} users):  {t_inst:7.2f} s; "
          f"no repeat purchase: {(with_installs['frequency'] == 0).mean():.1%}")


if __name__ == "__main__":
    main()

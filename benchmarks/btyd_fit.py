"""Time `fit_btyd` against lifetimes' own fitters on the same simulated users.

    .venv/bin/python benchmarks/btyd_fit.py [--users 1000000] [--seed 0]

Simulates app users from BG/NBD + Gamma-Gamma at day granularity (installs spread
over a year, about 70% never purchase again), then fits
  1. lifetimes: BetaGeoFitter().fit on the raw per-user rows, GammaGammaFitter().fit on
     the raw repeat buyers (the reference);
  2. lifetimes on collapsed rows passed as `weights` (compression alone);
  3. adperf `fit_btyd` (collapsed rows + analytic gradients + L-BFGS-B).
and prints the times, the speed-up of 3 over 1 (goal >= 20x) and the largest relative
parameter difference between 3 and 1 (goal <= 1e-4).

All three run with BLAS limited to one thread (threadpoolctl), which is what `fit_btyd`
does internally; on a busy machine OpenBLAS threads otherwise slow lifetimes' BFGS too,
so this is the fairer comparison.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from lifetimes import BetaGeoFitter, GammaGammaFitter
from threadpoolctl import threadpool_limits

from adperf_assets.ltv.btyd import BGNBD_PARAMS, GAMMA_GAMMA_PARAMS, _collapse, fit_btyd
from adperf_assets.ltv.btyd_simulate import simulate_bgnbd_summary

TRUE = {"r": 0.2, "alpha": 40.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 3.7, "v": 15.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="fit_btyd runs (best time is reported)")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    T = rng.integers(1, 366, size=args.users)  # install 1..365 days before the end of observation
    t0 = time.perf_counter()
    summary = simulate_bgnbd_summary(args.users, **TRUE, T=T, random_state=rng)
    sim_s = time.perf_counter() - t0
    repeat = summary[summary["frequency"] > 0]
    (ux, utx, uT), counts, _ = _collapse(
        summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    )
    (gx, gm), gcounts, _ = _collapse(repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy())
    print(f"users: {args.users:,} (simulated in {sim_s:.1f} s); no repeat purchase: "
          f"{(summary['frequency'] == 0).mean():.1%}; repeat buyers: {len(repeat):,}")
    print(f"collapsed rows: BG/NBD {len(counts):,} ({args.users / len(counts):.1f}x fewer), "
          f"Gamma-Gamma {len(gcounts):,}")

    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        bg_ref = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
        t_bg_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        gg_ref = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        t_gg_ref = time.perf_counter() - t0

        t0 = time.perf_counter()
        BetaGeoFitter().fit(ux, utx, uT, weights=counts)
        t_bg_w = time.perf_counter() - t0
        t0 = time.perf_counter()
        GammaGammaFitter().fit(gx, gm, weights=gcounts)
        t_gg_w = time.perf_counter() - t0

    ours = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        model = fit_btyd(summary)
        ours.append(time.perf_counter() - t0)
    t_ours = min(ours)

    ref = np.concatenate([bg_ref.params_[list(BGNBD_PARAMS)], gg_ref.params_[list(GAMMA_GAMMA_PARAMS)]])
    got = model.params_[list(BGNBD_PARAMS + GAMMA_GAMMA_PARAMS)].to_numpy()
    rel = np.abs(got / ref - 1)
    t_ref = t_bg_ref + t_gg_ref
    t_w = t_bg_w + t_gg_w

    print()
    print(f"{'':34s} {'BG/NBD':>9s} {'Gamma-Gamma':>12s} {'total':>9s}")
    print(f"{'lifetimes, raw rows':34s} {t_bg_ref:8.2f}s {t_gg_ref:11.2f}s {t_ref:8.2f}s")
    print(f"{'lifetimes, collapsed rows+weights':34s} {t_bg_w:8.2f}s {t_gg_w:11.2f}s {t_w:8.2f}s")
    print(f"{'fit_btyd (whole call, best of ' + str(args.repeats) + ')':34s} {'':>9s} {'':>12s} {t_ours:8.2f}s"
          f"   (runs: {', '.join(f'{t:.2f}' for t in ours)})")
    print()
    print(f"speed-up fit_btyd vs lifetimes raw: {t_ref / t_ours:.1f}x (goal >= 20x); "
          f"lifetimes collapsed vs raw: {t_ref / t_w:.1f}x")
    print("parameters:   " + "  ".join(f"{k}={v:.6g}" for k, v in zip(BGNBD_PARAMS + GAMMA_GAMMA_PARAMS, got)))
    print("lifetimes:    " + "  ".join(f"{k}={v:.6g}" for k, v in zip(BGNBD_PARAMS + GAMMA_GAMMA_PARAMS, ref)))
    print("truth:        " + "  ".join(f"{k}={TRUE[k]:.6g}" for k in BGNBD_PARAMS + GAMMA_GAMMA_PARAMS))
    print(f"max parameter relative difference vs lifetimes raw fit: {rel.max():.2e} "
          f"({(BGNBD_PARAMS + GAMMA_GAMMA_PARAMS)[int(rel.argmax())]}; goal <= 1e-4)")

    print()
    print("predictions on the same users (365 days):")
    cohort = (summary["T"].to_numpy() // 30).astype(int)  # ~13 install-month cohorts x 3 segments
    groups = cohort * 3 + summary.index.to_numpy() % 3
    for label, call in [
        ("expected_value", lambda: model.expected_value(summary, 365)),
        ("expected_value, daily discount 0.05%", lambda: model.expected_value(summary, 365, 0.0005)),
        ("99% interval per user (delta)", lambda: model.expected_value_interval(summary, 365)),
        (f"99% interval, {len(np.unique(groups))} group sums (delta)",
         lambda: model.expected_value_interval(summary, 365, groups=groups)),
        (f"99% interval, {len(np.unique(groups))} group sums, discounted (delta)",
         lambda: model.expected_value_interval(summary, 365, groups=groups, daily_discount_rate=0.0005)),
    ]:
        t0 = time.perf_counter()
        call()
        print(f"  {label:55s} {time.perf_counter() - t0:6.2f} s")


if __name__ == "__main__":
    main()

"""Time ``fit_many`` on 10,000 synthetic cohort x segment access-rate curves.

Half the curves come from a shifted-beta-geometric population, half from a discrete Weibull
(S(t) = exp(-(t / scale) ** shape)), the sample world's two retention shapes; each is observed
for 7..90 days on a cohort of 30..5,000 users with binomial noise. Prints the wall time (the
issue's budget: < 30 s on 2 cores) and how well the batched fits agree with the one-curve
scipy fits on a subsample.

    .venv/bin/python benchmarks/retention_fits.py [--curves 10000] [--max-days 90] [--check 50]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import special

from adperf_assets.ltv.retention import RationalRetention, ShiftedBetaGeometric, clean_access_rate, fit_many


def synthetic_curves(k: int, max_days: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(max_days, dtype=float)
    half = k // 2
    alpha = rng.uniform(0.2, 2.0, half)[:, None]
    beta = rng.uniform(0.3, 4.0, half)[:, None]
    s_sbg = np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))
    shape = rng.uniform(0.3, 0.9, k - half)[:, None]
    scale = rng.uniform(1.0, 40.0, k - half)[:, None]
    s_wei = np.exp(-((t / scale) ** shape))
    survival = np.vstack([s_sbg, s_wei])
    sizes = rng.integers(30, 5000, k)
    rates = rng.binomial(sizes[:, None], survival) / sizes[:, None]
    rates[:, 0] = 1.0
    lengths = rng.integers(7, max_days + 1, k)
    return rates, sizes, lengths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--curves", type=int, default=10_000)
    ap.add_argument("--max-days", type=int, default=90)
    ap.add_argument("--check", type=int, default=50, help="curves re-fitted one by one with scipy")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for fit_many")
    args = ap.parse_args()
    rates, sizes, lengths = synthetic_curves(args.curves, args.max_days)
    load = os.getloadavg()[0]
    start, cpu0 = time.perf_counter(), os.times()
    fits = fit_many(rates, sizes, lengths, n_jobs=args.jobs)
    elapsed, cpu1 = time.perf_counter() - start, os.times()
    cpu = (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system) - (
        cpu0.user + cpu0.system + cpu0.children_user + cpu0.children_system)
    cum, se = fits.cumulative([30, 90, 180, 365])
    print(f"fit_many: {args.curves} curves, 7..{args.max_days} days each, {args.jobs} process(es): "
          f"{elapsed:.2f} s wall, {cpu:.2f} s CPU ({1e3 * elapsed / args.curves:.2f} ms/curve; "
          f"load average before {load:.1f} on {os.cpu_count()} cores)")
    print(f"sBG converged: {fits.sbg_converged.mean():.1%}; finite 365-day s.e.: {np.isfinite(se[:, -1]).mean():.1%}")
    if args.check:
        rng = np.random.default_rng(1)
        worst_rss, worst_ll = 0.0, 0.0
        start = time.perf_counter()
        for k in rng.choice(args.curves, args.check, replace=False):
            r = clean_access_rate(rates[k, : lengths[k]])
            s0 = int(fits.start_day[k])  # the models describe the curve from its start day, relative to it
            r, n = r[s0:] / r[s0], sizes[k] * r[s0]
            rat = RationalRetention().fit(np.arange(len(r)), r, weights=np.full(len(r), sizes[k]))
            sbg = ShiftedBetaGeometric().fit_rates(r, n)
            worst_rss = max(worst_rss, (fits.rss[k] - rat.rss_) / max(rat.rss_, 1e-12))
            worst_ll = max(worst_ll, abs(fits.log_likelihood[k] - sbg.log_likelihood_))
        per = (time.perf_counter() - start) / args.check
        print(f"one-by-one scipy check on {args.check} curves ({1e3 * per:.0f} ms/curve): "
              f"batched RSS worse by at most {worst_rss:.2e} (relative), |dLL| <= {worst_ll:.2e}")


if __name__ == "__main__":
    main()

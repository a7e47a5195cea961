"""The rest's scatter of ``SkanDecoder``'s bootstrap, exact draws against the tail-plus-normal-body sum
(``skan/scatter.py``), per campaign of real decoder inputs: its quantiles over many replicates.

    PYTHONPATH=. .venv/bin/python benchmarks/skan_scatter.py --world DIR            # skan.py's inputs
    PYTHONPATH=. .venv/bin/python benchmarks/skan_scatter.py --from-db DB --world DIR --day D [--dir TMP]

``--world`` alone: the world's cohorts as ``benchmarks/skan.py`` reads them (180-day horizon); ``--cpu N``
there: instead, ``predict``'s CPU seconds, exact draws and tail+body alternately, N times each. With
``--from-db``: ``skan_modelled`` of day D run on a copy of a backfilled store (in ``--dir``), its decoder's
inputs caught. Per campaign: n_rest, the tail's probability, the draws per replicate, and at the 0.5, 5,
50, 95, 99.5% quantiles (tail+body − exact) / the exact sum's sd, over ``--reps`` replicates of each (the
exact: n_rest draws each); for contrast a plain normal sum's error at 99.5%, and the exact quantiles' own noise
(two exact runs apart, absolute) at the same quantiles. Figures only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

QS = [0.005, 0.05, 0.5, 0.95, 0.995]


def caught_parts(run) -> list:
    """(decoder, parts) of every ``SkanDecoder._interval`` call made inside ``run()``."""
    from adperf_assets.skan.decode import SkanDecoder

    calls, orig = [], SkanDecoder._interval

    def spy(self, parts, *a, **k):
        calls.append((self, parts))
        return orig(self, parts, *a, **k)

    SkanDecoder._interval = spy
    try:
        run()
    finally:
        SkanDecoder._interval = orig
    return calls


def compare(dec, parts, reps: int, seed: int, label: str) -> None:
    from adperf_assets.skan import scatter

    pool_vals, pool_tail, start, size, slot_pool = dec._pools(np.inf)
    rel_slot = pool_vals / np.maximum(dec._pool_means(pool_vals, pool_tail, start, size, None)[0, slot_pool], 1e-12)
    z = float(norm.ppf(1 - (1 - dec.level) / 2))
    for j, part in enumerate(parts):
        keyed, n_rest = part[0], part[3]
        if n_rest < 1:
            continue
        cells = keyed if len(keyed) else np.zeros(1, dtype=np.int64)
        a, p = dec._scatter_atoms(cells, start, size, rel_slot)
        plan = scatter.plan(a, p, n_rest, z, dec.scatter_tol)
        rng = np.random.default_rng(seed + j)
        cum, step = np.cumsum(p), max(1, 2_000_000 // n_rest)

        def draws():
            return np.concatenate([a[np.minimum(np.searchsorted(cum, rng.random((min(reps - r0, step), n_rest)) * cum[-1]),
                                                len(a) - 1)].sum(axis=1) for r0 in range(0, reps, step)])
        exact, again = draws(), draws()  # the second: the exact quantiles' own noise between two seeds
        noise = np.abs(np.quantile(again, QS) - np.quantile(exact, QS)) / exact.std()
        sd = exact.std()
        mean, var = float(p @ a), float(p @ (a - p @ a) ** 2)
        normal = n_rest * mean + np.sqrt(n_rest * var) * rng.standard_normal(reps)
        plain = (np.quantile(normal, 0.995) - np.quantile(exact, 0.995)) / sd
        skew = float(((exact - exact.mean()) ** 3).mean() / sd ** 3)
        if plan is None:
            print(f"{label:22s} {j:3d} {n_rest:6d} {'exact':>7s} {n_rest:7d}   (drawn exactly)  skew {skew:5.2f}  "
                  f"normal@99.5 {plain:+.2f}")
            continue
        ours = plan.draw(np.random.default_rng(seed + 10_000 + j), reps)
        err = (np.quantile(ours, QS) - np.quantile(exact, QS)) / sd
        print(f"{label:22s} {j:3d} {n_rest:6d} {plan.p_tail:7.4f} {n_rest * plan.p_tail + 2:7.1f}  "
              + " ".join(f"{e:+.3f}" for e in err) + f"  skew {skew:5.2f}  normal@99.5 {plain:+.2f}  exact-exact " + " ".join(f"{e:.3f}" for e in noise),
              flush=True)


def cpu(w: dict, times: int) -> None:
    """CPU seconds of ``predict`` on a world's inputs, exact draws and tail+body alternately (least of each)."""
    import time

    from adperf_assets.skan.decode import SkanDecoder

    dec = SkanDecoder().fit(w["calibration"])
    best = {0.0: [], 0.05: []}
    for _ in range(times):
        for tol in best:
            dec.scatter_tol = tol
            c = time.process_time()
            dec.predict(w["installs"], w["tracked"])
            best[tol].append(time.process_time() - c)
    print(f"predict CPU s (least of {times}): exact {min(best[0.0]):.3f}, tail+body {min(best[0.05]):.3f}; "
          f"load {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", required=True, type=Path)
    ap.add_argument("--from-db")
    ap.add_argument("--day")
    ap.add_argument("--dir", default="/tmp/adperf_bench_scatter")
    ap.add_argument("--reps", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=0, help="with --world alone: instead, CPU s of predict, exact "
                    "(scatter_tol=0) and tail+body alternately, this many times each")
    args = ap.parse_args()
    if args.from_db:
        home = Path(args.dir).resolve() / "home"
        os.environ.update({"ADPERF_HOME": str(home), "ADPERF_WORLD": str(args.world.resolve())})
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        shutil.copyfile(args.from_db, home / "adperf.duckdb")
        import bench_common as bc
        import dagster as dg

        from adperf_assets.settings import load_settings
        assets, _, resources = bc.graph(load_settings())
        sel = next(list(a.keys) for a in assets if any(k.to_user_string() == "skan_modelled" for k in a.keys))

        def run():
            with dg.instance_for_test() as inst:
                dg.materialize(assets, selection=sel, instance=inst, resources=resources, run_config=bc.QUIET,
                               partition_key=args.day)
        label = f"day {args.day}"
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from skan import load

        from adperf_assets.skan.decode import SkanDecoder

        w = load(args.world, 180)
        if args.cpu:
            return cpu(w, args.cpu)

        def run():
            SkanDecoder().fit(w["calibration"]).predict(w["installs"], w["tracked"])
        label = args.world.name
    print(f"{'inputs':22s} {'grp':>3s} {'n_rest':>6s} {'p_tail':>7s} {'draws':>7s}  "
          + " ".join(f"{q * 100:>6g}" for q in QS) + "  (tail+body - exact) / exact sd")
    for dec, parts in caught_parts(run):
        compare(dec, parts, args.reps, args.seed, label)


if __name__ == "__main__":
    sys.exit(main())

"""The bootstrap's random weights, drawn cheaply: Poisson(1) by table, and BLAS on one thread for the
small products they feed."""

from __future__ import annotations

import numpy as np
from threadpoolctl import ThreadpoolController

_THREADPOOLS: list[ThreadpoolController] = []


def one_blas_thread():
    """BLAS held to one thread: the bootstrap's products are small, and a second thread spins more CPU
    than it saves. The controller is made once (``threadpool_limits`` re-scans the libraries per call)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def _poisson1_tables() -> tuple[np.ndarray, np.ndarray]:
    """Poisson(1)'s CDF, and per 1/65536 of the unit interval the value its inverse takes there (255
    where a step of the CDF falls inside: those draws are resolved by a second uniform)."""
    pmf = np.exp(-1.0) / np.cumprod(np.r_[1.0, np.arange(1.0, 25.0)])
    cdf = np.minimum(np.cumsum(pmf), 1.0)
    edges = np.arange(65537) / 65536
    lo, hi = np.searchsorted(cdf, edges[:-1], side="right"), np.searchsorted(cdf, edges[1:], side="left")
    return cdf, np.where(lo == hi, lo, 255).astype(np.uint8)


_P1_CDF, _P1_TABLE = _poisson1_tables()


def poisson1(rng: np.random.Generator, shape) -> np.ndarray:
    """Poisson(1) draws (the bootstrap's weights) as float: the inverse CDF of a 16-bit uniform by table,
    refined by a second uniform in the few buckets a CDF step cuts; the same distribution as
    ``rng.poisson(1.0)``, whose per-draw loop was most of the bootstrap's cost (benchmarks/README.md)."""
    k = rng.integers(0, 1 << 16, shape, dtype=np.uint16)
    x = _P1_TABLE[k]
    cut = np.flatnonzero(x == 255)
    if len(cut):
        u = (k.ravel()[cut] + rng.random(len(cut))) / 65536
        x.ravel()[cut] = np.searchsorted(_P1_CDF, u, side="right")
    return x.astype(float)

"""The rest's own scatter in ``SkanDecoder``'s bootstrap: a sum of n iid draws from a discrete distribution
(the per-draw values: an install's key value times its pool user's value relative to the pool's mean, less
one), drawn as an exact **tail** plus a normal **body**.

A normal sum of all n draws is wrong: the values are skewed (whales) and so is their sum at every n the
worlds have (benchmarks/README.md, branch ``i22j``). Split the values instead at the largest deviations: per
replicate the number of tail draws is Binomial(n, p_tail) and each is drawn exactly from the tail; the other
n - T are from the bounded body, whose sum is taken as one normal draw with the body's exact mean and
variance. The tail is the smallest set of the largest values (the smallest if the values are skewed down)
for which the body sum's Cornish-Fisher correction at the interval's quantiles (skewness and excess
kurtosis, to order 1/n) is at most ``tol`` of its own sd; when that needs more than ``MAX_TAIL`` of the probability, or n is below ``MIN_DRAWS``, the plan is
None and the caller draws exactly (docs/skan.md, "Decoding").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the largest tail probability worth splitting off: above it a replicate's tail draws are no longer few
MAX_TAIL = 0.25
#: below this many draws the exact draws are cheap and the normal body's asymptotics are not to be trusted
MIN_DRAWS = 50
#: the normal quantile of a 99% interval's ends: the Cornish-Fisher factors are checked at least this far out
Z_MIN = 2.5758


@dataclass(frozen=True)
class TailBody:
    """A sum of n draws as tail-exact plus body-normal: the tail's values and cumulative probabilities
    (conditional on the tail), its probability, and the body's mean and variance per draw."""

    n: int
    tail_values: np.ndarray
    tail_cum: np.ndarray
    p_tail: float
    body_mean: float
    body_var: float

    def draw(self, rng: np.random.Generator, b: int) -> np.ndarray:
        """``b`` replicates of the sum."""
        t = rng.binomial(self.n, self.p_tail, b) if self.p_tail > 0 else np.zeros(b, dtype=np.int64)
        tail = np.zeros(b)
        if t.sum():
            ix = np.searchsorted(self.tail_cum, rng.random(int(t.sum())), side="right")
            ix = np.minimum(ix, len(self.tail_values) - 1)
            tail = np.bincount(np.repeat(np.arange(b), t), weights=self.tail_values[ix], minlength=b)
        nb = (self.n - t).astype(float)
        return tail + nb * self.body_mean + np.sqrt(nb * self.body_var) * rng.standard_normal(b)


def cornish_fisher_shift(skew: np.ndarray, kurt: np.ndarray, z: float) -> np.ndarray:
    """How far (in sd) a sum's quantile at +-z can lie from the normal's, given the sum's skewness and excess
    kurtosis: the Cornish-Fisher expansion's terms to order 1/n, in absolute value."""
    return (np.abs(skew) * abs(z * z - 1) / 6 + np.abs(kurt) * abs(z ** 3 - 3 * z) / 24
            + skew * skew * abs(2 * z ** 3 - 5 * z) / 36)


def plan(values: np.ndarray, probs: np.ndarray, n: int, z: float, tol: float) -> TailBody | None:
    """The tail/body split of a sum of ``n`` draws of ``values`` (with probabilities ``probs``, summing to 1)
    whose body sum is normal within ``tol`` sd at the quantiles +-``z``; None: draw it exactly. ``z`` is
    taken at least ``Z_MIN``: each term's factor is larger there than at any nearer quantile, so the bound
    holds for every interval up to 99% (at 80% the factors nearly vanish and would let a skewed body pass)."""
    if n < MIN_DRAWS or tol <= 0 or len(values) == 0:
        return None
    z = max(z, Z_MIN)
    p = np.asarray(probs, dtype=float) / np.sum(probs)
    a = np.asarray(values, dtype=float)
    mu = float(p @ a)
    sd = float(np.sqrt(p @ (a - mu) ** 2))
    if sd == 0:
        return TailBody(n, a[:0], p[:0], 0.0, mu, 0.0)
    d = (a - mu) / sd
    d2 = d * d
    # the tail on the side the values are skewed to (the whales' side: a value is at least -1 key value)
    if p @ (d2 * d) < 0:
        d = -d
    # the whole distribution's moment sums; a body's are these less its tail's. The candidates are the
    # largest values, sorted: first a few (the tail is usually a small share), all of them if need be
    total = np.array([p.sum(), p @ d, p @ d2, p @ (d2 * d), p @ (d2 * d2)])
    for few in (max(256, len(d) // 32), len(d)):
        top = np.arange(len(d)) if few >= len(d) else np.sort(np.argpartition(-d, few - 1)[:few])
        top = top[np.argsort(-d[top], kind="stable")]
        k = _cut(p[top], d[top], total, n, z, tol)
        if k is not None:
            break
        if few >= len(d) or p[top].sum() > MAX_TAIL:
            return None
    body = np.ones(len(a), dtype=bool)
    body[top[:k]] = False
    pt = float(p[top[:k]].sum())
    body_p = p[body] / p[body].sum()
    body_mean = float(body_p @ a[body])
    body_var = float(body_p @ (a[body] - body_mean) ** 2)
    tail_cum = np.cumsum(p[top[:k]]) / pt if k else p[:0]
    return TailBody(n, a[top[:k]], tail_cum, pt if k else 0.0, body_mean, body_var)


def _cut(pt: np.ndarray, dt: np.ndarray, total: np.ndarray, n: int, z: float, tol: float) -> int | None:
    """The fewest of the sorted largest values (probabilities ``pt``, standardized values ``dt``) whose cut
    leaves a body normal enough; None if no cut of at most ``MAX_TAIL`` within them does."""
    dt2 = dt * dt
    prefix = np.vstack([np.concatenate([[0.0], np.cumsum(x)]) for x in (pt, pt * dt, pt * dt2, pt * dt2 * dt, pt * dt2 * dt2)])
    s0, s1, s2, s3, s4 = total[:, None] - prefix
    cut = np.flatnonzero(prefix[0] <= MAX_TAIL)  # candidate k: the tail's probability within reach
    s0c = s0[cut]
    m = s1[cut] / s0c
    e2, e3, e4 = s2[cut] / s0c, s3[cut] / s0c, s4[cut] / s0c
    c2 = np.maximum(e2 - m * m, 0.0)
    c3 = e3 - 3 * m * e2 + 2 * m ** 3
    c4 = e4 - 4 * m * e3 + 6 * m * m * e2 - 3 * m ** 4
    nb = n * s0c
    flat = c2 <= 1e-12  # a constant body: its sum is exact
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(flat, 0.0, c3 / c2 ** 1.5 / np.sqrt(nb))
        kurt = np.where(flat, 0.0, (c4 / c2 ** 2 - 3) / nb)
    # in the body sum's own sd: in the whole sum's (the body's shrunk by the whales' variance) it let a
    # lumpy sum through, whose quantile between two whale counts is the body's own far quantile
    ok = np.flatnonzero(cornish_fisher_shift(skew, kurt, z) <= tol)
    return int(cut[ok[0]]) if len(ok) else None

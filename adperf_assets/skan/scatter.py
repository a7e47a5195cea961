"""The rest's own scatter in ``SkanDecoder``'s bootstrap: a sum of n iid draws from a discrete distribution
(the per-draw values: an install's key value times its pool user's value relative to the pool's mean, less
one), drawn as an exact **tail** plus a normal **body**.

A normal sum of all n draws is wrong: the values are skewed (whales) and so is their sum at every n the
worlds have (benchmarks/README.md, branch ``i22j``). Split the values instead at the largest deviations: per
replicate the number of tail draws is Binomial(n, p_tail) and each is drawn exactly from the tail; the other
n - T are from the bounded body, whose sum is taken as one normal draw with the body's exact mean and
variance. The tail is cut at both ends (the whales on top; below, the draws of minus a rich key's value
that its zero-valued users give), cut so that the body sum's Cornish-Fisher correction at the interval's
quantiles (its terms to order n^-3/2) is at most ``tol`` of its own sd, by the least tail probability ``_cut``
finds. When that needs more than ``MAX_TAIL`` of the probability, or n is below ``MIN_DRAWS``, the plan is
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


def cornish_fisher_shift(skew: np.ndarray, kurt: np.ndarray, z: float, k5: np.ndarray | float = 0.0) -> np.ndarray:
    """How far (in sd) a sum's quantile at +-z can lie from the normal's, given the sum's skewness, excess
    kurtosis and standardized fifth cumulant: the Cornish-Fisher expansion's terms to order n^-3/2, each in
    absolute value. The n^-3/2 terms matter once both ends are cut: a body whose skewness the bottom cut has
    balanced can still hold a heavy top (its fifth cumulant) and a large kurtosis."""
    z2 = z * z
    return (np.abs(skew) * abs(z2 - 1) / 6 + np.abs(kurt) * abs(z ** 3 - 3 * z) / 24
            + skew * skew * abs(2 * z ** 3 - 5 * z) / 36 + np.abs(k5) * abs(z2 * z2 - 6 * z2 + 3) / 120
            + np.abs(skew * kurt) * abs(z2 * z2 - 5 * z2 + 2) / 24
            + np.abs(skew) ** 3 * abs(12 * z2 * z2 - 53 * z2 + 17) / 324)


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
    # the whole distribution's moment sums; a body's are these less its tail's. The candidates are the
    # largest and the smallest values, each end sorted outwards-in: first a few (the tail is usually a small
    # share), more if a side runs out of them
    total = np.array([p.sum(), p @ d, p @ d2, p @ (d2 * d), p @ (d2 * d2), p @ (d2 * d2 * d)])
    few = 256
    while True:
        few = min(few, len(d) // 2)
        part = np.argpartition(d, [few - 1, len(d) - few])  # the two ends disjoint, even among ties
        top, bottom = part[len(d) - few:], part[:few]
        ends = [top[np.argsort(-d[top], kind="stable")], bottom[np.argsort(d[bottom], kind="stable")]]
        cut = _cut([_prefix(p[ix], d[ix]) for ix in ends], total, n, z, tol, 0 if total[3] > 0 else 1)
        if cut is not None or few == len(d) // 2 or min(p[ends[0]].sum(), p[ends[1]].sum()) >= MAX_TAIL:
            break
        few *= 4
    if cut is None:
        return None
    tail = np.concatenate([ends[0][:cut[0]], ends[1][:cut[1]]])
    body = np.ones(len(a), dtype=bool)
    body[tail] = False
    pt = float(p[tail].sum())
    body_p = p[body] / p[body].sum()
    body_mean = float(body_p @ a[body])
    body_var = float(body_p @ (a[body] - body_mean) ** 2)
    tail_cum = np.cumsum(p[tail]) / pt if len(tail) else p[:0]
    return TailBody(n, a[tail], tail_cum, pt if len(tail) else 0.0, body_mean, body_var)


def _prefix(pt: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """The moment sums (p d^0..5) of the first 0, 1, 2, ... of one end's sorted candidates: 6 x (k + 1)."""
    return np.vstack([np.concatenate([[0.0], np.cumsum(pt * dt ** k)]) for k in range(6)])


def _shape(s: np.ndarray, n: int, z: float) -> tuple[np.ndarray, np.ndarray]:
    """From bodies' moment sums (6 x m, in the whole's standardized values): each body sum's skewness and
    Cornish-Fisher shift in its own sd (in the whole sum's, the body's shrunk by the whales' variance, it let
    a lumpy sum through, whose quantile between two whale counts is the body's own far quantile)."""
    m = s[1] / s[0]
    m2 = m * m
    e2, e3, e4, e5 = s[2] / s[0], s[3] / s[0], s[4] / s[0], s[5] / s[0]
    c2 = np.maximum(e2 - m2, 0.0)
    c3 = e3 - 3 * m * e2 + 2 * m2 * m
    c4 = e4 - 4 * m * e3 + 6 * m2 * e2 - 3 * m2 * m2
    c5 = e5 - 5 * m * e4 + 10 * m2 * e3 - 10 * m2 * m * e2 + 4 * m2 * m2 * m
    nb = n * s[0]
    flat = c2 <= 1e-12  # a constant body: its sum is exact
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(c2 * nb)
        skew = np.where(flat, 0.0, c3 / (c2 * sd))
        kurt = np.where(flat, 0.0, (c4 / (c2 * c2) - 3) / nb)
        k5 = np.where(flat, 0.0, (c5 - 10 * c3 * c2) / (c2 * c2 * sd * nb))
    return skew, cornish_fisher_shift(skew, kurt, z, k5)


def _cut(ends: list[np.ndarray], total: np.ndarray, n: int, z: float, tol: float, outer: int) -> tuple[int, int] | None:
    """How many of the largest and of the smallest values to cut (``ends``: their prefix moment sums) for a
    body normal enough; None if no cut within the candidates and ``MAX_TAIL`` is. Cutting the whales (the
    ``outer`` end: the side the values are skewed to) leaves a body skewed the other way (the zero-valued
    users of rich keys' pools: draws of minus a large key value), which cutting the other end balances. So:
    the fewest outer values h (0, 1, 2, 4, ... then bisected) for which some inner cut passes; then, over a
    few outer cuts from h to 4h and every inner cut, the pair of least probability that passes. Not the
    least over every pair (a full grid costs as much as the draws it saves), but each cut passes the bound."""
    o, i = ends[outer], ends[1 - outer]
    most = int(np.searchsorted(o[0], MAX_TAIL, side="right")) - 1  # the most the outer end may lose
    i = i[:, :np.searchsorted(i[0], MAX_TAIL, side="right")]  # and the inner

    def shifts(hs: np.ndarray) -> np.ndarray:  # rows: h outer values cut; columns: each inner cut
        body = total[:, None, None] - o[:, hs, None] - i[:, None, :]
        return np.where(1 - body[0] <= MAX_TAIL, _shape(body, n, z)[1], np.inf)

    def passes(h: int) -> bool:
        return bool(shifts(np.array([h])).min() <= tol)

    lo, hi = -1, 0
    while not passes(hi):
        if hi == most:
            return None
        lo, hi = hi, min(max(2 * hi, 1), most)
    while hi - lo > 1:  # lo fails (-1: none tried), hi passes
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if passes(mid) else (mid, hi)
    hs = np.unique(np.minimum(np.round(hi * np.geomspace(1, 4, 12)).astype(int), most))
    prob = np.where(shifts(hs) <= tol, o[0][hs, None] + i[0][None, :], np.inf)
    r, c = np.unravel_index(np.argmin(prob), prob.shape)
    return (int(hs[r]), int(c)) if outer == 0 else (int(c), int(hs[r]))

"""Personalized PageRank over the (undirected) match graph, seeded by revenue.

A walker starts at a payer in proportion to revenue, follows weighted edges with probability
``damping`` or returns to a payer; the credit is its stationary distribution scaled to the revenue
total. Weights, the equation and what stays with the payer: docs/behavior_credit.md ("pagerank").
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .inputs import CodedInputs, check_bonuses, session_weights


class PageRankNotConverged(RuntimeError):
    """Power iteration hit max_iter before the step fell below tol."""


def match_graph(coded: CodedInputs, weights: np.ndarray) -> sp.csr_matrix:
    """Symmetric weighted adjacency matrix (CSR), parallel edges summed."""
    n = coded.n_users
    keep = weights > 0
    rows = np.concatenate([coded.requester[keep], coded.partner[keep]])
    cols = np.concatenate([coded.partner[keep], coded.requester[keep]])
    data = np.concatenate([weights[keep], weights[keep]])
    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))


def personalized_pagerank(
    adjacency: sp.csr_matrix,
    seed: np.ndarray,
    damping: float,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, int]:
    """Stationary distribution of the walk with restart to ``seed`` (sums to 1).

    Stops when the L1 change of one step is at most ``tol``; the distance to the
    exact fixed point is then at most ``tol * d / (1 - d)``. Returns the vector
    and the number of iterations.
    """
    seed = seed / seed.sum()
    out_weight = np.asarray(adjacency.sum(axis=1)).ravel()
    if not np.isfinite(out_weight).all():
        raise ValueError("match graph has infinite edge weight; duration_s or bonuses too large")
    dangling = out_weight == 0
    # row-normalise entry by entry (w / out <= 1), so tiny weights cannot overflow
    rows = np.repeat(np.arange(adjacency.shape[0]), np.diff(adjacency.indptr))
    transition = sp.csr_matrix(
        (adjacency.data / out_weight[rows], adjacency.indices, adjacency.indptr),
        shape=adjacency.shape,
    )
    walk = transition.T.tocsr()  # P^T; dangling nodes loop on themselves (added below)
    teleport = (1.0 - damping) * seed
    x = seed.copy()
    for iteration in range(1, max_iter + 1):
        spread = walk @ x
        spread[dangling] += x[dangling]
        new = teleport + damping * spread
        step = np.abs(new - x).sum()
        x = new
        if step <= tol:
            return x, iteration
    raise PageRankNotConverged(
        f"personalized PageRank did not converge in {max_iter} iterations "
        f"(last L1 step {step:.3g} > tol {tol:.3g}); raise max_iter or lower damping"
    )


def pagerank_credit(
    coded: CodedInputs,
    positive_revenue: np.ndarray,
    *,
    damping: float = 0.85,
    wanted_bonus: float = 1.0,
    paid_bonus: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 1000,
) -> np.ndarray:
    """Credit per user code for non-negative revenue, summing to its total."""
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must be in [0, 1), got {damping!r}")
    check_bonuses(wanted_bonus=wanted_bonus, paid_bonus=paid_bonus)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    total = positive_revenue.sum()
    if total == 0:
        return np.zeros(coded.n_users)
    adjacency = match_graph(coded, session_weights(coded, wanted_bonus, paid_bonus))
    stationary, _ = personalized_pagerank(
        adjacency, positive_revenue, damping, tol, int(max_iter)
    )
    return total * (stationary / stationary.sum())

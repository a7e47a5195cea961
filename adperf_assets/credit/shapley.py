"""Shapley split of each paid session between the payer and their partners.

A payer's revenue is spread over their paid sessions by length, and each session's share is split by
the exact Shapley value of a game in which nobody pays without the payer (all 2^k partner coalitions,
vectorised over the sessions with the same k). The game: docs/behavior_credit.md ("shapley").
"""

from __future__ import annotations

from math import factorial

import numpy as np

from .inputs import CodedInputs, check_bonuses, session_weights

HARD_MAX_PLAYERS = 20  # 2^19 coalitions per session is the most we will hold in memory
_CHUNK_CELLS = 4_000_000  # sessions x coalitions evaluated at once


def _coalition_bits(k: int) -> np.ndarray:
    """Row m, column i is True when partner i is in coalition m (0 <= m < 2^k)."""
    masks = np.arange(1 << k, dtype=np.int64)
    return ((masks[:, None] >> np.arange(k)) & 1).astype(bool)


def partner_shapley(
    weights: np.ndarray, alpha: float, gamma: float
) -> np.ndarray:
    """Shapley values of the partners for sessions with the same k partners.

    ``weights`` is (m sessions, k partners), each row with a positive sum.
    Values are per unit of session revenue; the payer gets 1 minus their sum.
    """
    m, k = weights.shape
    n_players = k + 1
    bits = _coalition_bits(k)
    size = bits.sum(axis=1)  # partners in the coalition
    # weight of a coalition S = {p} + Q of size |Q| + 1 in the Shapley formula
    coef = np.array(
        [factorial(q + 1) * factorial(n_players - q - 2) / factorial(n_players) for q in range(k)]
    )
    result = np.empty((m, k))
    rows_per_chunk = max(1, _CHUNK_CELLS // (1 << k))
    for start in range(0, m, rows_per_chunk):
        w = weights[start : start + rows_per_chunk]
        # normalise before the product: BLAS may flush subnormal weights to zero
        w = w / w.sum(axis=1, keepdims=True)
        share = w @ bits.T.astype(np.float64)
        h = np.power(np.clip(share, 0.0, 1.0), gamma)
        for i in range(k):
            without = np.flatnonzero(~bits[:, i])
            marginal = h[:, without | (1 << i)] - h[:, without]
            result[start : start + rows_per_chunk, i] = marginal @ coef[size[without]]
    return (1.0 - alpha) * result


def shapley_credit(
    coded: CodedInputs,
    positive_revenue: np.ndarray,
    *,
    alpha: float = 0.0,
    gamma: float = 0.5,
    wanted_bonus: float = 1.0,
    max_players: int = 12,
) -> np.ndarray:
    """Credit per user code for non-negative revenue, summing to its total."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    check_bonuses(wanted_bonus=wanted_bonus)
    if not 2 <= int(max_players) <= HARD_MAX_PLAYERS:
        raise ValueError(f"max_players must be in [2, {HARD_MAX_PLAYERS}], got {max_players!r}")

    n = coded.n_users
    credit = positive_revenue.astype(np.float64).copy()  # payers start with all of it
    rows = np.flatnonzero(coded.is_paid & (positive_revenue[coded.requester] > 0))
    if rows.size == 0:
        return credit

    # compact the paid sessions of paying users, rows grouped by session
    rows = rows[np.argsort(coded.session[rows], kind="stable")]
    _, first = np.unique(coded.session[rows], return_index=True)
    local = np.repeat(np.arange(first.size), np.diff(np.append(first, rows.size)))
    n_partners = np.bincount(local)
    payer = coded.requester[rows[first]]

    length = np.zeros(first.size)
    np.maximum.at(length, local, coded.duration_s[rows])
    paid_time = np.bincount(payer, weights=length, minlength=n)
    served = paid_time[payer] > 0
    session_revenue = np.zeros(first.size)
    session_revenue[served] = positive_revenue[payer[served]] * (length[served] / paid_time[payer[served]])

    too_big = np.flatnonzero((n_partners + 1 > int(max_players)) & (session_revenue > 0))
    if too_big.size:
        row = rows[first[too_big[0]]]
        raise ValueError(
            f"shapley: {too_big.size} paid session(s) have more than {int(max_players)} players "
            f"(first: session_id={coded.session_ids[coded.session[row]]!r} with "
            f"{int(n_partners[too_big[0]]) + 1}); "
            f"exact enumeration is 2^(players-1) per session, raise max_players up to {HARD_MAX_PLAYERS}"
        )

    # a partner's weight: the row's weight without the paid boost (every row of a paid session has it)
    weight = session_weights(coded, wanted_bonus, 0.0)[rows]
    if not np.isfinite(weight).all():
        raise ValueError("shapley: infinite partner weight; duration_s or wanted_bonus too large")
    partner_value = np.zeros(rows.size)  # per unit of session revenue
    for k in np.unique(n_partners[session_revenue > 0]):
        sessions_k = np.flatnonzero((n_partners == k) & (session_revenue > 0))
        row_index = first[sessions_k][:, None] + np.arange(k)  # rows of these sessions
        table = weight[row_index]
        partner_value[row_index] = partner_shapley(table, alpha, gamma)

    partner_credit = partner_value * session_revenue[local]
    to_partners = np.bincount(coded.partner[rows], weights=partner_credit, minlength=n)
    given_away = np.bincount(payer[local], weights=partner_credit, minlength=n)
    return credit - given_away + to_partners

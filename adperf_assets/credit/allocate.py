"""``credit_revenue``: one entry point for the three credit methods.

Negative net revenue (refunds above the day's purchases) is a claw-back of the
payer's own money, so it is credited to that payer under every method; the
method only spreads the non-negative part. Totals therefore always balance,
and credit is never negative when no revenue is negative (docs/behavior_credit.md).
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import pandas as pd

from .inputs import CodedInputs, CreditInputError, code_inputs
from .pagerank import pagerank_credit
from .shapley import shapley_credit


def direct_credit(coded: CodedInputs, positive_revenue: np.ndarray) -> np.ndarray:
    """All revenue stays with the payer."""
    return positive_revenue.copy()


METHODS: dict[str, Callable[..., np.ndarray]] = {
    "direct": direct_credit,
    "pagerank": pagerank_credit,
    "shapley": shapley_credit,
}


def _check_options(method: str, options: dict) -> None:
    accepted = [
        name
        for name, p in inspect.signature(METHODS[method]).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"credit method {method!r} got unknown option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )


def credit_revenue(
    sessions: pd.DataFrame,
    revenue: pd.DataFrame,
    method: str = "pagerank",
    **options,
) -> pd.DataFrame:
    """Credit the day's revenue to the users who made it possible.

    Returns ``user_id, credited_revenue`` (float64): one row per user who
    appears in ``revenue`` or receives non-zero credit, sorted by user_id.
    ``credited_revenue`` sums to ``revenue.revenue_usd.sum()``.
    ``options`` go to the method (see ``pagerank_credit``, ``shapley_credit``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown credit method {method!r}; choose one of {', '.join(METHODS)}")
    _check_options(method, options)
    coded = code_inputs(sessions, revenue)
    positive = np.clip(coded.revenue, 0.0, None)
    negative = coded.revenue - positive
    credit = METHODS[method](coded, positive, **options) + negative

    keep = coded.is_payer | (credit != 0)
    result = pd.DataFrame(
        {
            "user_id": coded.users[keep],
            "credited_revenue": credit[keep].astype(np.float64),
        }
    )
    try:
        result = result.sort_values("user_id", kind="stable")
    except TypeError:  # mixed id types cannot be ordered; keep first-seen order
        pass
    return result.reset_index(drop=True)


__all__ = ["METHODS", "CreditInputError", "credit_revenue", "direct_credit"]

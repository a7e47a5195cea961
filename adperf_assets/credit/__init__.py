"""Revenue credit over the match graph (direct, PageRank, Shapley): plain math, no Dagster.

In a matching app a payer can only spend on premium matching when someone
worth matching with is there, so part of a day's revenue is credited to the
partners who made it possible. See ``docs/behavior_credit.md``.

Input contract of ``credit_revenue(sessions, revenue, method, **options)``
---------------------------------------------------------------------------
``sessions`` — one row per match session (a group session is several rows
with the same ``session_id``, one per partner, all with the same ``user_id``
and ``is_paid``):

- ``session_id``: any hashable id, not null; (session_id, partner_id) unique
- ``user_id``: the requester (who asked for the match and may have paid)
- ``partner_id``: who they were matched with; never equal to ``user_id``
- ``started_at``, ``ended_at``: UTC timestamps, not null, ended >= started
  (checked only; the methods use ``duration_s``)
- ``duration_s``: float >= 0, finite (the partner's time in the session)
- ``is_wanted``: bool (or 0/1) — the partner matched the requester's filter
- ``is_paid``: bool (or 0/1) — the requester used a paid/premium match

``revenue`` — ``user_id, revenue_usd``: the day's net revenue per payer,
finite, may be negative after refunds. Several rows of one user are summed.

Rules
-----
- Output: ``user_id, credited_revenue`` (float64), one row per user that is
  in ``revenue`` or receives non-zero credit, sorted by ``user_id``.
- Balance: credited total = revenue total (to float rounding).
- Negative net revenue of a payer is credited to that payer under every
  method (a refund claws back the payer's own payment); only non-negative
  revenue is spread, so with non-negative revenue no credit is negative.
- Zero-second sessions carry no weight; a payer with no (weighted) sessions
  keeps their revenue under every method.
- Bad input raises ``CreditInputError`` (a ``ValueError``) naming the frame,
  column and first offending row; an unknown method raises ``ValueError``,
  an unknown option ``TypeError``.
"""

from .allocate import METHODS, credit_revenue, direct_credit
from .inputs import REVENUE_COLUMNS, SESSION_COLUMNS, CreditInputError
from .pagerank import PageRankNotConverged, pagerank_credit, personalized_pagerank
from .shapley import partner_shapley, shapley_credit

__all__ = [
    "METHODS",
    "REVENUE_COLUMNS",
    "SESSION_COLUMNS",
    "CreditInputError",
    "PageRankNotConverged",
    "credit_revenue",
    "direct_credit",
    "pagerank_credit",
    "partner_shapley",
    "personalized_pagerank",
    "shapley_credit",
]

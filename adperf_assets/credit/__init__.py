"""Revenue credit over the match graph (direct, PageRank, Shapley): plain math, no Dagster.

In a matching app a payer can only spend on premium matching when someone worth matching with is
there, so part of a day's revenue is credited to the partners who made it possible. Entry point
``credit_revenue(sessions, revenue, method, **options)``; input contract, rules and the methods:
docs/behavior_credit.md.
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

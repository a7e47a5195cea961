"""Budget actions: from the report's calls to paused ads and moved budgets (pure planning, no Dagster).

``plan_actions(report, state, policy, precision)`` -> one row per candidate action with the reason in
words; docs/budget_actions.md.
"""

from adperf_assets.actions.plan import PLAN_COLUMNS, plan_actions
from adperf_assets.actions.policy import ActionPolicy

__all__ = ["PLAN_COLUMNS", "ActionPolicy", "plan_actions"]

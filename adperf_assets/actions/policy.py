"""What the planner may do: safe defaults, every limit in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: Set (to anything but "", "0", "false") to make every run a dry run, whatever the config says.
KILL_SWITCH_ENV = "ADPERF_ACTIONS_KILL_SWITCH"


def kill_switch_on(environ=os.environ) -> bool:
    return environ.get(KILL_SWITCH_ENV, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class ActionPolicy:
    #: Plan and validate only; nothing is changed on the networks.
    dry_run: bool = True
    #: Largest relative change of a daily budget per object and day (0.2: at most +-20%).
    max_budget_step: float = 0.2
    #: Budgets are never set below this (in the account currency; the networks' own minimums are higher).
    min_daily_budget: float = 1.0
    #: Nor above this (None: no ceiling).
    max_daily_budget: float | None = None
    #: At most this many actions a day; the ones on the most spend first.
    max_actions_per_day: int = 20
    #: No action on an object before it has cost this much (report currency) and run this many days.
    min_cost: float = 100.0
    min_days: int = 7
    #: No action from a call whose measured precision at the object's age (``decision_backtest``) is below this.
    min_precision: float = 0.8
    #: Act on calls whose precision has not been measured yet (a new deployment): off by default.
    act_unmeasured: bool = False
    #: Whether a paused ad that the report calls ``scale`` is resumed.
    allow_resume: bool = True
    #: Objects never touched: ids or names (ad, ad group, campaign, account) matched exactly.
    exclude: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if not 0 < self.max_budget_step < 1:
            raise ValueError(f"max_budget_step={self.max_budget_step}: must be in (0, 1)")
        if self.max_actions_per_day < 0:
            raise ValueError(f"max_actions_per_day={self.max_actions_per_day}: must be >= 0")
        if not 0 <= self.min_precision <= 1:
            raise ValueError(f"min_precision={self.min_precision}: must be a share in [0, 1]")
        if self.max_daily_budget is not None and self.max_daily_budget < self.min_daily_budget:
            raise ValueError(f"max_daily_budget={self.max_daily_budget} is below min_daily_budget={self.min_daily_budget}")

    def effective_dry_run(self, environ=os.environ) -> bool:
        return self.dry_run or kill_switch_on(environ)

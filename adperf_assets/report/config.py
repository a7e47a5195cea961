"""The report's knobs in one place: horizon, history bound, D-n ROAS days and recommendation thresholds.

Plain dataclass (no Dagster): the ``roas_report`` asset fills it from its run config, tests build it
directly. Defaults are the marketing team's rules of thumb; table in docs/roas_report.md ("Settings").
"""

from __future__ import annotations

from dataclasses import dataclass, field

INTERVAL_RULES = ("segments_independent", "comonotone")
ESTIMATE_BASES = ("segment_average", "realised_plus_expected", "ad_credibility")


@dataclass(frozen=True)
class ReportConfig:
    #: LTV horizon (days since install) of ``estimated_return``; one of ltv_estimates' horizons.
    horizon_days: int = 180
    #: Reporting currency of every amount (``*_usd`` columns hold it; money is shown with its sign).
    currency: str = "USD"
    #: Days of history per report day: an ad's cost, users and revenue are counted from
    #: ``report_date - max_ad_age_days + 1``; ads live shorter than this (older spend is not read).
    max_ad_age_days: int = 400
    #: D-n ROAS columns: revenue of the cohorts' first n days over the cost that bought them.
    roas_days: tuple[int, ...] = (7, 14, 30)
    #: Recommend "scale" when the LOWER bound of estimated ROAS is above this.
    scale_above: float = 1.2
    #: Recommend "stop" when the UPPER bound of estimated ROAS is below this.
    stop_below: float = 1.0
    #: No scale/stop verdict before the ad has spent this much and run this many days.
    min_cost_usd: float = 50.0
    min_days: int = 3
    #: How per-cell LTV intervals add up (see ``report.intervals``).
    interval_rule: str = "segments_independent"
    #: ``segment_average``: users x LTV per user of their cohort x segment (what the back-tested
    #: MAPE describes). ``realised_plus_expected``: what the ad's users returned within the horizon
    #: so far + users x the segment curve's value still ahead of them (never below the realised).
    #: ``ad_credibility``: installs x the ad's own per-install estimate (``report.ad_value``: its users'
    #: revenue so far credibility-weighted toward their segment, never below the realised; ``report.ad_basis``).
    estimate_basis: str = "ad_credibility"
    #: The payback search stops this many days after the report day (the LTV curve is flat after
    #: its last horizon, so a later crossing cannot be estimated).
    payback_search_days: int = 365
    levels: tuple[str, ...] = field(default=("ad", "ad_group", "campaign", "account", "network"))

    def __post_init__(self):
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days={self.horizon_days}: must be positive")
        if self.max_ad_age_days < max(self.roas_days, default=1):
            raise ValueError(f"max_ad_age_days={self.max_ad_age_days} is shorter than the longest D-n ROAS "
                             f"({max(self.roas_days)} days)")
        if not self.stop_below <= self.scale_above:
            raise ValueError(f"stop_below={self.stop_below} must not exceed scale_above={self.scale_above}")
        if self.interval_rule not in INTERVAL_RULES:
            raise ValueError(f"interval_rule={self.interval_rule!r}; choose one of {', '.join(INTERVAL_RULES)}")
        if self.estimate_basis not in ESTIMATE_BASES:
            raise ValueError(f"estimate_basis={self.estimate_basis!r}; choose one of {', '.join(ESTIMATE_BASES)}")
        unknown = set(self.levels) - {"ad", "ad_group", "campaign", "account", "network"}
        if unknown:
            raise ValueError(f"unknown report level(s) {sorted(unknown)}")

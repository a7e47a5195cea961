"""Scale / keep / stop from the estimated ROAS and its interval, with the reason in words.

The interval decides, not the point estimate: stop only when even ``upper`` is below ``stop_below``,
scale only when even ``lower`` is above ``scale_above``; otherwise keep. See docs/roas_report.md.
"""

from __future__ import annotations

import math

from adperf_assets.report.config import ReportConfig
from adperf_assets.report.tables import money

SCALE, KEEP, STOP = "scale", "keep", "stop"


def _r(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2f}"


def recommend(cost: float, days_live: int, est_roas: float | None, lower: float | None, upper: float | None,
              config: ReportConfig) -> tuple[str, str]:
    """``(recommendation, reason)`` for one ad or roll-up."""
    if cost < config.min_cost_usd or days_live < config.min_days:
        return KEEP, (f"too early to judge: {money(cost, 2, config.currency)} spent over {days_live} day(s); a "
                      f"verdict needs {money(config.min_cost_usd, 2, config.currency)} and {config.min_days} days")
    if est_roas is None or lower is None or upper is None or any(map(math.isnan, (est_roas, lower, upper))):
        return KEEP, "no estimated ROAS (no LTV estimate for its users yet)"
    span = f"estimated ROAS {_r(est_roas)} (interval {_r(lower)}-{_r(upper)})"
    if upper < config.stop_below:
        return STOP, (f"{span}: even the upper bound is below the stop threshold {config.stop_below:.2f} -- "
                      f"its users are unlikely to earn back the cost")
    if lower > config.scale_above:
        return SCALE, (f"{span}: even the lower bound is above the scale threshold {config.scale_above:.2f} -- "
                       f"more budget is likely to pay")
    if est_roas < config.stop_below:
        why = f"below the stop threshold {config.stop_below:.2f} but the upper bound is not -- wait for more data"
    elif est_roas > config.scale_above:
        why = f"above the scale threshold {config.scale_above:.2f} but the lower bound is not -- wait for more data"
    else:
        why = f"between the thresholds {config.stop_below:.2f} and {config.scale_above:.2f}"
    return KEEP, f"{span}: {why}"

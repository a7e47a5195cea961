"""How many days of history each LTV asset reads and keeps: the bounded windows that keep a day's work
from growing with the whole history."""

from adperf_assets.ltv.cohort_backtest import history_days

GROUP = "ltv"
COHORT_WINDOW_DAYS = 365  # cohort_activity keeps cohorts this young (ages 0..364: the 365-day horizon)
MAX_FIT_WINDOW_DAYS = 180  # retention_fit reads this many days of cohort_activity; window_days <= it
DEFAULT_FIT_WINDOW_DAYS = 180
LTV_COHORT_DAYS = 180  # cohort_ltv estimates the cohorts installed in the last 180 days
BACKTEST_METRICS_DAYS = 180  # a back-test as of D: rows completed in the trailing 180 days
# cohort_activity the back-test reads for one completion day: its horizon plus the fit window (353 days)
BACKTEST_HISTORY_DAYS = history_days(window_days=MAX_FIT_WINDOW_DAYS)

"""The keys every LTV and report table shares: which segments a cohort is split by, at which
horizons LTV is estimated, and at which ages a back-test re-makes an estimate."""

#: A cohort's segment: platform, paid/organic, network, emulator or not.
SEGMENT_KEYS = ("platform", "attribution", "network", "is_emulator")
#: Days after install at which LTV is estimated.
HORIZONS = (30, 90, 180, 365)
#: Horizons a back-test scores (365 days of realised revenue are rarely in a back-test's window).
BACKTEST_HORIZONS = (30, 90, 180)
#: Cohort ages (days of data seen) at which a back-test re-makes its estimate.
MADE_AT_DAYS = (7, 14, 30)

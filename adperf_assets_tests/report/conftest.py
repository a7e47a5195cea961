"""The report's fixtures live in the package's conftest (the budget actions' tests share them)."""

from adperf_assets_tests.report.runs import FIRST, LAST, REPORT_DAYS  # noqa: F401 -- imported from here by tests

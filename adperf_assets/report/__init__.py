"""ROAS report math (no Dagster): per ad and rolled up, intervals, payback, recommendation, messages, plot.

``prepare_inputs`` checks and normalises the contract's tables once; ``build_report`` computes any
number of report days from them. Columns and rules: docs/roas_report.md.
"""

from adperf_assets.report.columns import REPORT_COLUMNS, roas_columns, typed
from adperf_assets.report.config import ReportConfig
from adperf_assets.report.inputs import ReportInputError, ReportInputs, prepare_inputs
from adperf_assets.report.roas import DayInfo, build_day, build_report

__all__ = ["REPORT_COLUMNS", "DayInfo", "ReportConfig", "ReportInputError", "ReportInputs", "build_day",
           "build_report", "prepare_inputs", "roas_columns", "typed"]

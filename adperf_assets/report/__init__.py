"""ROAS report math (no Dagster): per ad and rolled up, intervals, payback, recommendation, messages, plot.

``prepare_inputs`` checks and normalises the contract's tables once; ``build_report`` computes any
number of report days from them (see ``report.roas`` for every column's definition).
"""

from adperf_assets.report.config import ReportConfig
from adperf_assets.report.roas import REPORT_COLUMNS, DayInfo, ReportInputError, ReportInputs, build_day, build_report, prepare_inputs, roas_columns, typed

__all__ = ["REPORT_COLUMNS", "DayInfo", "ReportConfig", "ReportInputError", "ReportInputs", "build_day",
           "build_report", "prepare_inputs", "roas_columns", "typed"]

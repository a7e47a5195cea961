"""``decision_backtest``: the report's scale / stop calls at ad age 7, 14 and 30 days, scored once their
horizon has passed, with the figures the Slack message shows beside the calls. The scoring is
``report.decision_scores``; why and how: docs/per_ad_value.md ("Scored decisions")."""

import dagster as dg
import pandas as pd
from pydantic import Field

from adperf_assets.defs.common.metadata import days_label, figure_md, table_md
from adperf_assets.defs.common.schema_types import empty_frame
from adperf_assets.defs.common.tables import daily_table
from adperf_assets.defs.report.schemas import DecisionBacktestFrame
from adperf_assets.partitions import daily_partitions, trailing, window_days
from adperf_assets.report.decision_scores import (
    AGES,
    CALL_COLUMNS,
    KEYS,
    BacktestWindow,
    CallScorer,
    realised_by_ad,
    summarise,
    summary_line,
)
from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.report.plot import calls_vs_realised_figure

GROUP = "report"
HORIZON_DAYS = 180
WINDOW_DAYS = 180
#: Days of history a day's scoring reads: the calls of the trailing window and their objects' cohorts.
INPUT_DAYS = BacktestWindow(pd.Timestamp(0), HORIZON_DAYS, WINDOW_DAYS, AGES).input_days()


#: The columns the scoring reads of each input (390 days of the report's rows are loaded).
INPUT_COLUMNS = {"roas_report": CALL_COLUMNS, "ad_spend": ["report_date", *KEYS, "cost_usd"],
                 "installs": ["user_id", "install_date", "network", "ad_id"],
                 "behavior_value": ["report_date", "user_id", "credited_usd"]}


class DecisionBacktestConfig(dg.Config):
    horizon_days: int = Field(default=HORIZON_DAYS, description="The report's LTV horizon the calls estimated.")
    window_days: int = Field(default=WINDOW_DAYS, description="Trailing window of days in which a call's "
                                                              "horizon passed for it to count in the figures.")
    ages: list[int] = Field(default=list(AGES), description="Ad ages (days live) whose calls are scored.")

    def window(self, day: pd.Timestamp) -> BacktestWindow:
        w = BacktestWindow(report_date=day, horizon_days=self.horizon_days, window_days=self.window_days,
                           ages=tuple(self.ages))
        if w.input_days() > INPUT_DAYS:
            raise ValueError(f"horizon_days + window_days + max(ages) = {w.input_days()} days of history; "
                             f"the asset reads {INPUT_DAYS}")
        return w


@daily_table(
    group_name=GROUP,
    dagster_type=DecisionBacktestFrame,
    ins={k: dg.AssetIn(key=k, partition_mapping=trailing(INPUT_DAYS), metadata={"columns": cols})  # read only these
         for k, cols in INPUT_COLUMNS.items()},
)
def decision_backtest(context: dg.AssetExecutionContext, config: DecisionBacktestConfig, roas_report: pd.DataFrame,
                      ad_spend: pd.DataFrame, installs: pd.DataFrame, behavior_value: pd.DataFrame) -> dg.Output:
    """Per report day: every call the stored report made for an ad, ad group or campaign at age 7, 14 and
    30 days whose horizon has passed, scored right / wrong against the realised horizon ROAS, with the
    estimate's error and interval coverage; metadata: precision, recall and MAPE per level and age over
    the trailing window, and a plot of estimated against realised ROAS."""
    days = window_days(context)
    stored_days = set(as_datetimes(roas_report["report_date"]).dt.normalize().unique()) if len(roas_report) else set()
    first_partition = pd.Timestamp(daily_partitions.start).tz_localize(None)

    def missing_days(w: BacktestWindow) -> list[pd.Timestamp]:
        return [d for d in pd.date_range(max(w.first_call, first_partition), w.last_cohort) if d not in stored_days]

    frames, missed, counts = [], [], []
    realised = realised_by_ad(ad_spend, installs, behavior_value, config.window(days[-1]))
    scorer = CallScorer(roas_report, realised, config.window(days[-1]))
    for day in days:
        w = config.window(day)
        scored = scorer.score(w)
        frames.append(scored)
        missing = missing_days(w)
        if missing:
            missed.append(f"{day.date()}: {len(missing)} ({missing[0].date()}..{missing[-1].date()})")
        counts.append(f"{day.date()} {len(scored)} ({(scored['outcome'] != 'no call').sum()})")
    # one log event per run, not per day (each is a write to the event log)
    if missed:
        context.log.warning(f"no stored roas_report for some of the window's {config.window_days} call days "
                            f"(calls made on them are not scored); per report day, the call days missing: {'; '.join(missed)}")
    context.log.info(f"realised horizon return of {realised['ad_id'].nunique()} ads over "
                     f"{realised['report_date'].nunique()} install days; calls scored per report day (stop/scale): "
                     f"{', '.join(counts)}")
    scored_days = [f for f in frames if len(f)]
    out = pd.concat(scored_days, ignore_index=True) if scored_days else empty_frame(DecisionBacktestFrame)
    last = frames[-1]
    w = config.window(days[-1])
    last_summary = summarise(last, w.break_even)
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "report_days": days_label(days),
        "call_days": f"{w.first_call.date()}..{w.last_cohort.date()}",
        "summary_line": summary_line(last_summary, w.first_call),
        "summary": table_md(last_summary.round(3)),
        "ads_scored": int((last["level"] == "ad").sum()),
        "report_days_missing": len(missing_days(w)),
        "estimated_vs_realised": figure_md(calls_vs_realised_figure(last),
                                           f"estimated ROAS at the call vs realised, {days[-1].date()}"),
    })

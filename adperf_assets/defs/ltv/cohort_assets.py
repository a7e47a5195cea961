"""Cohort LTV after the game studio's LTV post: segment retention fits (``retention_fit``), LTV per
cohort x segment with its 99% interval (``cohort_ltv``) and its back-test (``cohort_ltv_backtest``).
Method, defaults and measured accuracy: docs/ltv_cohort.md."""


import time

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from adperf_assets.ltv.backtest import OVERALL, SEGMENT_KEYS, backtest_metrics, pool_cohorts
from adperf_assets.ltv.cohort_backtest import BACKTEST_COLUMNS, as_of, empty_backtest, history_days
from adperf_assets.ltv.cohort_backtest import cohort_backtest as run_cohort_backtest
from adperf_assets.ltv.curves import REVENUE_SOURCES, ActivityCube, CurveSet, NotEnoughHistoryError, segment_curves
from adperf_assets.ltv.estimates import HORIZONS, empty_estimates, estimate_ltv
from adperf_assets.ltv.plots import backtest_plot, ltv_plot, retention_plot, segment_label
from adperf_assets.partitions import capped, trailing, window_days
from adperf_assets.defs.common.stored_rows import read_rows
from adperf_assets.defs.common.table_store import TableStore
from adperf_assets.defs.ltv.cohort_schemas import (
    CohortLtvBacktestFrame,
    CohortLtvFrame,
    RetentionFitFrame,
)
from adperf_assets.defs.common.metadata import days_label, table_md

from adperf_assets.defs.common.tables import daily_table
from adperf_assets.defs.ltv.windows import (
    BACKTEST_HISTORY_DAYS,
    BACKTEST_METRICS_DAYS,
    DEFAULT_FIT_WINDOW_DAYS,
    GROUP,
    LTV_COHORT_DAYS,
    MAX_FIT_WINDOW_DAYS,
)



class RetentionFitConfig(dg.Config):
    window_days: int = Field(default=DEFAULT_FIT_WINDOW_DAYS,
                             description=f"Install cohorts of this many trailing days are pooled (<= {MAX_FIT_WINDOW_DAYS}).")
    revenue: str = Field(default="revenue_usd", description="Revenue per user from 'revenue_usd' (net payments) "
                                                            "or 'credited_usd' (behaviour credit).")


def _check_window(window: int) -> None:
    if not 7 <= window <= MAX_FIT_WINDOW_DAYS:
        raise ValueError(f"window_days={window}: choose 7..{MAX_FIT_WINDOW_DAYS} (retention_fit reads "
                         f"{MAX_FIT_WINDOW_DAYS} days of cohort_activity)")


def _check_revenue(revenue: str) -> None:
    if revenue not in REVENUE_SOURCES:
        raise ValueError(f"revenue={revenue!r}: choose one of {', '.join(REVENUE_SOURCES)}")


@daily_table(
    group_name=GROUP,
    dagster_type=RetentionFitFrame,
    ins={"cohort_activity": dg.AssetIn(partition_mapping=trailing(MAX_FIT_WINDOW_DAYS))},
)
def retention_fit(
    context: dg.AssetExecutionContext, config: RetentionFitConfig, cohort_activity: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Per segment, the trailing window's install cohorts pooled the seed's way (day t pools the
    cohorts that reached it), the cleaned access rate fitted by sBG (MLE) and the rational curve
    (NLS), their average, and revenue per installed user by day since install."""
    _check_window(config.window_days)
    _check_revenue(config.revenue)
    t0 = time.perf_counter()
    days = window_days(context)
    first = days[0] - pd.Timedelta(days=capped(config.window_days) - 1)
    try:
        cube = ActivityCube.from_frame(cohort_activity, config.revenue, first_day=first, last_day=days[-1])
        curves, skipped = segment_curves(cube, days, config.window_days, survival_se=True)
    except NotEnoughHistoryError as exc:
        context.log.warning(f"retention_fit {days_label(days)}: {exc}; nothing to fit yet")
        return dg.Output(CurveSet.empty_frame(), metadata={"dagster/row_count": 0, "window": days_label(days),
                                                           "note": str(exc)})
    out = curves.to_frame()
    seconds = time.perf_counter() - t0
    if len(skipped):
        context.log.warning(f"retention_fit {days_label(days)}: no curve for {len(skipped)} day x segment(s): "
                            + "; ".join(f"{r.report_date.date()} {segment_label(r)}: {r.reason}"
                                        for r in skipped.head(10).itertuples()))
    last = out[out["report_date"] == out["report_date"].max()]
    per_seg = last[last["days_since_install"] == 0].copy()
    r_at = last.pivot_table(index=list(SEGMENT_KEYS), columns="days_since_install", values="retention")
    params = per_seg.assign(
        segment=per_seg.apply(segment_label, axis=1), users=per_seg["cohort_size"].round(0),
        **{f"R({d})": per_seg.set_index(list(SEGMENT_KEYS)).index.map(r_at[d]).to_numpy() for d in (1, 7, 30, 90, 180)},
        **{"days_365": per_seg.set_index(list(SEGMENT_KEYS)).index.map(
            last[last["days_since_install"] == 364].set_index(list(SEGMENT_KEYS))["active_days"]).to_numpy()},
    )[["segment", "users", "curve_days", "sbg_alpha", "sbg_alpha_se", "sbg_beta", "sbg_beta_se", "sbg_converged",
       "rational_a", "rational_b", "rational_c", "rational_d", "R(1)", "R(7)", "R(30)", "R(90)", "R(180)", "days_365",
       "arpu_usd", "arpu_se_usd", "user_revenue_cv"]].sort_values("users", ascending=False)
    context.log.info(f"retention_fit {days_label(days)}: {len(curves)} curves in {seconds:.2f}s")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": days_label(days),
        "window_days": config.window_days,
        "revenue_source": config.revenue,
        "curves": len(curves),
        "segments_without_curve": table_md(skipped.assign(report_date=skipped["report_date"].dt.date), 20),
        "sbg_not_converged": int((~per_seg["sbg_converged"]).sum()),
        "seconds": round(seconds, 3),
        "parameters": dg.MetadataValue.md(params.round(4).to_markdown(index=False)),
        "plot": dg.MetadataValue.md(retention_plot(out)),
    })


class CohortLtvConfig(dg.Config):
    confidence: float = Field(default=0.99, description="Coverage of the interval.")
    credibility_users: float = Field(
        default=50.0, description="A cohort of n users weighs its own activity n / (n + this) against its segment's.")


@daily_table(
    group_name=GROUP,
    dagster_type=CohortLtvFrame,
    ins={"cohort_activity": dg.AssetIn(partition_mapping=trailing(LTV_COHORT_DAYS))},
)
def cohort_ltv(
    context: dg.AssetExecutionContext, config: CohortLtvConfig, retention_fit: pd.DataFrame,
    cohort_activity: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Per install cohort (last 180 days) x segment: expected revenue per installed user over
    30/90/180/365 days with its interval -- revenue to date plus the segment's curve for the rest
    (scaled by the cohort's own activity and spending per active day from 7 days on) -- and the geometric
    baseline beside it."""
    t0 = time.perf_counter()
    days = window_days(context)
    if retention_fit.empty:
        context.log.warning(f"cohort_ltv {days_label(days)}: retention_fit has no curve yet (a week of activity is "
                            "needed); no estimate")
        return dg.Output(empty_estimates(), metadata={"dagster/row_count": 0, "window": days_label(days),
                                                      "note": "no segment curve yet"})
    curves = CurveSet.from_frame(retention_fit)
    cube = ActivityCube.from_frame(cohort_activity, curves.value_column,
                                   first_day=days[0] - pd.Timedelta(days=capped(LTV_COHORT_DAYS) - 1), last_day=days[-1])
    sizes = pd.DataFrame({
        "install_date": np.repeat(cube.first_day + pd.to_timedelta(np.arange(cube.size.shape[1]), unit="D"),
                                  len(cube.segments)),
        "s": np.tile(np.arange(len(cube.segments)), cube.size.shape[1]),
        "n": cube.size.T.ravel(),
    })
    sizes = sizes[sizes["n"] > 0]
    req = []
    for d in days:
        c = sizes[(sizes["install_date"] <= d) & (sizes["install_date"] > d - pd.Timedelta(days=LTV_COHORT_DAYS))]
        req.append(pd.concat([c[["install_date"]].reset_index(drop=True),
                              cube.segments.iloc[c["s"]].reset_index(drop=True)], axis=1).assign(report_date=d))
    requests = pd.concat(req, ignore_index=True)
    out, unanswered = estimate_ltv(curves, cube, requests, HORIZONS, config.confidence,
                                   credibility_users=config.credibility_users)
    seconds = time.perf_counter() - t0
    if len(unanswered):
        context.log.warning(f"cohort_ltv {days_label(days)}: no estimate for {len(unanswered)} cohort x segment(s): "
                            + "; ".join(f"{r.install_date.date()} {segment_label(r)}: {r.reason}"
                                        for r in unanswered.head(10).itertuples()))
    last = out[out["report_date"] == out["report_date"].max()]
    w = last["cohort_size"].astype(float)
    summary = (last.assign(v=last["ltv_per_user_usd"] * w, lo=last["lower_usd"] * w, hi=last["upper_usd"] * w,
                           todate=last["revenue_to_date_usd"] * w, n=w)
               .groupby(["estimator", "horizon"])[["v", "lo", "hi", "todate", "n"]].sum())
    summary = pd.DataFrame({"installs": summary["n"], "ltv_per_user_usd": summary["v"] / summary["n"],
                            "lower_usd": summary["lo"] / summary["n"], "upper_usd": summary["hi"] / summary["n"],
                            "revenue_to_date_usd": summary["todate"] / summary["n"]}).reset_index()
    context.log.info(f"cohort_ltv {days_label(days)}: {len(out)} rows in {seconds:.2f}s")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": days_label(days),
        "confidence": config.confidence,
        "cohorts_under_7_days": int(((last["basis"] == "segment") & (last["estimator"] == "cohort")).sum() // len(HORIZONS)),
        "without_estimate": len(unanswered),
        "seconds": round(seconds, 3),
        "all_cohorts_of_the_last_180_days": table_md(summary.round(4), 20),
        "plot": dg.MetadataValue.md(ltv_plot(out)),
        "preview": table_md(last.assign(report_date=last["report_date"].dt.date,
                                   install_date=last["install_date"].dt.date).round(4)),
    })


class CohortLtvBacktestConfig(dg.Config):
    window_days: int = Field(default=DEFAULT_FIT_WINDOW_DAYS, description="Fit window, as in retention_fit.")
    revenue: str = Field(default="revenue_usd", description="As in retention_fit.")
    made_at_days: list[int] = Field(default=[7, 14, 30], description="Estimates made after this many days of a cohort.")
    horizons: list[int] = Field(default=[30, 90, 180], description="Realised horizons compared (<= 180).")
    confidence: float = Field(default=0.99, description="Coverage of the interval.")


def _metrics_tables(bt: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Scores at four cohort sizes: daily cohort x segment, and pooled by day / month / segment."""
    return {
        "cohort x segment (daily)": backtest_metrics(bt, by=OVERALL),
        "all segments (daily cohorts)": backtest_metrics(pool_cohorts(bt, None, across_segments=True), by=OVERALL),
        "segment (monthly cohorts)": backtest_metrics(pool_cohorts(bt, "MS"), by=OVERALL),
        "all segments (monthly cohorts)": backtest_metrics(pool_cohorts(bt, "MS", across_segments=True), by=OVERALL),
    }


def _stored_rows(tables: TableStore, first: pd.Timestamp, before: pd.Timestamp) -> pd.DataFrame:
    """The back-test rows earlier runs wrote for completion days [first, before) (none if no table yet)."""
    rows = read_rows(tables, "cohort_ltv_backtest", BACKTEST_COLUMNS, first, before) if first < before else None
    return empty_backtest() if rows is None else rows


@daily_table(
    group_name=GROUP,
    dagster_type=CohortLtvBacktestFrame,
    ins={"cohort_activity": dg.AssetIn(partition_mapping=trailing(BACKTEST_HISTORY_DAYS))},
)
def cohort_ltv_backtest(
    context: dg.AssetExecutionContext, config: CohortLtvBacktestConfig, tables: TableStore,
    cohort_activity: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Each (install cohort x segment, horizon) whose realised revenue completes on the report day
    (installed horizon - 1 days before): the estimates the cohort method and the geometric baseline
    would have made after 7/14/30 days vs the realised 30/90/180-day revenue per user. The
    back-test as of a day is the trailing 180 days of this table (``ltv.cohort_backtest.as_of``);
    its MAPE, bias and interval coverage per segment are in the metadata."""
    _check_window(config.window_days)
    _check_revenue(config.revenue)
    need = history_days(config.horizons, window_days=config.window_days, made_at_days=config.made_at_days)
    if need > BACKTEST_HISTORY_DAYS or max(config.horizons) > 180:
        raise ValueError(f"the back-test reads {BACKTEST_HISTORY_DAYS} days of cohort_activity; horizons "
                         f"{config.horizons} with window {config.window_days} need {need} (horizons <= 180)")
    t0 = time.perf_counter()
    days = window_days(context)
    first = days[0] - pd.Timedelta(days=capped(BACKTEST_HISTORY_DAYS) - 1)
    cube = ActivityCube.from_frame(cohort_activity, config.revenue, first_day=first, last_day=days[-1])
    out = run_cohort_backtest(cube, days, made_at_days=config.made_at_days, horizons=config.horizons,
                              window_days=config.window_days, confidence=config.confidence)
    # the trailing window's earlier days were written by earlier runs: read, not recomputed, so a
    # day costs the same with a year of history as with a month
    earlier = _stored_rows(tables, days[-1] - pd.Timedelta(days=BACKTEST_METRICS_DAYS - 1), days[0])
    recent = as_of(pd.concat([earlier, out], ignore_index=True) if len(earlier) else out, days[-1],
                   BACKTEST_METRICS_DAYS)
    seconds = time.perf_counter() - t0
    meta = {"dagster/row_count": len(out), "window": days_label(days), "seconds": round(seconds, 3),
            "window_days": config.window_days, "metrics_over": f"rows completed in the {BACKTEST_METRICS_DAYS} days "
                                                              f"up to {days[-1].date()}",
            "metrics_days": f"{recent['report_date'].nunique()} with rows: {len(days)} from this run, "
                            f"{earlier['report_date'].nunique()} read as earlier runs wrote them"}
    if recent.empty:
        context.log.warning(f"cohort_ltv_backtest {days_label(days)}: no cohort has {min(config.horizons)} days of "
                            "realised history yet")
        return dg.Output(out, metadata={**meta, "cohorts": 0})
    tables = _metrics_tables(recent)
    hmax = int(recent["horizon"].max())
    headline = tables["all segments (monthly cohorts)"]
    for (est, m, h), row in headline.set_index(["estimator", "made_at_day", "horizon"]).iterrows():
        if h == hmax:
            meta[f"{est}_mape_{h}d_from_{m}d_monthly"] = float(round(row["mape"], 4))
    cell = tables["cohort x segment (daily)"].set_index(["estimator", "made_at_day", "horizon"])
    for (est, m, h), row in cell.iterrows():
        if h == hmax:
            meta[f"{est}_coverage_{h}d_from_{m}d"] = float(round(row["coverage"], 4))
    per_segment = backtest_metrics(pool_cohorts(recent, "MS"))
    per_segment = per_segment[per_segment["horizon"] == hmax]
    context.log.info(f"cohort_ltv_backtest {days_label(days)}: {len(out)} rows in {seconds:.2f}s")
    return dg.Output(out, metadata={
        **meta,
        "cohorts": int(recent[["install_date", *SEGMENT_KEYS]].drop_duplicates().shape[0]),
        "install_dates": f"{recent['install_date'].min().date()}..{recent['install_date'].max().date()}",
        **{f"metrics: {name}": dg.MetadataValue.md(t.round(4).to_markdown(index=False)) for name, t in tables.items()},
        f"metrics per segment ({hmax}-day horizon, monthly cohorts)":
            dg.MetadataValue.md(per_segment.round(4).to_markdown(index=False)),
        "plot": dg.MetadataValue.md(backtest_plot(pool_cohorts(recent, "MS"), hmax)),
    })

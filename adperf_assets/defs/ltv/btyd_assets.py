"""Per-user LTV (BG/NBD x Gamma-Gamma), its back-test against the cohort method, and the estimate the report uses.

More: docs/dagster_layer.md."""

import time

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from adperf_assets.ltv.backtest import OVERALL, backtest_days, backtest_metrics, pool_cohorts
from adperf_assets.ltv.btyd_ltv import (
    BACKTEST_HORIZONS,
    HORIZONS,
    MIN_REPEAT_BUYERS,
    SEGMENT_KEYS,
    NO_FIT,
    POOLINGS,
    WINDOW_DAYS,
    Comparison,
    RfmInputs,
    cohort_ltv_frame,
    due_rows,
    fit_segments,
    milestone_predictions,
    realised_per_cohort,
    user_rfm_frame,
)
from adperf_assets.ltv.btyd_ltv_frames import USER_KEY_COLUMNS, user_ltv_columns
from adperf_assets.ltv.btyd_rfm_state import user_rfm_days
from adperf_assets.ltv.plots import estimators_plot
from adperf_assets.ltv.selection import CANDIDATE_COLUMNS, choose_estimates
from adperf_assets.ltv.selection import METRICS as SELECTION_METRICS
from adperf_assets.partitions import capped, daily_partitions, trailing, window_days
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.schema_types import empty_frame
from adperf_assets.defs.common.metadata import MAX_LISTED, OWNERS, days_label, table_md
from adperf_assets.defs.common.tables import daily_table
from adperf_assets.defs.ltv.windows import BACKTEST_METRICS_DAYS, GROUP
from adperf_assets.defs.ltv.btyd_schemas import (
    BtydCohortLtvFrame,
    BtydPredictionsFrame,
    LtvBacktestFrame,
    LtvEstimatesFrame,
    UserLtvFrame,
    UserRfmFrame,
)

KINDS = {"pandas", "duckdb"}


# One row per user per day, all of a run's days held at once: a backfill of the whole history in one run
# runs out of memory, so the per-user steps take at most ADPERF_PER_USER_RUN_DAYS days a run, to be
# lowered for large populations (measured peaks per run length: benchmarks/README.md).
PER_USER_BACKFILL = dg.BackfillPolicy.multi_run(max_partitions_per_run=current_settings().per_user_run_days)


def _empty_like(frame_type) -> pd.DataFrame:
    return empty_frame(frame_type)


class UserRfmConfig(dg.Config):
    running_state: bool = Field(
        default=True,
        description="Keep the window's users as a state carried from day to day through the run and summarise "
                    "only the payers (ltv.btyd_rfm_state); off: every day summarises every user anew. Same rows.")


@daily_table(
    group_name=GROUP,
    backfill_policy=PER_USER_BACKFILL,
    dagster_type=UserRfmFrame,
    ins={  # only the columns it reads: 365 days of rows are loaded (projection on either store)
        "payments_snapshot": dg.AssetIn(partition_mapping=trailing(WINDOW_DAYS), metadata={
            "columns": ["report_date", "user_id", "net_usd", "currency"]}),
        "user_segments": dg.AssetIn(partition_mapping=trailing(WINDOW_DAYS), metadata={
            "columns": ["user_id", "install_date", *SEGMENT_KEYS]}),
    },
)
def user_rfm(
    context: dg.AssetExecutionContext, config: UserRfmConfig, payments_snapshot: pd.DataFrame,
    user_segments: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Per user installed in the trailing 365 days, as of the report day: frequency (purchase days
    after the install day), recency, T (days) and monetary_value_usd (mean net revenue of those
    days) in lifetimes' convention, net revenue to date and within 30/90/180/365 days since
    install, and the segment keys. Refunds are netted onto the purchase's day by the snapshot, so
    a fully refunded day is no purchase."""
    t0 = time.perf_counter()
    days = window_days(context)
    bad = payments_snapshot["net_usd"].isna()
    if bad.any():
        rows = payments_snapshot.loc[bad, ["report_date", "user_id", "currency"]].head(5)
        raise ValueError(f"payments_snapshot has net_usd missing (no FX rate) on {int(bad.sum())} row(s), e.g. "
                         f"{rows.to_dict('records')}; the payments_currency_known check should have stopped them")
    if config.running_state:
        infos: list[RfmInputs] = []
        frames, _ = user_rfm_days(payments_snapshot, user_segments, days, infos=infos)
    else:
        infos = [RfmInputs() for _ in days]
        frames = [user_rfm_frame(payments_snapshot, user_segments, day, info=info) for day, info in zip(days, infos)]
    per_day = [{"report_date": day.date(), "users": info.users, "payers": int((frame["revenue_usd"] > 0).sum()),
                "repeat_buyers": int((frame["frequency"] > 0).sum()),
                "net_usd": round(float(frame["revenue_usd"].sum()), 2),
                "payments_of_older_users": info.older_user_rows,
                "older_users_usd": round(info.older_user_usd, 2)}
               for day, frame, info in zip(days, frames, infos)]
    out = pd.concat(frames, ignore_index=True) if frames else _empty_like(UserRfmFrame)
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    out["install_date"] = out["install_date"].astype("datetime64[ns]")
    s = pd.DataFrame(per_day)
    context.log.info(f"user_rfm {days_label(days)}: {len(out)} user-days, window {WINDOW_DAYS} days, "
                     f"{time.perf_counter() - t0:.1f}s")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window_days": WINDOW_DAYS,
        "days": len(days),
        "running_state": config.running_state,
        "per_day": table_md(s, 40),
        "seconds": round(time.perf_counter() - t0, 2),
        "preview": table_md(out.sort_values("frequency", ascending=False)),
    })


def _rows_by_day(report_date: pd.Series) -> dict:
    """Report day -> its row positions in their order: one stable sort for the run instead of a scan of
    every row for each day (a 60-day run holds ~3M user rows)."""
    values = report_date.to_numpy("datetime64[ns]")
    order = np.argsort(values, kind="stable")
    days, starts = np.unique(values[order], return_index=True)
    return {pd.Timestamp(d): order[a:b] for d, a, b in zip(days, starts, [*starts[1:], len(order)])}


def _user_frame(user_rfm: pd.DataFrame, rows: list, columns: list) -> pd.DataFrame:
    """The run's ``user_ltv`` rows: each day's users (``rows``, positions in ``user_rfm``) with its
    computed ``columns``, days after one another."""
    out = user_rfm[list(USER_KEY_COLUMNS)].take(np.concatenate(rows)).reset_index(drop=True)
    for col in columns[0]:
        out[col] = np.concatenate([day[col] for day in columns])
    return out


class UserLtvConfig(dg.Config):
    min_repeat_buyers: int = Field(
        default=MIN_REPEAT_BUYERS,
        description="A segment gets its own BG/NBD + Gamma-Gamma fit from this many repeat buyers on; "
                    "the others use the fit pooled over every user.")
    penalizer: float = Field(default=0.0, description="lifetimes' penalizer_coef for both models.")


@dg.multi_asset(
    outs={
        "user_ltv": dg.AssetOut(
            dagster_type=UserLtvFrame, metadata={"partition_expr": "report_date"}, group_name=GROUP, kinds=KINDS,
            owners=OWNERS, description="Per user BTYD expected net revenue within 30/90/180/365 days since install "
            "(realised so far + expected ahead), as of the report day."),
        "btyd_cohort_ltv": dg.AssetOut(
            dagster_type=BtydCohortLtvFrame, metadata={"partition_expr": "report_date"}, group_name=GROUP,
            kinds=KINDS, owners=OWNERS, description="Per install cohort x segment x horizon: BTYD LTV sum and per "
            "user with a 99% prediction interval (parameter covariance + purchase noise)."),
        "btyd_ltv_predictions": dg.AssetOut(
            dagster_type=BtydPredictionsFrame, metadata={"partition_expr": "report_date"}, group_name=GROUP,
            kinds=KINDS, owners=OWNERS, description="The BTYD back-test's predictions made on the report day: cohorts "
            "7, 14 and 30 days into their life, horizons 30/90/180."),
    },
    partitions_def=daily_partitions,
    backfill_policy=PER_USER_BACKFILL,
    can_subset=True,
)
def user_ltv(context: dg.AssetExecutionContext, config: UserLtvConfig, user_rfm: pd.DataFrame):
    """Fit BG/NBD + Gamma-Gamma on each report day's ``user_rfm`` (per segment where it has enough
    repeat buyers, else pooled) and predict per user and per cohort x segment."""
    t0 = time.perf_counter()
    days = window_days(context)
    user_rows, user_columns, cohorts, predictions, fit_rows, param_rows = [], [], [], [], [], []
    rows_of = _rows_by_day(user_rfm["report_date"])
    fits = None  # the previous day's: its optima start the day's fits (the same optima, fewer iterations)
    for day in days:
        rfm = user_rfm.iloc[rows_of.get(day, np.zeros(0, dtype=np.int64))]
        if rfm.empty:
            context.log.warning(f"user_ltv {day.date()}: user_rfm has no rows for the day")
            continue
        fits = fit_segments(rfm, min_repeat_buyers=config.min_repeat_buyers, penalizer=config.penalizer,
                            start=fits)
        for note in fits.notes:
            context.log.warning(f"user_ltv {day.date()}: {note}; users without a fit get NaN (model 'none')")
        # the users' own columns are taken from user_rfm once for the run, below (the frame pd.concat of
        # each day's user_ltv_frame would give, without a copy of the key columns per day)
        user_rows.append(rows_of[day])
        user_columns.append(user_ltv_columns(fits, rfm))
        cohort = cohort_ltv_frame(fits, rfm)
        cohorts.append(cohort)
        predictions.append(milestone_predictions(cohort))
        fit_rows.append(fits.table.assign(report_date=day.date()))
        param_rows.append(fits.params().assign(report_date=day.date()))
    user_out = _user_frame(user_rfm, user_rows, user_columns) if user_rows else _empty_like(UserLtvFrame)
    cohort_out = pd.concat(cohorts, ignore_index=True) if cohorts else _empty_like(BtydCohortLtvFrame)
    pred_out = pd.concat(predictions, ignore_index=True) if predictions else _empty_like(BtydPredictionsFrame)
    for frame in (user_out, cohort_out, pred_out):
        for col in ("report_date", "install_date"):
            frame[col] = frame[col].astype("datetime64[ns]")
    fits_table = pd.concat(fit_rows, ignore_index=True) if fit_rows else pd.DataFrame()
    params = pd.concat(param_rows, ignore_index=True) if param_rows else pd.DataFrame()
    last_fits = fits_table[fits_table["report_date"] == fits_table["report_date"].max()] if len(fits_table) else fits_table
    last_params = params[params["report_date"] == params["report_date"].max()] if len(params) else params
    seconds = round(time.perf_counter() - t0, 2)
    label = days_label(days)
    context.log.info(f"user_ltv {label}: {len(user_out)} user rows, {len(cohort_out)} cohort rows, "
                     f"{len(pred_out)} back-test predictions in {seconds}s")
    by_horizon = (cohort_out.groupby("horizon")[["cohort_size", "realised_usd", "expected_usd", "ltv_usd"]].sum()
                  .reset_index().round(2) if len(cohort_out) else pd.DataFrame())
    common = {"window": label, "seconds": seconds}
    selected = context.op_execution_context.selected_output_names
    if "user_ltv" in selected:
        yield dg.Output(user_out, output_name="user_ltv", metadata={
            **common,
            "dagster/row_count": len(user_out),
            "users_without_fit": int((user_out["model"] == "none").sum()) if len(user_out) else 0,
            "fits_last_day": table_md(last_fits, 40),
            "parameters_last_day": table_md(last_params.round(4), 40),
            # the largest rows, not a sort of the run's millions of rows for the few shown
            "preview": table_md(user_out.nlargest(MAX_LISTED, f"ltv_{HORIZONS[-1]}d_usd")),
        })
    if "btyd_cohort_ltv" in selected:
        yield dg.Output(cohort_out, output_name="btyd_cohort_ltv", metadata={
            **common,
            "dagster/row_count": len(cohort_out),
            "interval": "99% prediction interval of the revenue still ahead: parameter covariance (delta method) + the users' own purchase noise, log-normal",
            "totals_by_horizon": table_md(by_horizon, 10),
            "preview": table_md(cohort_out),
        })
    if "btyd_ltv_predictions" in selected:
        yield dg.Output(pred_out, output_name="btyd_ltv_predictions", metadata={
            **common,
            "dagster/row_count": len(pred_out),
            "preview": table_md(pred_out, 20),
        })


# The back-test as of D scores, per horizon h, the cohorts whose h-day revenue completed in the trailing
# 180 days (installed in [D - 179 - h + 1, D - h + 1]), as cohort_ltv_backtest's rows do (its partition is
# that completion day). Payments, segments and BTYD predictions of the last 359 days cover them.
BACKTEST_DAYS = BACKTEST_METRICS_DAYS - 1 + max(BACKTEST_HORIZONS)  # 359
MIN_POOLED_COHORTS = 4  # install months with realised revenue a segment needs before its back-test error is trusted


@daily_table(
    group_name=GROUP,
    dagster_type=LtvBacktestFrame,
    ins={
        "btyd_ltv_predictions": dg.AssetIn(partition_mapping=trailing(BACKTEST_DAYS)),
        "payments_snapshot": dg.AssetIn(partition_mapping=trailing(BACKTEST_DAYS)),
        "user_segments": dg.AssetIn(partition_mapping=trailing(BACKTEST_DAYS)),
        "cohort_ltv_backtest": dg.AssetIn(partition_mapping=trailing(BACKTEST_METRICS_DAYS)),
    },
)
def ltv_backtest(
    context: dg.AssetExecutionContext,
    btyd_ltv_predictions: pd.DataFrame,
    payments_snapshot: pd.DataFrame,
    user_segments: pd.DataFrame,
    cohort_ltv_backtest: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Back-test as of the report day: per horizon (30/90/180 days), the cohorts whose realised
    revenue over it completed in the trailing 180 days -- the rows ``cohort_ltv_backtest`` wrote on
    those days. BTYD's predictions made at day 7/14/30 of each cohort (fitted on the data of that
    day) vs the net revenue per installed user it realised, next to the cohort method's and the
    geometric baseline's, on the cohort x segment cells every estimator has. Metrics (MAPE, bias,
    WAPE, 99% interval coverage) per estimator x segment x made_at_day x horizon, on install-month
    cohorts (``pooling="monthly"``, what ``ltv_estimates`` selects by) and on daily ones."""
    t0 = time.perf_counter()
    days = window_days(context)
    # the run's rows encoded once, each with the days it is scored on (the per-day filters' result)
    first = days[0] - pd.Timedelta(days=capped(BACKTEST_DAYS) - 1)
    segs = user_segments[user_segments["install_date"].between(first, days[-1])]
    realised = realised_per_cohort(payments_snapshot, segs, days[-1])
    rows, valid_from, valid_to = due_rows(btyd_ltv_predictions[btyd_ltv_predictions["install_date"] >= first],
                                          realised, cohort_ltv_backtest, BACKTEST_DAYS, BACKTEST_METRICS_DAYS)
    table, per_day = backtest_days(rows, valid_from, valid_to, days, POOLINGS)
    for d in per_day:
        if len(d.kept) == 0:
            context.log.warning(f"ltv_backtest {d.day.date()}: no cohort has {min(BACKTEST_HORIZONS)} days of "
                                "realised history with predictions from every estimator yet")
        elif d.realised_max_abs_diff > 1e-6:
            context.log.warning(f"ltv_backtest {d.day.date()}: the estimators' realised revenue per user of the same "
                                f"cohort differs by up to {d.realised_max_abs_diff:.6f} USD")
    last = next((d for d in reversed(per_day) if len(d.kept)), None)
    last_rows, info_last = None, None
    if last is not None:
        info_last = Comparison(rows=len(last.kept),
                               dropped=rows["estimator"].iloc[np.setdiff1d(last.selected, last.kept)].value_counts().to_dict(),
                               realised_max_abs_diff=last.realised_max_abs_diff)
        last_rows = rows.iloc[last.kept].reset_index(drop=True)
    out = table[LtvBacktestFrame.column_names] if len(table) else _empty_like(LtvBacktestFrame)
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    metadata = {"window": days_label(days), "backtest_days": BACKTEST_DAYS,
                "dagster/row_count": len(out), "seconds": round(time.perf_counter() - t0, 2)}
    if last_rows is not None:
        monthly = pool_cohorts(last_rows, "MS")
        overall = backtest_metrics(pool_cohorts(last_rows, "MS", across_segments=True), by=OVERALL)
        seg = out[(out["report_date"] == days[-1]) & (out["pooling"] == "monthly")]
        metadata.update({
            "cohorts_last_day": int(last_rows[["install_date", *SEGMENT_KEYS]].drop_duplicates().shape[0]),
            "rows_without_counterpart_last_day": str(info_last.dropped or "none"),
            "realised_max_abs_diff_usd_last_day": round(info_last.realised_max_abs_diff, 9),
            "all_segments_monthly_cohorts": table_md(overall.round(4), 40),
            "per_segment_monthly_cohorts": table_md(seg.drop(columns=["report_date"]).round(4), 300),
            "daily_cohort_x_segment": table_md(backtest_metrics(last_rows, by=OVERALL).round(4), 40),
            "plot": dg.MetadataValue.md(estimators_plot(backtest_metrics(monthly, by=OVERALL))),
        })
    context.log.info(f"ltv_backtest {days_label(days)}: {len(out)} metric rows in {metadata['seconds']}s")
    return dg.Output(out, metadata=metadata)


ESTIMATE_CHUNK_DAYS = 10  # report days chosen per choose_estimates call in ltv_estimates


class LtvEstimatesConfig(dg.Config):
    min_backtest_cohorts: int = Field(
        default=MIN_POOLED_COHORTS,
        description="Back-tested install months (with realised revenue) each estimator needs in a segment before "
                    "the lower back-test error decides; fewer: the cohort method.")
    selection_metric: str = Field(
        default=SELECTION_METRICS[0],
        description="The back-test error the estimators are compared by: 'wape' (revenue-weighted; months "
                    "without a whale purchase do not dominate it) or 'mape' (mean of per-month ratios). "
                    "docs/ltv_btyd.md.")


@daily_table(
    group_name=GROUP,
    dagster_type=LtvEstimatesFrame,
)
def ltv_estimates(
    context: dg.AssetExecutionContext,
    config: LtvEstimatesConfig,
    cohort_ltv: pd.DataFrame,
    btyd_cohort_ltv: pd.DataFrame,
    ltv_backtest: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Per cohort x segment x horizon the ONE LTV per installed user the report uses: the cohort
    method's or BTYD's, whichever back-tested with the lower WAPE (config: MAPE) for that segment and horizon
    (install-month cohorts, at the milestone matching the cohort's age; ties and segments with
    fewer than 4 back-tested months: cohort method; ``ltv.selection``), with its interval, its
    MAPE and which estimator it was. Cohorts older than the cohort method's 180 days get BTYD."""
    t0 = time.perf_counter()
    days = window_days(context)
    # every day in one call, each judged by its own day's back-test (a call per day cost ~0.1 s of merges)
    # ... in chunks of days (each day is judged alone either way): the merges' copies of a 60-day run's
    # ~2.5M candidate rows set the step's peak memory
    inputs = [(cohort_ltv, cohort_ltv["estimator"] == "cohort"), (btyd_cohort_ltv, btyd_cohort_ltv["model"] != NO_FIT),
              (ltv_backtest, ltv_backtest["pooling"] == "monthly")]
    inputs = [(frame, frame["report_date"].to_numpy("datetime64[ns]"), keep.to_numpy()) for frame, keep in inputs]
    pieces, with_rows = [], []
    for i in range(0, len(days), ESTIMATE_CHUNK_DAYS):
        want = np.array([np.datetime64(d, "ns") for d in days[i:i + ESTIMATE_CHUNK_DAYS]], dtype="datetime64[ns]")
        coh, bt, metrics = (frame[np.isin(day, want) & keep] for frame, day, keep in inputs)
        with_rows.extend(np.union1d(coh["report_date"].to_numpy("datetime64[ns]"),
                                    bt["report_date"].to_numpy("datetime64[ns]")))
        if len(coh) or len(bt):
            pieces.append(choose_estimates(_candidates(coh), _candidates(bt), metrics,
                                           min_cohorts=config.min_backtest_cohorts, per_report_date=True,
                                           metric=config.selection_metric))
        del coh, bt, metrics
    with_rows = set(with_rows)
    for day in days:
        if np.datetime64(day, "ns") not in with_rows:
            context.log.warning(f"ltv_estimates {day.date()}: neither estimator has an estimate")
    out = pd.concat(pieces, ignore_index=True) if pieces else _empty_like(LtvEstimatesFrame)
    for col in ("report_date", "install_date"):
        out[col] = out[col].astype("datetime64[ns]")
    last = out[out["report_date"] == out["report_date"].max()] if len(out) else out
    chosen = (last.groupby([*SEGMENT_KEYS, "horizon", "estimator", "selection"]).agg(
        cohorts=("install_date", "size"), users=("cohort_size", "sum"),
        backtest_mape=("backtest_mape", "first"), other_mape=("other_mape", "first")).reset_index()
        if len(last) else pd.DataFrame())
    seconds = round(time.perf_counter() - t0, 2)
    context.log.info(f"ltv_estimates {days_label(days)}: {len(out)} rows in {seconds}s")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "window": days_label(days),
        "seconds": seconds,
        "btyd_share_last_day": float(round((last["estimator"] == "btyd").mean(), 4)) if len(last) else 0.0,
        "choices_last_day": table_md(chosen.round(4), 200),
        "preview": table_md(last),
    })


def _candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """An estimator's rows as ``ltv.selection`` candidates."""
    out = frame[["report_date", "install_date", *SEGMENT_KEYS, "horizon", "cohort_size", "ltv_per_user_usd",
                 "lower_usd", "upper_usd"]].copy()
    out["age_days"] = ((out["report_date"] - out["install_date"]) // pd.Timedelta(days=1)).astype(np.int64)
    return out[CANDIDATE_COLUMNS]

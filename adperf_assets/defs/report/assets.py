"""The ROAS report: per ad and rolled up, for each report day; shown in the UI and sent to Slack.

More: docs/dagster_layer.md."""

from datetime import datetime, timezone

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from adperf_assets.partitions import daily_partitions, single_run, trailing, window_days
from adperf_assets.report import ReportConfig, build_report, prepare_inputs
from adperf_assets.report.columns import typed
from adperf_assets.normalize.dates import as_datetimes
from adperf_assets.report.inputs import INSTALL_COLUMNS, SEGMENT_COLUMNS, SPEND_COLUMNS
from adperf_assets.report.roas import LTV_COLUMNS
from adperf_assets.skan.report import fold_into_report
from adperf_assets.report.messages import MILESTONES, daily_message, milestone_ads, milestone_message
from adperf_assets.report.plot import cost_vs_return_png, png_markdown, roas_curves_figure
from adperf_assets.report.tables import markdown_summary
from adperf_assets.defs.report.slack import SlackPostError, SlackSender
from adperf_assets.report.decision_scores import summarise, summary_line
from adperf_assets.defs.report.schemas import RoasReportFrame
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.metadata import OWNERS, days_label, figure_md
from adperf_assets.defs.common.tables import daily_table

GROUP = "report"
MAX_AD_AGE_DAYS = current_settings().report_max_ad_age_days
REPORT_CURRENCY = current_settings().report_currency
SENT_LOG = "slack_milestones_sent"


REPORT_INS = {  # only the columns the report reads (``report.inputs``): 400 days of rows are loaded
    "ad_spend": dg.AssetIn(key="ad_spend", partition_mapping=trailing(MAX_AD_AGE_DAYS),
                           metadata={"columns": [*SPEND_COLUMNS, "cost_usd"]}),
    "installs": dg.AssetIn(key="installs", partition_mapping=trailing(MAX_AD_AGE_DAYS),
                           metadata={"columns": INSTALL_COLUMNS}),
    "user_segments": dg.AssetIn(key="user_segments", partition_mapping=trailing(MAX_AD_AGE_DAYS),
                                metadata={"columns": SEGMENT_COLUMNS}),
    "behavior_value": dg.AssetIn(key="behavior_value", partition_mapping=trailing(MAX_AD_AGE_DAYS)),
    "ltv_estimates": dg.AssetIn(key="ltv_estimates", metadata={"columns": LTV_COLUMNS}),
    "skan_modelled": dg.AssetIn(key="skan_modelled"),
}


class RoasReportConfig(dg.Config):
    horizon_days: int = Field(default=180, description="LTV horizon of the estimated return (one of 30/90/180/365).")
    scale_above: float = Field(default=1.2, description="'scale' when the LOWER bound of estimated ROAS is above this.")
    stop_below: float = Field(default=1.0, description="'stop' when the UPPER bound of estimated ROAS is below this.")
    min_cost_usd: float = Field(default=50.0, description="No scale/stop verdict before this much spend.")
    min_days: int = Field(default=3, description="No scale/stop verdict before this many days of spend.")
    interval_rule: str = Field(default="segments_independent",
                               description="'segments_independent' (quadrature across segments) or 'comonotone'.")
    estimate_basis: str = Field(default="ad_credibility",
                                description="'segment_average' (users x LTV per user of their cohort x segment), "
                                            "'realised_plus_expected' (their realised return + the curve's rest) or "
                                            "'ad_credibility' (installs x the ad's own per-install estimate, "
                                            "credibility-weighted toward its segment).")
    top_n: int = Field(default=10, description="Ads shown in the metadata's top and bottom tables.")

    def report_config(self) -> ReportConfig:
        return ReportConfig(horizon_days=self.horizon_days, max_ad_age_days=MAX_AD_AGE_DAYS,
                            scale_above=self.scale_above, stop_below=self.stop_below, min_cost_usd=self.min_cost_usd,
                            min_days=self.min_days, interval_rule=self.interval_rule,
                            estimate_basis=self.estimate_basis, currency=REPORT_CURRENCY)


def _per_day(report: pd.DataFrame) -> pd.DataFrame:
    """Per report day the all-network totals (sums over the day's network rows, as ``totals``) and the ads'
    recommendations."""
    nets = report[report["level"] == "network"]
    if nets.empty:
        return pd.DataFrame()
    sums = nets.groupby("report_date")[["cost_to_date_usd", "return_to_date_usd", "estimated_return_usd"]].sum()
    ads = report[report["level"] == "ad"]
    n_ads = ads.groupby("report_date").size()
    recs = ads.groupby(["report_date", "recommendation"]).size()
    rows = []
    for day, cost, ret, est in sums.itertuples(name=None):
        rows.append({"report_date": day.date(), "ads": int(n_ads.get(day, 0)), "cost_usd": round(cost, 2),
                     "return_usd": round(ret, 2), "estimated_usd": round(est, 2),
                     "roas": round(ret / cost, 3) if cost > 0 else np.nan,
                     "estimated_roas": round(est / cost, 3) if cost > 0 else np.nan,
                     **{k: int(recs.get((day, k), 0)) for k in ("scale", "keep", "stop")}})
    return pd.DataFrame(rows)


def compute_report(context: dg.AssetExecutionContext, config: RoasReportConfig, ad_spend: pd.DataFrame,
                   installs: pd.DataFrame, user_segments: pd.DataFrame, behavior_value: pd.DataFrame,
                   ltv_estimates: pd.DataFrame | None, skan_modelled: pd.DataFrame | None = None) -> dg.Output[pd.DataFrame]:
    cfg = config.report_config()
    days = window_days(context)
    if ltv_estimates is None:
        context.log.warning("built without ltv_estimates: every estimated return is the realised one")
        ltv_estimates = pd.DataFrame({c: pd.Series(dtype=object) for c in LTV_COLUMNS})
    inputs = prepare_inputs(ad_spend, installs, user_segments, behavior_value, ltv_estimates)
    last_day = days[-1]
    report, infos = build_report(inputs, days, cfg, curves_on=last_day)
    report = typed(fold_into_report(report, skan_modelled, cfg), cfg)  # iOS: measured + SKAN-modelled
    last = report[report["report_date"] == last_day]
    unmatched = pd.DataFrame([{"report_date": i.report_date.date(), "users": i.unmatched_users,
                               "return_usd": round(i.unmatched_return_usd, 2), "ad_ids": ", ".join(i.unmatched_ads[:10])}
                              for i in infos if i.unmatched_users])
    no_ltv = [str(i.report_date.date()) for i in infos if i.ads and not i.ltv_rows]
    # one warning of each kind per run, not per day (each is a write to the event log)
    lost = [f"{i.report_date.date()}: {i.unmatched_users} users attributed to {len(i.unmatched_ads)} ad id(s) without "
            f"spend in the window (return ${i.unmatched_return_usd:,.2f}) are in no row, e.g. {i.unmatched_ads[:5]}"
            for i in infos if i.unmatched_users]
    notes = [f"{i.report_date.date()}: {i.estimate_note}" for i in infos if i.estimate_note]
    no_seg = [f"{i.report_date.date()}: {i.users_without_segment}" for i in infos if i.users_without_segment]
    if lost:
        context.log.warning("\n".join(lost))
    if notes:
        context.log.warning("\n".join(notes))
    if no_seg:
        context.log.warning("users without a user_segments row (they count with their realised return only), per "
                            f"report day: {', '.join(no_seg)}")
    if no_ltv:
        context.log.warning(f"ltv_estimates has no rows for {', '.join(no_ltv[:10])}: estimated return = realised there")
    ads_last = last[last["level"] == "ad"]
    context.log.info(f"roas_report {days_label(days)}: {len(report)} rows; {last_day.date()}: {len(ads_last)} ads, "
                     f"{(ads_last['recommendation'] == 'scale').sum()} scale, "
                     f"{(ads_last['recommendation'] == 'stop').sum()} stop")
    png = cost_vs_return_png(last, cfg)
    metadata = {
        "dagster/row_count": len(report),
        "report_days": days_label(days),
        "summary": dg.MetadataValue.md(markdown_summary(last, config.top_n, cfg)),
        "plot": dg.MetadataValue.md(png_markdown(png, f"cost vs estimated return, {last_day.date()}")),
        "ads": len(ads_last),
        **{f"roas_curves_{lv}": figure_md(roas_curves_figure(infos[-1].curves, lv, config=cfg),
                                          f"cohort ROAS per {lv}, {last_day.date()}")
           for lv in ("campaign", "network") if infos[-1].curves is not None},
        "per_day": dg.MetadataValue.md(_per_day(report).to_markdown(index=False) if len(report) else "_no rows_"),
        "horizon_days": cfg.horizon_days,
        "max_ad_age_days": cfg.max_ad_age_days,
        "thresholds": dg.MetadataValue.json({"scale_above": cfg.scale_above, "stop_below": cfg.stop_below,
                                             "min_cost_usd": cfg.min_cost_usd, "min_days": cfg.min_days,
                                             "interval_rule": cfg.interval_rule,
                                             "estimate_basis": cfg.estimate_basis}),
        "ads_estimated_below_realised": int((ads_last["estimated_return_usd"] < ads_last["return_to_date_usd"]).sum()),
        "credit_methods": ", ".join(inputs.credit_methods) or "none",
        "users_on_ads": int(sum(i.users for i in infos)),
        "users_without_estimate": int(sum(i.users_without_estimate for i in infos)),
        "users_without_segment": int(sum(i.users_without_segment for i in infos)),
        "unmatched_users": dg.MetadataValue.md(unmatched.to_markdown(index=False) if len(unmatched) else "_none_"),
        "days_without_ltv_estimates": ", ".join(no_ltv) or "none",
        "skan_modelled_campaigns": int(((last["level"] == "campaign") & (last["return_basis"] != "measured")).sum()),
        "skan_modelled_ads": int(((last["level"] == "ad") & (last["return_basis"] != "measured")).sum()),
        "input_rows": dg.MetadataValue.json({"ad_spend": len(ad_spend), "installs": len(installs),
                                             "user_segments": len(user_segments), "behavior_value": len(behavior_value),
                                             "ltv_estimates": len(ltv_estimates)}),
    }
    return dg.Output(report, metadata=metadata)


def build_roas_report(with_ltv_estimates: bool) -> dg.AssetsDefinition:
    """The ``roas_report`` asset; ``with_ltv_estimates=False`` builds it without the LTV input
    (every estimate is then the realised return) for a code location that has no LTV chain."""
    ins = dict(REPORT_INS) if with_ltv_estimates else {k: v for k, v in REPORT_INS.items() if k != "ltv_estimates"}

    @daily_table(
    group_name=GROUP,
    dagster_type=RoasReportFrame,
    name="roas_report",
    ins=ins,
    description=DESCRIPTION,
)
    def _roas_report(context: dg.AssetExecutionContext, config: RoasReportConfig, **tables):
        return compute_report(context, config, tables["ad_spend"], tables["installs"], tables["user_segments"],
                              tables["behavior_value"], tables.get("ltv_estimates"), tables.get("skan_modelled"))

    return _roas_report


DESCRIPTION = ("Per report day, per ad and rolled up per ad group, campaign, account and network: cost to date, "
               "return to date (behaviour credit of the attributed users, payments beside it), estimated return at "
               "the LTV horizon with its 99% interval, ROAS and estimated ROAS, D7/D14/D30 ROAS, payback day and "
               "scale / keep / stop with the reason.")
roas_report = build_roas_report(with_ltv_estimates=True)


# ------------------------------------------------------------------------------------------- Slack
class SlackSendConfig(dg.Config):
    days: str = Field(default="last", description="'last': only the window's last day is sent (a backfill does "
                                                  "not flood the channel); 'all': every day of the window.")
    top_n: int = Field(default=5, description="Ads in the message's top and bottom tables.")
    dagster_url: str = Field(default="", description="Base URL of the Dagster UI for a link in the message.")


def _days_to_send(days: list[pd.Timestamp], mode: str) -> list[pd.Timestamp]:
    if mode not in ("last", "all"):
        raise ValueError(f"days={mode!r}; choose 'last' or 'all'")
    return days if mode == "all" else days[-1:]


def _thresholds(report: pd.DataFrame) -> ReportConfig:
    """The config the report was computed with, as far as the messages need it (horizon)."""
    horizon = int(report["horizon_days"].iloc[0]) if len(report) else 180
    return ReportConfig(horizon_days=horizon, max_ad_age_days=MAX_AD_AGE_DAYS, currency=REPORT_CURRENCY)


@dg.asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    ins={"roas_report": dg.AssetIn(), "decision_backtest": dg.AssetIn()},
    kinds={"slack"},
    owners=OWNERS,
)
def roas_report_slack(context: dg.AssetExecutionContext, config: SlackSendConfig, slack: SlackSender,
                      roas_report: pd.DataFrame, decision_backtest: pd.DataFrame) -> dg.MaterializeResult:
    """The day's report as a Slack message (Block Kit: totals, top and bottom ads, what to scale or
    stop, and how often such calls were right: ``decision_backtest``). A failed post is retried with
    bounded backoff, then fails this step with the HTTP status."""
    days = window_days(context)
    sent = []
    for day in _days_to_send(days, config.days):
        rep = roas_report[as_datetimes(roas_report["report_date"]) == day]
        link = f"{config.dagster_url.rstrip('/')}/assets/roas_report" if config.dagster_url else None
        scored = decision_backtest[as_datetimes(decision_backtest["report_date"]) == day]
        since = as_datetimes(scored["call_date"]).min() if len(scored) else day  # the window decision_backtest ran with
        message = daily_message(rep, config.top_n, _thresholds(rep), link, summary_line(summarise(scored), since))
        try:
            d = slack.send(message, f"roas_report_{day.date()}")
        except SlackPostError as exc:
            raise dg.Failure(description=str(exc), metadata={"http_status": exc.status if exc.status is not None else -1,
                                                             "attempts": exc.attempts, "report_date": str(day.date())},
                             allow_retries=False) from None
        context.log.info(f"roas_report {day.date()} sent to {d.where} after {d.attempts} attempt(s)")
        sent.append({"report_date": str(day.date()), "status": d.status, "attempts": d.attempts,
                     "text": message["text"]})
    return dg.MaterializeResult(metadata={
        "destination": slack.describe(),
        "messages": len(sent),
        "sent": dg.MetadataValue.md(pd.DataFrame(sent).to_markdown(index=False) if sent else "_none_"),
    })


def ensure_sent_log(con) -> None:
    con.execute(f"""create schema if not exists analytics;
        create table if not exists analytics.{SENT_LOG} (
            network varchar not null, ad_id varchar not null, milestone integer not null,
            report_date date not null, first_spend_date date not null, status varchar not null,
            claimed_at timestamp not null, sent_at timestamp, destination varchar,
            primary key (network, ad_id, milestone))""")


def claim(duckdb: DuckDBResource, row: pd.Series) -> bool:
    """Insert a 'sending' row for (network, ad, milestone); False if one exists (sent or being sent)."""
    with duckdb.get_connection() as con:
        ensure_sent_log(con)
        # the insert's own row count: 0 when another run (any machine, the log's database is shared) holds the claim
        inserted = con.execute(
            f"insert into analytics.{SENT_LOG} (network, ad_id, milestone, report_date, first_spend_date, "
            f"status, claimed_at) values (?, ?, ?, ?, ?, 'sending', ?) on conflict do nothing",
            [row["network"], row["ad_id"], int(row["milestone"]), pd.Timestamp(row["report_date"]).date(),
             pd.Timestamp(row["first_spend_date"]).date(), datetime.now(timezone.utc).replace(tzinfo=None)]).fetchone()[0]
    return inserted > 0


def settle(duckdb: DuckDBResource, row: pd.Series, destination: str | None) -> None:
    """Mark a claimed milestone sent (destination given) or release the claim (None: the post failed)."""
    key = [row["network"], row["ad_id"], int(row["milestone"])]
    with duckdb.get_connection() as con:
        if destination is None:
            con.execute(f"delete from analytics.{SENT_LOG} where network = ? and ad_id = ? and milestone = ? "
                        f"and status = 'sending'", key)
        else:
            con.execute(f"update analytics.{SENT_LOG} set status = 'sent', sent_at = ?, destination = ? "
                        f"where network = ? and ad_id = ? and milestone = ?",
                        [datetime.now(timezone.utc).replace(tzinfo=None), destination, *key])


def sent_log(duckdb: DuckDBResource) -> pd.DataFrame:
    with duckdb.get_connection() as con:
        ensure_sent_log(con)
        return con.execute(f"select * from analytics.{SENT_LOG} order by report_date, network, ad_id, milestone").df()


@dg.asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    ins={"roas_report": dg.AssetIn()},
    kinds={"slack", "duckdb"},
    owners=OWNERS,
)
def roas_milestones_slack(context: dg.AssetExecutionContext, config: SlackSendConfig, slack: SlackSender,
                          duckdb: DuckDBResource, roas_report: pd.DataFrame) -> dg.MaterializeResult:
    """Each ad that reaches day 7, 14 or 30 of its life (day 1 = first day of spend) on the report
    day gets one message with its cost, return, estimated return and ROAS — exactly once: the sent
    log ``analytics.slack_milestones_sent`` (primary key network, ad_id, milestone) is claimed before
    the post and released if the post fails, so re-runs and overlapping runs never resend."""
    days = window_days(context)
    sent, skipped, failed = [], [], []
    for day in _days_to_send(days, config.days):
        rep = roas_report[as_datetimes(roas_report["report_date"]) == day]
        for _, row in milestone_ads(rep, MILESTONES).iterrows():
            what = {"report_date": str(day.date()), "network": row["network"], "ad_id": row["ad_id"],
                    "milestone": int(row["milestone"])}
            if not claim(duckdb, row):
                skipped.append(what)
                continue
            try:
                d = slack.send(milestone_message(row, REPORT_CURRENCY), f"milestone_d{int(row['milestone'])}_{row['network']}_{row['ad_id']}")
            except SlackPostError as exc:
                settle(duckdb, row, None)
                failed.append({**what, "http_status": exc.status, "error": str(exc)})
                continue
            settle(duckdb, row, d.where)
            sent.append(what)
    context.log.info(f"milestones {days_label(days)}: {len(sent)} sent, {len(skipped)} already sent, {len(failed)} failed")
    if failed:
        statuses = sorted({str(f["http_status"]) for f in failed})
        raise dg.Failure(description=f"{len(failed)} milestone message(s) could not be sent (HTTP status "
                                     f"{', '.join(statuses)}); {len(sent)} sent. Re-run to retry only the unsent ones.",
                         metadata={"failed": dg.MetadataValue.md(pd.DataFrame(failed).to_markdown(index=False)),
                                   "http_status": int(failed[0]["http_status"] or -1)},
                         allow_retries=False)
    md = lambda rows: dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False) if rows else "_none_")  # noqa: E731
    return dg.MaterializeResult(metadata={
        "destination": slack.describe(), "sent": len(sent), "already_sent": len(skipped),
        "sent_messages": md(sent), "skipped_as_already_sent": md(skipped)})

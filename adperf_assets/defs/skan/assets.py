"""SKAN postbacks: the MMP's raw SKAdNetwork postbacks as one typed table (docs/skan.md)."""

import dagster as dg
import pandas as pd

from adperf_assets.defs.attribution.assets import _utc_window
from adperf_assets.defs.common.metadata import OWNERS, table_md
from adperf_assets.defs.common.tables import daily_table
from adperf_assets.defs.skan.google_ads_skan import GoogleAdsSkanSource, skan_frame
from adperf_assets.defs.skan.resources import SkanCopySource, SkanPostbackSource
from adperf_assets.defs.skan.schemas import GoogleAdsSkanFrame, SkanModelledFrame, SkanPostbacksFrame
from adperf_assets.fork_map import fork_map
from adperf_assets.partitions import daily_partitions, single_run, trailing, window_days
from adperf_assets.settings import current_settings
from adperf_assets.skan.report import FIRST_POSTBACK_DAYS, calibration, calibration_users, empty_modelled, modelled_campaigns
from adperf_assets.skan.schema import ATT_EXEMPT_NETWORKS
from adperf_assets.normalize.attribution import SOURCE_FILE, AttributionInputError
from adperf_assets.skan.apple_copies import AAK_VERSION, APP_ID, KEY, REENGAGEMENT, combine
from adperf_assets.skan.apps import ours
from adperf_assets.skan.postbacks import COLUMNS, inferred_tier, parse_appsflyer


def with_arrival_day(t: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Table rows with their report-zone arrival day first, sorted by arrival."""
    t = t.copy()
    day = (pd.to_datetime(t["arrival_time_utc"]).dt.tz_localize("UTC").dt.tz_convert(tz)
           .dt.tz_localize(None).dt.normalize().astype("datetime64[ns]"))
    t.insert(0, "arrival_date", day)
    t["arrival_time_utc"] = pd.to_datetime(t["arrival_time_utc"]).astype("datetime64[ns]")
    return t.sort_values(["arrival_time_utc", "transaction_id", "postback_sequence_index"],
                         kind="stable", ignore_index=True)[["arrival_date", *COLUMNS]]


def mmp_postbacks(raw: pd.DataFrame, apps: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The export's rows of the measured app(s), parsed, and how many rows each other app had
    (``skan.apps``; the export's ``app_id`` column)."""
    if raw.empty or ("app_id" not in raw and not apps):
        return parse_appsflyer(raw), {}
    if "app_id" not in raw:
        raise AttributionInputError(str(raw[SOURCE_FILE].iloc[0]), "header", "app_id", None,
                                    "column missing: the rows cannot be kept to the apps of ADPERF_IOS_APP_IDS")
    keep, others = ours(raw["app_id"], apps, f"the SKAN postback export ({raw[SOURCE_FILE].iloc[0]}, ...)")
    return parse_appsflyer(raw[keep]), others


def version_counts(version: pd.Series) -> pd.DataFrame:
    """Postbacks per framework version, labelled as text ("SKAdNetwork 4.0", not a number to a table)."""
    label = version.map(lambda v: v if v == AAK_VERSION else f"SKAdNetwork {v}" if v else "(not in the export)")
    return label.value_counts().rename_axis("version").rename("postbacks").reset_index()


def postbacks_table(raw: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Parsed postbacks with their report-zone arrival day first, sorted by arrival."""
    return with_arrival_day(parse_appsflyer(raw), tz)


#: A copy and its MMP twin may arrive on either side of midnight; a device retries an unanswered copy for
#: up to 9 days (Apple). The margins the dedup reads around the day.
TWIN_MARGIN = pd.Timedelta(days=1)
RETRY_DAYS = pd.Timedelta(days=9)
COPIES_CHECK = "skan_postback_copies_verified"


SKAN_POSTBACKS_DOC = (
    "The SKAdNetwork postbacks that arrived on the day (report time zone): each one as the MMP received it, with "
    "its campaign from the network's source-identifier mapping, plus the verified copies Apple sent us directly "
    "that the MMP's export lacks (the MMP's row wins a postback both hold).")


# a multi-asset for its one table: a run without checks (the report job's) can select the table alone
@dg.multi_asset(
    outs={"skan_postbacks": dg.AssetOut(
        group_name="skan", dagster_type=SkanPostbacksFrame, metadata={"partition_expr": "arrival_date"},
        kinds={"pandas", "duckdb"}, owners=OWNERS, description=SKAN_POSTBACKS_DOC)},
    partitions_def=daily_partitions, backfill_policy=single_run, can_subset=True,
    check_specs=[dg.AssetCheckSpec(COPIES_CHECK, asset="skan_postbacks", description=(
        "Every line of Apple's postback copies for the day verified and parsed (rejected lines: forged, "
        "altered, unknown key or network, malformed; listed with file, line, field)."))],
)
def skan_postbacks(context: dg.AssetExecutionContext, skan_postback_source: SkanPostbackSource,
                   skan_copy_source: SkanCopySource):
    """See ``SKAN_POSTBACKS_DOC``."""
    start, end = _utc_window(context)
    tz, apps = current_settings().report_timezone, current_settings().ios_app_ids
    mmp, other_apps = mmp_postbacks(skan_postback_source.raw_postbacks(start, end), apps)
    copies, rejected = skan_copy_source.copies(start, end)
    keep, other_apps_copies = ours(copies[APP_ID], apps, "Apple's postback copies")
    copies = copies[keep]
    reengaged = copies[REENGAGEMENT].to_numpy(dtype=bool)  # verified, but not installs: the table holds installs
    copies = copies[~reengaged]
    if other_apps or other_apps_copies:
        context.log.info(f"left out other apps' postbacks: {other_apps} in the MMP's export, {other_apps_copies} "
                         f"among Apple's copies (measured: {', '.join(apps)})")
    stats = {}
    if len(copies):
        # the MMP's rows around the day: a twin across midnight, and the network's identifier mapping
        wide, _ = mmp_postbacks(skan_postback_source.raw_postbacks(start - TWIN_MARGIN, end + TWIN_MARGIN,
                                                                   required=(start, end)), apps)
        # a retry counted on an earlier day; not filtered by app: a key names one postback, so another app's
        # earlier copy never matches ours (and a day with other apps' copies must not fail the next nine)
        seen, _ = skan_copy_source.copies(start - RETRY_DAYS, start)
        again = pd.MultiIndex.from_frame(copies[KEY]).isin(pd.MultiIndex.from_frame(seen[KEY]))
        stats["copies_seen_on_an_earlier_day"] = int(again.sum())
        combined, more = combine(mmp, copies[~again], wide)
        stats.update(more)
    else:
        combined = mmp
    table = with_arrival_day(combined, tz)
    tiers = inferred_tier(table).value_counts().sort_index().rename_axis("tier").rename("postbacks").reset_index()
    by = (table.groupby(["network", "campaign_id", "postback_sequence_index"]).size().rename("postbacks")
          .reset_index())
    yield dg.Output(table, output_name="skan_postbacks", metadata={
        "dagster/row_count": len(table), "window_utc": f"{start} .. {end}",
        "won_first_postbacks": int(((table["postback_sequence_index"] == 0) & table["did_win"]).sum()),
        "apple_copies_verified": len(copies), "apple_copies_rejected": len(rejected),
        "apple_reengagement_copies": int(reengaged.sum()),
        "other_apps_postbacks_left_out": sum(other_apps.values()) + sum(other_apps_copies.values()),
        **{f"apple_{k}": v for k, v in stats.items()},
        "tiers_of_first_postbacks": table_md(tiers), "by_campaign": table_md(by, 30),
        # SKAdNetwork before 4.0 sends one postback an install: the decoder cannot tell whether its user came back
        "postbacks_by_version": table_md(version_counts(table["version"])),
        "preview": table_md(table),
    })
    if dg.AssetCheckKey(dg.AssetKey("skan_postbacks"), COPIES_CHECK) not in context.selected_asset_check_keys:
        return
    yield dg.AssetCheckResult(
        check_name=COPIES_CHECK, passed=rejected.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"verified": len(copies), "rejected": len(rejected),
                  "rejected_by_field": table_md(rejected.groupby(["field", "problem"]).size().rename("lines")
                                                .reset_index(), 20),
                  "rejected_lines": table_md(rejected, 30)})


@daily_table(group_name="skan", dagster_type=GoogleAdsSkanFrame)
def google_ads_skan(context: dg.AssetExecutionContext, google_ads_skan_source: GoogleAdsSkanSource) -> dg.Output[pd.DataFrame]:
    """Google Ads' own SKAdNetwork counts for the day (``segments.date``) for every customer: a second view
    of the Google postbacks next to the MMP's, with Google's installs metric."""
    days = window_days(context)  # one day, or a backfill's range in one run
    first, last = days[0].date(), days[-1].date()
    rows = [r for cid in google_ads_skan_source.skan_customer_ids() for r in google_ads_skan_source.skan_rows(cid, first, last)]
    table = skan_frame(rows)
    return dg.Output(table, metadata={"dagster/row_count": len(table), "installs": int(table["installs"].sum()),
                                      "conversions": int(table["conversions"].sum()), "preview": table_md(table)})


MODEL_DAYS = current_settings().report_max_ad_age_days


@daily_table(
    group_name="skan", dagster_type=SkanModelledFrame,
    ins={"skan_postbacks": dg.AssetIn(partition_mapping=trailing(MODEL_DAYS + FIRST_POSTBACK_DAYS)),
         **{k: dg.AssetIn(partition_mapping=trailing(MODEL_DAYS))
            for k in ("installs", "user_activity", "behavior_value")}},
)
def skan_modelled(context: dg.AssetExecutionContext, skan_postbacks: pd.DataFrame, installs: pd.DataFrame,
                  user_activity: pd.DataFrame,
                  behavior_value: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Per report day and iOS campaign with postbacks: the installs the MMP could not attribute (no ATT
    consent) and their return to date with a 99% interval, decoded from the postbacks and calibrated on
    the users whose keys the app knows, tracked and restricted (``SkanDecoder``); below each campaign, the
    part of it that postbacks naming an ad group or ad carry (``skan.allocate``). What the report adds to its
    campaign, ad group and ad rows."""
    # the networks that send postbacks: their tracked iOS users, and the restricted ones, calibrate the decoder
    networks = set(skan_postbacks["network"].astype(str)) - ATT_EXEMPT_NETWORKS
    known = calibration_users(installs, sorted(networks))
    # only those users' payments and logins are read, day after day: kept once per run
    behavior_value = behavior_value[behavior_value["user_id"].isin(known["user_id"])]
    user_activity = user_activity[user_activity["user_id"].isin(known["user_id"])]
    # the cohorts the installs table holds (the report's window, or less where its history starts later)
    first = pd.to_datetime(installs["install_date"]).min() if len(installs) else None
    tz = current_settings().report_timezone

    def one_day(day: pd.Timestamp) -> pd.DataFrame:
        since = max(day - pd.Timedelta(days=MODEL_DAYS - 1), first) if first is not None else day
        t = known[(known["install_date"] <= day) & (known["install_date"] >= since)]
        calib = calibration(t, behavior_value, user_activity, day)
        return modelled_campaigns(skan_postbacks, calib, day, since, tz, user_ads=installs)

    frames = [f for f in fork_map(one_day, window_days(context)) if len(f)]
    table = pd.concat(frames, ignore_index=True) if frames else empty_modelled()
    camp = table[table["level"] == "campaign"]
    return dg.Output(table, metadata={
        "dagster/row_count": len(table), "campaigns": int(camp[["network", "campaign_id"]].drop_duplicates().shape[0]),
        "modelled_installs": int(camp["modelled_installs"].sum()),
        # of them, on ad rows (named by 4-digit postbacks, or allocated by the tracked users); the rest stays above
        "modelled_installs_on_ads": int(table.loc[table["level"] == "ad", "modelled_installs"].sum()),
        "preview": table_md(table, 30)})

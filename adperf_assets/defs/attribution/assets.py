"""Attribution: which ad (or none) brought each app user, and the user's segment keys.

More: docs/dagster_layer.md."""


import dagster as dg
import pandas as pd
from pydantic import Field

from adperf_assets.normalize.attribution import (
    APP_USER_COLUMNS,
    MMPS,
    attribute_installs,
    parse_rows,
)
from adperf_assets.normalize.devices import emulator_reason
from adperf_assets.defs.revenue.app_db import AppDatabase
from adperf_assets.defs.attribution.mmp import MmpInstallsSource, app_users
from adperf_assets.defs.attribution.schemas import InstallsFrame, UserSegmentsFrame
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.metadata import table_md
from adperf_assets.defs.common.tables import daily_table

SEGMENT_COLUMNS = ["install_date", "user_id", "platform", "attribution", "network", "country", "is_emulator"]


class InstallsConfig(dg.Config):
    mmp: str = Field(default="appsflyer", description="Which MMP export to read: 'appsflyer' or 'adjust'.")
    reattribution: str = Field(
        default="first",
        description="'first': a user keeps the ad of their first install; 'last': their latest non-organic "
                    "re-attribution within reattribution_window_days.")
    lookback_days: int = Field(default=30, description="Days of MMP rows before the window read to recognise known users.")
    reattribution_window_days: int = Field(default=30, description="Days after the window read for reattribution='last'.")
    signup_tolerance_minutes: float = Field(
        default=60.0, description="An MMP install may come this long after the app account's created_at (clock skew).")


def _utc_window(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    w = context.partition_time_window
    return (pd.Timestamp(w.start).tz_convert("UTC").tz_localize(None),
            pd.Timestamp(w.end).tz_convert("UTC").tz_localize(None))


@daily_table(
    group_name="attribution",
    dagster_type=InstallsFrame,
    partition_expr="install_date",
)
def installs(
    context: dg.AssetExecutionContext,
    config: InstallsConfig,
    appsflyer: MmpInstallsSource,
    adjust: MmpInstallsSource,
    app_db: AppDatabase,
) -> dg.Output[pd.DataFrame]:
    """One row per app user on the report-zone day of their first install: network, campaign,
    ad group and ad from the MMP (organic kept as organic), or ``unattributed`` for app users the
    MMP never reported."""
    if config.mmp not in MMPS:
        raise ValueError(f"installs config mmp={config.mmp!r}; choose one of {', '.join(MMPS)}")
    if config.reattribution not in ("first", "last"):
        raise ValueError(f"installs config reattribution={config.reattribution!r}; choose 'first' or 'last'")
    tz = current_settings().report_timezone
    start, end = _utc_window(context)
    tol = pd.Timedelta(minutes=config.signup_tolerance_minutes)
    ahead = tol + (pd.Timedelta(days=config.reattribution_window_days) if config.reattribution == "last"
                   else pd.Timedelta(0))
    read_from, read_to = start - pd.Timedelta(days=config.lookback_days), end + ahead
    source = appsflyer if config.mmp == "appsflyer" else adjust
    raw = source.raw_installs(read_from, read_to, required=(start, end))
    parsed = parse_rows(config.mmp, raw)
    users = app_users(app_db, ids=parsed.events["user_id"].unique(), created=(start, end))
    result = attribute_installs(parsed.events, users[APP_USER_COLUMNS], start, end, tz, config.mmp,
                                config.reattribution, tol)
    table, rep = result.table, result.report

    no_uid = len(parsed.without_user_id[(parsed.without_user_id["event_time_utc"] >= start)
                                        & (parsed.without_user_id["event_time_utc"] < end)])
    if no_uid:
        context.log.warning(f"{no_uid} {config.mmp} install rows in the window have no customer user id "
                            "(installs that never reached sign-up); they are not app users and are not in the table")
    if rep.unattributed:
        context.log.warning(f"{rep.unattributed} app users created in the window have no {config.mmp} install row "
                            f"(unattributed): {rep.unattributed_user_ids[:20]}")
    by_network = (table.groupby(["attribution", "network"]).size().rename("users").reset_index()
                  .sort_values("users", ascending=False))
    context.log.info(f"installs {start}..{end} UTC from {config.mmp}: {len(table)} users "
                     f"({rep.paid} paid, {rep.organic} organic, {rep.unattributed} unattributed)")
    return dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "mmp": config.mmp,
        "reattribution": config.reattribution,
        "window_utc": f"{start} .. {end}",
        "rows_read": dg.MetadataValue.text(f"{len(raw)} rows read for {read_from} .. {read_to} UTC"),
        "paid": rep.paid,
        "organic": rep.organic,
        "unattributed": rep.unattributed,
        "unattributed_share": float(rep.unattributed / len(table)) if len(table) else 0.0,
        "unattributed_user_ids": dg.MetadataValue.text(", ".join(map(str, rep.unattributed_user_ids[:200])) or "none"),
        "rows_without_user_id": no_uid,
        "later_rows_ignored": rep.later_rows,
        "reattributed_users": rep.reattributed_users,
        "rows_of_earlier_users": rep.rows_of_earlier_users,
        "late_mmp_users": rep.late_mmp_users,
        "users_not_in_app_db": rep.users_not_in_app_db,
        "by_network": table_md(by_network, 30),
        "preview": table_md(table),
    })


@daily_table(
    group_name="attribution",
    dagster_type=UserSegmentsFrame,
    partition_expr="install_date",
)
def user_segments(context: dg.AssetExecutionContext, installs: pd.DataFrame, app_db: AppDatabase) -> dg.Output[pd.DataFrame]:
    """Per user the segment keys LTV and the report use — platform, paid/organic/unattributed,
    network, country — and ``is_emulator`` from the app database's device fields (rule in
    :mod:`adperf_assets.normalize.devices`)."""
    users = app_users(app_db, ids=installs["user_id"].unique())
    dev = installs[["user_id"]].merge(users[["user_id", "device_manufacturer", "device_model"]], on="user_id",
                                      how="left")
    reason = emulator_reason(dev["device_manufacturer"], dev["device_model"])
    out = installs.assign(is_emulator=(reason != "").to_numpy())[SEGMENT_COLUMNS].copy()
    out["install_date"] = out["install_date"].astype("datetime64[ns]")
    out = out.sort_values(["install_date", "user_id"], kind="stable").reset_index(drop=True)
    no_device = int(dev["device_model"].isna().sum())
    if no_device:
        context.log.warning(f"{no_device} users have no device row in the app database; counted as not emulator")
    reasons = reason[reason != ""].value_counts().rename_axis("marker").rename("users").reset_index()
    segs = (out.groupby(["platform", "attribution", "network", "is_emulator"]).size().rename("users").reset_index())
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "emulators": int(out["is_emulator"].sum()),
        "users_without_device": no_device,
        "emulator_markers": table_md(reasons),
        "segments": table_md(segs, 40),
        "preview": table_md(out),
    })

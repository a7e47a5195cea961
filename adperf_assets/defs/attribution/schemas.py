"""Attribution tables: ``installs`` (one row per app user, at their first install) and ``user_segments``."""

from dagster_pandas import PandasColumn

from adperf_assets.defs.common.schema_types import bool_col, date_col, frame_type, int_col, str_col

ATTRIBUTIONS = {"paid", "organic", "unattributed"}
PLATFORMS = {"android", "ios"}
MMPS = {"appsflyer", "adjust"}

InstallsFrame = frame_type(
    "InstallsFrame",
    "One row per app user, on the report-time-zone day of their first install: the network, campaign, "
    "ad group and ad the MMP credits (empty ids for organic/unattributed users).",
    [
        date_col("install_date"),
        int_col("user_id", min_value=1),
        date_col("install_time_utc"),
        PandasColumn.categorical_column("platform", PLATFORMS, non_nullable=True),
        str_col("network"),
        str_col("campaign_id"),
        str_col("ad_group_id"),
        str_col("ad_id"),
        bool_col("is_organic"),
        bool_col("is_reinstall"),
        str_col("country"),
        PandasColumn.categorical_column("attribution", ATTRIBUTIONS, non_nullable=True),
        PandasColumn.categorical_column("mmp", MMPS, non_nullable=True),
    ],
)

UserSegmentsFrame = frame_type(
    "UserSegmentsFrame",
    "Per user the segment keys LTV and the report use: (platform, attribution, network, is_emulator), "
    "plus country.",
    [
        date_col("install_date"),
        int_col("user_id", min_value=1),
        PandasColumn.categorical_column("platform", PLATFORMS, non_nullable=True),
        PandasColumn.categorical_column("attribution", ATTRIBUTIONS, non_nullable=True),
        str_col("network"),
        str_col("country"),
        bool_col("is_emulator"),
    ],
)

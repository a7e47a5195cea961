"""The ``skan_postbacks`` table: one row per SKAN postback the MMP received."""

from dagster_pandas import PandasColumn
from dagster_pandas.constraints import ColumnDTypeFnConstraint
from pandas.api.types import is_float_dtype

from adperf_assets.defs.common.schema_types import _typed, bool_col, date_col, float_col, frame_type, int_col, str_col


def _value_col(name: str) -> PandasColumn:
    """A float column whose NaN means "absent" (dagster-pandas' float column rejects NaN in its range)."""
    return _typed(PandasColumn(name=name, constraints=[ColumnDTypeFnConstraint(is_float_dtype)]), "float64")


SkanPostbacksFrame = frame_type(
    "SkanPostbacksFrame",
    "One row per SKAdNetwork postback, on the report-time-zone day it arrived: the network's campaign "
    "(ad group and ad when the source identifier has 3-4 digits), the postback's flags and its fine "
    "(0-63, NaN when absent) or coarse ('' when absent) conversion value.",
    [
        date_col("arrival_date"),
        date_col("arrival_time_utc"),
        str_col("network"),
        str_col("campaign_id"),
        str_col("ad_group_id"),
        str_col("ad_id"),
        str_col("source_identifier"),
        str_col("transaction_id"),
        int_col("postback_sequence_index", min_value=0, max_value=2),
        bool_col("did_win"),
        bool_col("redownload"),
        int_col("fidelity_type", min_value=0, max_value=1),
        _value_col("fine_conversion_value"),  # 0-63 or NaN: the parser checks the range
        PandasColumn.categorical_column("coarse_conversion_value", {"", "low", "medium", "high"}, non_nullable=True),
        str_col("source_app_id"),
        str_col("version"),  # SKAdNetwork's ("2.1"-"4.0"), "AdAttributionKit", or "" when the export has none
        str_col("mmp"),
        str_col("source_file"),
        int_col("source_row", min_value=1),
    ],
)

GoogleAdsSkanFrame = frame_type(
    "GoogleAdsSkanFrame",
    "Google Ads' SKAdNetwork conversions per customer, campaign and segments.date (unverified which date "
    "Google means): counts per postback index, fine (NaN when absent) / coarse ('' when none) value, user "
    "type and attribution credit.",
    [
        date_col("report_date"),
        str_col("network"),
        str_col("account_id"),
        str_col("campaign_id"),
        int_col("postback_sequence_index", min_value=0, max_value=2),
        _value_col("fine_conversion_value"),
        PandasColumn.categorical_column("coarse_conversion_value", {"", "low", "medium", "high"}, non_nullable=True),
        str_col("user_type"),
        str_col("attribution_credit"),
        str_col("source_app_id"),
        int_col("installs"),
        int_col("conversions"),
    ],
)

SkanModelledFrame = frame_type(
    "SkanModelledFrame",
    "Per report day and iOS campaign with postbacks: SKAN installs (winning first postbacks), tracked installs "
    "(ATT consent: the MMP names their ad), the modelled rest and its return to date with a 99% interval; "
    "below it (level ad_group / ad) the part of the postbacks that name an ad group or ad (3-4 digits): "
    "skan_installs = those postbacks, tracked_return_usd NaN, value_share = the row's share of the campaign's "
    "modelled return, allocated_share = the part of the row's modelled return allocated from postbacks that "
    "do not name it (by its tracked users).",
    [
        date_col("report_date"),
        PandasColumn.categorical_column("level", {"campaign", "ad_group", "ad"}, non_nullable=True),
        str_col("network"),
        str_col("campaign_id"),
        str_col("ad_group_id"),
        str_col("ad_id"),
        int_col("skan_installs"),
        int_col("tracked_installs"),
        int_col("modelled_installs"),
        float_col("tracked_return_usd", min_value=None, nullable=True, ignore_missing_vals=True),
        float_col("modelled_return_usd", min_value=None),
        float_col("modelled_lower_usd", min_value=None),
        float_col("modelled_upper_usd", min_value=None),
        float_col("null_share", min_value=0.0, max_value=1.0),
        float_col("ratio", min_value=None),
        float_col("value_share", min_value=0.0, max_value=1.0 + 1e-9),
        float_col("allocated_share", min_value=0.0, max_value=1.0 + 1e-9),
    ],
)

"""FX rates table: one row per report day and currency."""

from adperf_assets.defs.common.schema_types import bool_col, date_col, float_col, frame_type, str_col

FxRatesFrame = frame_type(
    "FxRatesFrame",
    "Units of each currency per EUR valid on report_date (the ECB rate of that day or the last one "
    "published before it), and the rate into the reporting currency.",
    [
        date_col("report_date"),
        str_col("currency"),
        float_col("eur_rate", min_value=0.0),
        float_col("rate_to_report", min_value=0.0),
        date_col("rate_date"),
        bool_col("is_carried_forward"),
    ],
)

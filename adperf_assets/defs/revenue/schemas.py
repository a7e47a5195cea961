"""Revenue tables: the payments snapshot, match sessions and behaviour credit."""

from adperf_assets.defs.common.schema_types import bool_col, date_col, float_col, frame_type, int_col, str_col

PaymentsSnapshotFrame = frame_type(
    "PaymentsSnapshotFrame",
    "In-app purchases per report day (of the purchase), user, store and currency, as the app database "
    "stood at snapshot_at (UTC): refunds and chargebacks known then are netted onto the purchase's day at "
    "that day's FX rate. refunds counts refunds and chargebacks; refunded_* is the amount given back "
    "(positive); net = gross - refunded. *_usd / fx_rate are NaN only for a currency without a rate "
    "(the blocking check payments_currency_known stops such a day).",
    [
        date_col("report_date"),
        int_col("user_id", min_value=None),
        str_col("store"),
        str_col("currency"),
        int_col("purchases"),
        int_col("refunds"),
        int_col("chargebacks"),
        float_col("gross_local"),
        float_col("refunded_local"),
        float_col("net_local"),
        float_col("fx_rate", min_value=0.0, nullable=True, ignore_missing_vals=True),
        float_col("gross_usd", nullable=True, ignore_missing_vals=True),
        float_col("refunded_usd", nullable=True, ignore_missing_vals=True),
        float_col("net_usd", nullable=True, ignore_missing_vals=True),
        date_col("snapshot_at"),
    ],
)

MatchSessionsFrame = frame_type(
    "MatchSessionsFrame",
    "One row per match session that started on report_date (report time zone): the requester "
    "(user_id), the partner, start/end (naive UTC), duration, whether the partner matched the "
    "requester's filter (is_wanted) and whether the request was a paid one (is_paid).",
    [
        date_col("report_date"),
        int_col("session_id", min_value=None),
        int_col("user_id", min_value=None),
        int_col("partner_id", min_value=None),
        date_col("started_at"),
        date_col("ended_at"),
        float_col("duration_s", min_value=0.0),
        bool_col("is_wanted"),
        bool_col("is_paid"),
    ],
)

BehaviorValueFrame = frame_type(
    "BehaviorValueFrame",
    "The day's net revenue credited to the users who made it possible (method: direct, pagerank or "
    "shapley): paid_usd is the user's own net payments that day, credited_usd what the method gives "
    "them; credited_usd sums to paid_usd over the day.",
    [
        date_col("report_date"),
        int_col("user_id", min_value=None),
        str_col("method"),
        float_col("paid_usd"),
        float_col("credited_usd"),
    ],
)

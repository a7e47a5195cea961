"""Raw Facebook and Google Ads rows → ONE daily spend table in report-zone days and currency.

Money stays integer micros until the end, so sums and the fall-back split are exact; the cost is
converted at the report day's rate. Vocabulary and rounding: docs/normalization.md ("Spend").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from adperf_assets.normalize.fx import conversion_rates, minor_unit_digits
from adperf_assets.normalize.timezones import FallBack, rebucket_to_report_days, zone

FACEBOOK = "facebook"
GOOGLE_ADS = "google_ads"
INSTALL_ACTION = "mobile_app_install"

ATTRIBUTE_COLUMNS = [
    "network", "account_id", "account_name", "account_timezone", "account_currency", "objective",
    "campaign_id", "campaign_name", "ad_group_id", "ad_group_name", "ad_id", "ad_name",
]
HOURLY_COLUMNS = [*ATTRIBUTE_COLUMNS, "local_date", "local_hour", "impressions", "clicks", "installs", "cost_micros"]
VALUE_COLUMNS = ["impressions", "clicks", "installs", "cost_micros"]
KEY_COLUMNS = ["report_date", "network", "account_id", "ad_id"]
#: A daily network's frame (rows already per report day): what :func:`unify_daily` reads.
DAILY_COLUMNS = ["report_date", *ATTRIBUTE_COLUMNS, *VALUE_COLUMNS]


def unified_columns(report_currency: str) -> list[str]:
    """Column order of the unified table, e.g. ``[..., "cost_local", "cost_usd"]``."""
    return ["report_date", *ATTRIBUTE_COLUMNS, "impressions", "clicks", "installs", "cost_local",
            cost_column(report_currency)]


def cost_column(report_currency: str) -> str:
    return f"cost_{report_currency.lower()}"


@dataclass(frozen=True)
class UnifiedSpend:
    """The unified table and the FX rates used for it (for asset metadata)."""

    table: pd.DataFrame
    #: report_date, currency, rate (report units per 1 local unit), rate_date, is_carried_forward
    fx_used: pd.DataFrame


class SpendInputError(ValueError):
    """A raw row that cannot be read; the message names network, row and field."""


# -- helpers ---------------------------------------------------------------------
def _first_bad(mask: pd.Series) -> int | None:
    arr = np.asarray(mask, dtype=bool)
    return int(np.flatnonzero(arr)[0]) if arr.any() else None


def _require(df: pd.DataFrame, network: str, columns: Iterable[str]) -> None:
    for col in columns:
        if col not in df.columns:
            raise SpendInputError(f"{network} rows: no field {col!r} in any row")
        i = _first_bad(df[col].isna())
        if i is not None:
            raise SpendInputError(f"{network} row {i}: field {col!r} is missing")


def _listed_accounts(row_accounts: pd.Series, accounts: list[dict] | None, network: str, what: str = "account",
                     prefix: str = "") -> pd.DataFrame:
    """The accounts list by id (name, currency, timezone_name): report rows carry no time zone, so every
    row's account must be listed, and every listed zone must be known."""
    meta = pd.DataFrame.from_records(accounts or [], columns=["account_id", "name", "currency", "timezone_name"])
    meta["account_id"] = _ids(meta["account_id"]).str.removeprefix(prefix)
    listed = meta.drop_duplicates("account_id").set_index("account_id")
    i = _first_bad(~row_accounts.isin(listed.index))
    if i is not None:
        raise SpendInputError(f"{network} row {i}: {what} {row_accounts.iloc[i]} is not in the accounts list "
                              "(no time zone or currency)")
    for name in listed["timezone_name"].unique():
        zone(name)
    return listed


def _text(values: pd.Series) -> pd.Series:
    """Arrow-backed strings: regex and slicing run vectorised in Arrow, not row by row."""
    return values.astype("string[pyarrow]").str.strip()


def _integers(values: pd.Series, network: str, field: str) -> pd.Series:
    if pd.api.types.is_integer_dtype(values):
        return values.astype("int64")
    text = _text(values)
    i = _first_bad(~text.str.fullmatch(r"-?\d{1,18}").fillna(False))
    if i is not None:
        raise SpendInputError(f"{network} row {i}: field {field!r} is not an integer: {values.iloc[i]!r}")
    return pd.Series(text.astype("int64").to_numpy(dtype=np.int64), index=values.index)


def decimal_to_micros(values: pd.Series, network: str, field: str) -> pd.Series:
    """Exact decimal strings ("14.35", "-0.5", "3") → int64 millionths (no float in between)."""
    text = _text(values)
    i = _first_bad(~text.str.fullmatch(r"-?\d{1,12}(\.\d{1,6})?").fillna(False))
    if i is not None:
        raise SpendInputError(
            f"{network} row {i}: field {field!r} is not a decimal amount with at most 6 decimals: {values.iloc[i]!r}"
        )
    # Drop the point and scale by the missing decimals: "14.35" -> 1435 * 10**4.
    dot = text.str.find(".").to_numpy(dtype=np.int64)
    length = text.str.len().to_numpy(dtype=np.int64)
    decimals = np.where(dot >= 0, length - dot - 1, 0)
    digits = text.str.replace(".", "", regex=False).astype("int64").to_numpy(dtype=np.int64)
    return pd.Series(digits * 10 ** (6 - decimals), index=values.index, dtype="int64")


def _ids(values: pd.Series) -> pd.Series:
    return _text(values).astype(object)


def _empty_hourly() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in HOURLY_COLUMNS})
    return df.astype({"local_hour": "int64", "impressions": "int64", "clicks": "int64",
                      "installs": "float64", "cost_micros": "int64"})


# -- Facebook ----------------------------------------------------------------------
def facebook_hourly(rows: list[dict], accounts: list[dict], *, install_action: str = INSTALL_ACTION) -> pd.DataFrame:
    """Facebook insights rows (level=ad, hourly advertiser-time-zone breakdown) → hourly frame.

    ``accounts`` is ``FacebookAdsResource.accounts()``: insights rows carry no
    time zone, so every row's account must be listed there.
    """
    net = "facebook"
    if not rows:
        return _empty_hourly()
    df = pd.DataFrame.from_records(rows)
    hour_field = "hourly_stats_aggregated_by_advertiser_time_zone"
    _require(df, net, ["account_id", "account_currency", "campaign_id", "adset_id", "ad_id", "spend",
                       "impressions", "date_start", hour_field])
    account_id = _ids(df["account_id"]).str.removeprefix("act_")
    tz_of = _listed_accounts(account_id, accounts, net, prefix="act_")

    hour_text = _text(df[hour_field])
    i = _first_bad(~hour_text.str.fullmatch(r"([01]\d|2[0-3]):00:00( - \d{2}:59:59)?").fillna(False))
    if i is not None:
        raise SpendInputError(f"{net} row {i}: field {hour_field!r} is not an hour bucket: {df[hour_field].iloc[i]!r}")
    if "date_stop" in df.columns:
        i = _first_bad(df["date_stop"].notna() & (df["date_stop"] != df["date_start"]))
        if i is not None:
            raise SpendInputError(f"{net} row {i}: date_start {df['date_start'].iloc[i]} != date_stop "
                                  f"{df['date_stop'].iloc[i]} (time_increment must be 1)")

    clicks = df["clicks"].fillna("0") if "clicks" in df.columns else pd.Series("0", index=df.index)
    account_name = df["account_name"] if "account_name" in df.columns else pd.Series(np.nan, index=df.index)
    out = pd.DataFrame({
        "network": FACEBOOK,
        "account_id": account_id,
        "account_name": account_name.fillna(account_id.map(tz_of["name"])).astype(str),
        "account_timezone": account_id.map(tz_of["timezone_name"]),
        "account_currency": df["account_currency"].astype(str).str.upper(),
        "objective": df["objective"].fillna("").astype(str) if "objective" in df.columns else "",
        "campaign_id": _ids(df["campaign_id"]),
        "campaign_name": df.get("campaign_name", pd.Series("", index=df.index)).fillna("").astype(str),
        "ad_group_id": _ids(df["adset_id"]),
        "ad_group_name": df.get("adset_name", pd.Series("", index=df.index)).fillna("").astype(str),
        "ad_id": _ids(df["ad_id"]),
        "ad_name": df.get("ad_name", pd.Series("", index=df.index)).fillna("").astype(str),
        "local_date": df["date_start"].astype(str),
        "local_hour": hour_text.str.slice(0, 2).astype("int64").to_numpy(dtype=np.int64),
        "impressions": _integers(df["impressions"], net, "impressions"),
        "clicks": _integers(clicks, net, "clicks"),
        "installs": _facebook_installs(df, install_action),
        "cost_micros": decimal_to_micros(df["spend"], net, "spend"),
    })
    return out[HOURLY_COLUMNS]


def _facebook_installs(df: pd.DataFrame, install_action: str) -> pd.Series:
    """Sum of ``actions[action_type == install_action].value`` per row (0 when absent)."""
    zero = pd.Series(0.0, index=df.index)
    if "actions" not in df.columns:
        return zero
    flat = df["actions"].dropna().explode().dropna()
    if flat.empty:
        return zero
    try:
        table = pd.DataFrame.from_records(flat.tolist(), index=flat.index)
    except (TypeError, ValueError, AttributeError) as exc:
        raise SpendInputError(f"facebook rows: 'actions' must be a list of objects ({exc})") from None
    if "action_type" not in table.columns or "value" not in table.columns:
        raise SpendInputError("facebook rows: 'actions' entries need action_type and value")
    installs = table[table["action_type"] == install_action]["value"]
    value = pd.to_numeric(installs, errors="coerce")
    if value.isna().any():
        i = int(df.index.get_loc(value.index[np.flatnonzero(value.isna().to_numpy())[0]]))
        raise SpendInputError(f"facebook row {i}: actions[{install_action}].value is not a number")
    return zero.add(value.groupby(level=0).sum(), fill_value=0.0)


# -- Google Ads ---------------------------------------------------------------------
GOOGLE_FIELDS = {
    "customer.id": "account_id",
    "customer.descriptive_name": "account_name",
    "customer.time_zone": "account_timezone",
    "customer.currency_code": "account_currency",
    "campaign.advertising_channel_type": "objective",
    "campaign.id": "campaign_id",
    "campaign.name": "campaign_name",
    "ad_group.id": "ad_group_id",
    "ad_group.name": "ad_group_name",
    "ad_group_ad.ad.id": "ad_id",
    "ad_group_ad.ad.name": "ad_name",
    "segments.date": "local_date",
    "segments.hour": "local_hour",
    "metrics.impressions": "impressions",
    "metrics.clicks": "clicks",
    "metrics.conversions": "installs",
    "metrics.cost_micros": "cost_micros",
}


def google_ads_hourly(rows: list[dict], accounts: list[dict] | None = None) -> pd.DataFrame:
    """Google Ads GAQL rows (dicts keyed by field path) → hourly frame (rows carry their customer's
    zone and currency, so ``accounts`` is not needed)."""
    net = "google_ads"
    if not rows:
        return _empty_hourly()
    df = pd.DataFrame.from_records(rows)
    _require(df, net, GOOGLE_FIELDS)
    out = df[list(GOOGLE_FIELDS)].rename(columns=GOOGLE_FIELDS)
    for col in ("account_id", "campaign_id", "ad_group_id", "ad_id"):
        out[col] = _ids(out[col])
    for col in ("account_name", "campaign_name", "ad_group_name", "ad_name", "objective"):
        out[col] = out[col].fillna("").astype(str)
    out["account_currency"] = out["account_currency"].astype(str).str.upper()
    for name in out["account_timezone"].unique():
        zone(name)
    out["local_date"] = out["local_date"].astype(str)
    for col, field in (("local_hour", "segments.hour"), ("impressions", "metrics.impressions"),
                       ("clicks", "metrics.clicks"), ("cost_micros", "metrics.cost_micros")):
        out[col] = _integers(out[col], net, field)
    installs = pd.to_numeric(out["installs"], errors="coerce")
    i = _first_bad(installs.isna())
    if i is not None:
        raise SpendInputError(f"{net} row {i}: field 'metrics.conversions' is not a number: {df['metrics.conversions'].iloc[i]!r}")
    out["installs"] = installs.astype("float64")
    out["network"] = GOOGLE_ADS
    return out[HOURLY_COLUMNS]


# -- unify -------------------------------------------------------------------------
def unify_hourly(
    hourly: pd.DataFrame,
    *,
    fx: pd.DataFrame,
    report_tz: str,
    report_currency: str,
    report_dates: Iterable[date] | None = None,
    fall_back: FallBack = "split",
    missing_fx: Literal["raise", "nan"] = "raise",
    max_carry_days: int | None = 10,
) -> UnifiedSpend:
    """Hourly frames (any networks, concatenated) → the unified daily table.

    ``report_dates``: keep only these report days. A pull of account days
    covering report day D also touches D-1 and D+1 partially; those partial
    days must be dropped, so the assets pass the days they own.
    """
    rc = report_currency.upper()
    dup = hourly.duplicated(["network", "account_id", "ad_id", "local_date", "local_hour"], keep=False)
    i = _first_bad(dup)
    if i is not None:
        r = hourly.iloc[i]
        raise SpendInputError(
            f"{r['network']} ad {r['ad_id']} (account {r['account_id']}) has {int(dup.sum())} duplicate hourly rows,"
            f" e.g. local {r['local_date']} hour {r['local_hour']}"
        )
    _check_currencies(hourly)

    placed = rebucket_to_report_days(hourly, report_tz, VALUE_COLUMNS, fall_back=fall_back)
    if report_dates is not None:
        keep = pd.to_datetime(pd.Series(list(report_dates), dtype=object)).dt.normalize()
        placed = placed[placed["report_date"].isin(keep)]
    if placed.empty:
        return _empty_unified(rc)

    placed = placed.sort_values("hour_start_utc", kind="stable")
    grouped = placed.groupby(KEY_COLUMNS, sort=True, dropna=False)
    sums = grouped[VALUE_COLUMNS].sum()
    # Names can change within a day (a renamed ad): the latest hour's names win.
    attrs = grouped[[c for c in ATTRIBUTE_COLUMNS if c not in KEY_COLUMNS]].last()
    daily = attrs.join(sums).reset_index()
    return _converted(daily, fx=fx, report_currency=rc, missing_fx=missing_fx, max_carry_days=max_carry_days)


def unify_daily(
    daily: pd.DataFrame,
    *,
    fx: pd.DataFrame,
    report_currency: str,
    report_dates: Iterable[date] | None = None,
    missing_fx: Literal["raise", "nan"] = "raise",
    max_carry_days: int | None = 10,
) -> UnifiedSpend:
    """Rows already per report day (:data:`DAILY_COLUMNS`, e.g. a cost file) → the unified table.

    No hours to re-bucket: the day is the report day as given. One row per (network, account, ad,
    day); a second one is an error, not a sum (a file listing an ad twice is a broken file).
    """
    rc = report_currency.upper()
    _check_currencies(daily)
    dup = daily.duplicated(KEY_COLUMNS, keep=False)
    i = _first_bad(dup)
    if i is not None:
        r = daily.iloc[i]
        raise SpendInputError(f"{r['network']} ad {r['ad_id']} (account {r['account_id']}) has {int(dup.sum())} rows"
                              f" for one day, e.g. {pd.Timestamp(r['report_date']).date()}")
    placed = daily.assign(report_date=pd.to_datetime(daily["report_date"]).astype("datetime64[ns]"))
    if report_dates is not None:
        keep = pd.to_datetime(pd.Series(list(report_dates), dtype=object)).dt.normalize()
        placed = placed[placed["report_date"].isin(keep)]
    if placed.empty:
        return _empty_unified(rc)
    placed = placed.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)
    return _converted(placed[DAILY_COLUMNS], fx=fx, report_currency=rc, missing_fx=missing_fx,
                      max_carry_days=max_carry_days)


def _check_currencies(frame: pd.DataFrame) -> None:
    codes = pd.Series(frame["account_currency"].unique())
    bad_codes = codes[codes.isna() | ~codes.astype(str).str.fullmatch(r"[A-Z]{3}")]
    if len(bad_codes):
        i = _first_bad(frame["account_currency"].isin(bad_codes) | frame["account_currency"].isna())
        raise SpendInputError(f"{frame['network'].iloc[i]} row {i}: account_currency {frame['account_currency'].iloc[i]!r} is not a currency code")


def _empty_unified(rc: str) -> UnifiedSpend:
    table = pd.DataFrame({c: pd.Series(dtype=object) for c in unified_columns(rc)}).astype(
        {"report_date": "datetime64[ns]", "impressions": "int64", "clicks": "int64", "installs": "float64",
         "cost_local": "float64", cost_column(rc): "float64"})
    fx_used = pd.DataFrame(columns=["report_date", "currency", "rate", "rate_date", "is_carried_forward"])
    return UnifiedSpend(table, fx_used)


def _converted(daily: pd.DataFrame, *, fx: pd.DataFrame, report_currency: str, missing_fx: Literal["raise", "nan"],
               max_carry_days: int | None) -> UnifiedSpend:
    """Daily rows with ``cost_micros`` → the unified table: cost in the account's and the report currency."""
    rc = report_currency
    cost_rc = cost_column(rc)
    pairs = daily[["report_date", "account_currency"]].drop_duplicates().reset_index(drop=True)
    rates = conversion_rates(pairs["report_date"], pairs["account_currency"], fx, rc,
                             max_carry_days=max_carry_days, on_missing=missing_fx)
    fx_used = pd.DataFrame({
        "report_date": rates["day"], "currency": rates["currency"], "rate": rates["rate"],
        "rate_date": rates["rate_date"], "is_carried_forward": rates["is_carried_forward"],
    })
    daily = daily.merge(fx_used[["report_date", "currency", "rate"]],
                        left_on=["report_date", "account_currency"], right_on=["report_date", "currency"], how="left")
    daily["cost_local"] = daily["cost_micros"] / 1_000_000
    daily[cost_rc] = (daily["cost_local"] * daily["rate"]).round(minor_unit_digits(rc))
    daily["installs"] = daily["installs"].round(6)
    table = (
        daily[unified_columns(rc)]
        .sort_values(["report_date", "network", "account_id", "campaign_id", "ad_group_id", "ad_id"], kind="stable")
        .reset_index(drop=True)
        .astype({"impressions": "int64", "clicks": "int64", "installs": "float64", "cost_local": "float64"})
    )
    return UnifiedSpend(table, fx_used.sort_values(["report_date", "currency"]).reset_index(drop=True))


def unified_spend(
    facebook_rows: list[dict],
    google_rows: list[dict],
    *,
    facebook_accounts: list[dict],
    fx: pd.DataFrame,
    report_tz: str,
    report_currency: str,
    **options,
) -> UnifiedSpend:
    """Raw Facebook insights rows + raw Google Ads rows → :class:`UnifiedSpend`.

    ``options`` (``report_dates``, ``fall_back``, ``missing_fx``, ``max_carry_days``) are
    :func:`unify_hourly`'s, with its defaults.
    """
    frames = [facebook_hourly(facebook_rows, facebook_accounts), google_ads_hourly(google_rows)]
    hourly = pd.concat([f for f in frames if not f.empty] or [_empty_hourly()], ignore_index=True)
    return unify_hourly(hourly, fx=fx, report_tz=report_tz, report_currency=report_currency, **options)

"""The payments snapshot: purchases per user, report day, store and currency, net of reversals.

A refund or chargeback is netted onto the day of the purchase it reverses, at that day's FX rate, so
a fully refunded purchase nets to exactly zero and a re-snapshot moves late refunds to the right day.
Plain pandas, no Dagster; see docs/payments_snapshot.md.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

SNAPSHOT_KEYS = ["report_date", "user_id", "store", "currency"]
SNAPSHOT_COLUMNS = SNAPSHOT_KEYS + [
    "purchases", "refunds", "chargebacks", "gross_local", "refunded_local", "net_local",
    "fx_rate", "gross_usd", "refunded_usd", "net_usd", "snapshot_at",
]
# Money sums are rounded to this many decimals (finer than any currency's minor unit) so that
# exact-decimal (PostgreSQL) and binary-float (SQLite) sums of the same amounts agree bit for bit.
LOCAL_DECIMALS = 6


def report_day_bounds(days: list[date] | pd.DatetimeIndex, report_timezone: str) -> pd.DataFrame:
    """``report_date`` (naive midnight) with its ``start_utc``/``end_utc`` instants (naive UTC)."""
    tz = ZoneInfo(report_timezone)
    out = []
    for d in days:
        d = pd.Timestamp(d).date()
        start = datetime(d.year, d.month, d.day, tzinfo=tz)
        nxt = d + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
        out.append((pd.Timestamp(d), pd.Timestamp(start).tz_convert("UTC").tz_localize(None),
                    pd.Timestamp(end).tz_convert("UTC").tz_localize(None)))
    df = pd.DataFrame(out, columns=["report_date", "start_utc", "end_utc"])
    for c in df:
        df[c] = df[c].astype("datetime64[ns]")
    return df


def report_date_of(utc: pd.Series, report_timezone: str) -> pd.Series:
    """Report-time-zone day (naive midnight) of naive-UTC instants."""
    local = pd.to_datetime(utc).dt.tz_localize("UTC").dt.tz_convert(report_timezone)
    return local.dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")


def snapshot_payments(
    purchases: pd.DataFrame,
    reversals: pd.DataFrame,
    fx: pd.DataFrame,
    report_timezone: str,
    snapshot_at: datetime,
) -> pd.DataFrame:
    """One row per (report_date, user_id, store, currency) with purchases in it.

    ``purchases``: payment_id, user_id, store, currency, amount (> 0 expected), created_at (naive UTC).
    ``reversals``: payment_id, kind, refers_to_payment_id, amount (< 0 expected), created_at; each
    must reverse one of ``purchases``. ``fx``: report_date, currency, rate_to_report (report
    currency per unit). ``refunded_local`` is the amount given back (positive), ``net = gross -
    refunded``. A currency without a rate that day gets NaN in the ``*_usd`` columns and ``fx_rate``
    (the ``payments_currency_known`` check stops such a day); nothing is dropped.
    """
    p = purchases.copy()
    p["report_date"] = report_date_of(p["created_at"], report_timezone)
    p["amount"] = p["amount"].astype("float64")
    r = reversals.copy()
    r["amount"] = r["amount"].astype("float64")
    unknown = ~r["refers_to_payment_id"].isin(p["payment_id"])
    if unknown.any():
        first = r.loc[unknown].iloc[0]
        raise ValueError(
            f"reversals: {int(unknown.sum())} row(s) reverse no purchase of the window; first payment_id="
            f"{first['payment_id']} refers_to_payment_id={first['refers_to_payment_id']}")
    keyed = p.drop_duplicates("payment_id")[["payment_id", *SNAPSHOT_KEYS]]
    r = r.drop(columns=["user_id", "store", "currency"], errors="ignore").merge(
        keyed.rename(columns={"payment_id": "refers_to_payment_id"}), on="refers_to_payment_id", how="left",
        validate="many_to_one")
    r["refers_to_payment_id"] = r["refers_to_payment_id"].astype("int64")

    gross = (p.groupby(SNAPSHOT_KEYS, sort=True)
             .agg(purchases=("payment_id", "size"), gross_local=("amount", "sum")))
    back = (r.assign(is_chargeback=(r["kind"] == "chargeback").astype("int64"), back=-r["amount"])
            .groupby(SNAPSHOT_KEYS, sort=True)
            .agg(refunds=("payment_id", "size"), chargebacks=("is_chargeback", "sum"), refunded_local=("back", "sum")))
    out = gross.join(back, how="left").reset_index()
    for c in ("refunds", "chargebacks"):
        out[c] = out[c].fillna(0).astype("int64")
    out["purchases"] = out["purchases"].astype("int64")
    out["refunded_local"] = out["refunded_local"].astype("float64").fillna(0.0)
    for c in ("gross_local", "refunded_local"):
        out[c] = out[c].astype("float64").round(LOCAL_DECIMALS) + 0.0
    out["net_local"] = (out["gross_local"] - out["refunded_local"]).round(LOCAL_DECIMALS) + 0.0

    rates = fx[["report_date", "currency", "rate_to_report"]].copy()
    rates["report_date"] = pd.to_datetime(rates["report_date"]).astype("datetime64[ns]")
    out = out.merge(rates, on=["report_date", "currency"], how="left", validate="many_to_one")
    out = out.rename(columns={"rate_to_report": "fx_rate"})
    out["fx_rate"] = out["fx_rate"].astype("float64")
    for c in ("gross", "refunded", "net"):
        out[f"{c}_usd"] = out[f"{c}_local"] * out["fx_rate"]
    at = pd.Timestamp(snapshot_at)
    out["snapshot_at"] = at.tz_convert("UTC").tz_localize(None) if at.tzinfo is not None else at
    out["snapshot_at"] = out["snapshot_at"].astype("datetime64[ns]")
    out["user_id"] = out["user_id"].astype("int64")
    out[["store", "currency"]] = out[["store", "currency"]].astype(object)
    out["report_date"] = out["report_date"].astype("datetime64[ns]")
    return out[SNAPSHOT_COLUMNS].sort_values(SNAPSHOT_KEYS, kind="stable", ignore_index=True)


"""TikTok report rows (by ad and advertiser-local hour) → the unified hourly frame; plain code (no Dagster).

The client (``defs/spend/tiktok.py``) adds ``advertiser_id`` to each row; zone and currency come from
``advertiser/info``. More: docs/networks.md ("TikTok")."""

from __future__ import annotations

from typing import Any

import pandas as pd

from adperf_assets.normalize.spend import HOURLY_COLUMNS, SpendInputError, _empty_hourly, _first_bad, _ids, \
    _integers, _listed_accounts, _require, _text, decimal_to_micros

TIKTOK = "tiktok"


def tiktok_hourly(rows: list[dict], accounts: list[dict]) -> pd.DataFrame:
    """TikTok report rows (by ad and advertiser-local hour, plus ``advertiser_id``) → the hourly frame.

    Zone and currency come from ``accounts`` (``advertiser/info``): report rows carry neither."""
    net = TIKTOK
    if not rows:
        return _empty_hourly()
    dims = pd.DataFrame.from_records([r.get("dimensions") or {} for r in rows])
    mets = pd.DataFrame.from_records([r.get("metrics") or {} for r in rows])
    df = pd.concat([dims, mets], axis=1)
    df["advertiser_id"] = [r.get("advertiser_id") for r in rows]
    _require(df, net, ["advertiser_id", "ad_id", "stat_time_hour", "campaign_id", "adgroup_id", "spend",
                       "impressions", "clicks", "app_install"])
    advertiser = _ids(df["advertiser_id"])
    acc = _listed_accounts(advertiser, accounts, net, "advertiser")
    hour = _text(df["stat_time_hour"])
    i = _first_bad(~hour.str.fullmatch(r"\d{4}-\d{2}-\d{2} ([01]\d|2[0-3]):00:00").fillna(False))
    if i is not None:
        raise SpendInputError(f"{net} row {i}: field 'stat_time_hour' is not an hour: {df['stat_time_hour'].iloc[i]!r}")
    installs = pd.to_numeric(df["app_install"], errors="coerce")
    i = _first_bad(installs.isna())
    if i is not None:
        raise SpendInputError(f"{net} row {i}: field 'app_install' is not a number: {df['app_install'].iloc[i]!r}")

    def text(col: str) -> Any:
        return df[col].fillna("").astype(str) if col in df.columns else ""

    out = pd.DataFrame({
        "network": TIKTOK,
        "account_id": advertiser,
        "account_name": advertiser.map(acc["name"]).fillna("").astype(str),
        "account_timezone": advertiser.map(acc["timezone_name"]),
        "account_currency": advertiser.map(acc["currency"]).astype(str).str.upper(),
        "objective": text("objective_type"),
        "campaign_id": _ids(df["campaign_id"]),
        "campaign_name": text("campaign_name"),
        "ad_group_id": _ids(df["adgroup_id"]),
        "ad_group_name": text("adgroup_name"),
        "ad_id": _ids(df["ad_id"]),
        "ad_name": text("ad_name"),
        "local_date": hour.str.slice(0, 10).astype(str),
        "local_hour": hour.str.slice(11, 13).astype("int64").to_numpy(),
        "impressions": _integers(df["impressions"], net, "impressions"),
        "clicks": _integers(df["clicks"], net, "clicks"),
        "installs": installs.astype("float64"),
        "cost_micros": decimal_to_micros(df["spend"], net, "spend"),
    })
    return out[HOURLY_COLUMNS]

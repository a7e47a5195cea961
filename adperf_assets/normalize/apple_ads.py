"""Apple Ads keyword-day rows → the unified hourly frame, each day spread over its hours; plain code (no Dagster).

The rows are what ``defs/spend/apple_ads.AppleAdsResource.pull_rows`` returns (``ROW_FIELDS``). More:
docs/networks.md ("Apple Ads")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.normalize.spend import HOURLY_COLUMNS, SpendInputError, _empty_hourly, _first_bad, _ids, \
    _listed_accounts, _require, decimal_to_micros

APPLE_ADS = "apple_ads"
#: the search-match share of an ad group (spend no keyword carries) gets this ad id suffix
SEARCH_MATCH = "search_match"
#: one pulled row: what the client answers and the sample world stores (keyword x org-local day)
ROW_FIELDS = ("adAccountId", "campaignId", "campaignName", "objective", "adGroupId", "adGroupName", "keywordId",
              "keyword", "matchType", "date", "impressions", "taps", "totalInstalls", "localSpend")


def apple_ads_hourly(rows: list[dict], accounts: list[dict]) -> pd.DataFrame:
    """Daily keyword rows (``ROW_FIELDS``, org-local days) → the hourly frame, each day spread evenly over its
    24 local hours (counts and micros exactly: the remainder on the first hours) so that re-bucketing into report days
    shares a day between two report days when the zones differ. The currency is each row's
    ``localSpend.currency`` and must be the account's."""
    net = APPLE_ADS
    if not rows:
        return _empty_hourly()
    df = pd.DataFrame.from_records(rows)
    _require(df, net, ["adAccountId", "campaignId", "adGroupId", "keywordId", "date", "impressions", "taps",
                       "totalInstalls", "localSpend"])
    account = _ids(df["adAccountId"])
    acc = _listed_accounts(account, accounts, net, "ad account")
    bad_spend = [k for k, s in enumerate(df["localSpend"]) if not isinstance(s, dict) or "amount" not in s]
    if bad_spend:
        raise SpendInputError(f"{net} row {bad_spend[0]}: field 'localSpend' is not {{amount, currency}}: "
                              f"{df['localSpend'].iloc[bad_spend[0]]!r}")
    currency = pd.Series([str(s.get("currency", "")).upper() for s in df["localSpend"]], index=df.index)
    i = _first_bad(currency != account.map(acc["currency"]).astype(str).str.upper())
    if i is not None:
        raise SpendInputError(f"{net} row {i}: field 'localSpend.currency' {currency.iloc[i]!r} is not the ad "
                              f"account's currency {acc['currency'].get(account.iloc[i])!r}")
    day = df["date"].astype(str)
    i = _first_bad(~day.str.fullmatch(r"\d{4}-\d{2}-\d{2}"))
    if i is not None:
        raise SpendInputError(f"{net} row {i}: field 'date' is not YYYY-MM-DD: {df['date'].iloc[i]!r}")
    cost = decimal_to_micros(pd.Series([str(s["amount"]) for s in df["localSpend"]], index=df.index), net,
                             "localSpend.amount").to_numpy()
    counts = {}
    for col in ("impressions", "taps", "totalInstalls"):
        v = pd.to_numeric(df[col], errors="coerce")
        i = _first_bad(v.isna() | (v != v.round()))
        if i is not None:
            raise SpendInputError(f"{net} row {i}: field {col!r} is not a whole number: {df[col].iloc[i]!r}")
        counts[col] = v.to_numpy(dtype=np.int64)

    def text(col: str) -> pd.Series:
        return df[col].fillna("").astype(str) if col in df.columns else pd.Series("", index=df.index)

    keyword_name = text("keyword") + np.where(text("matchType") != "", " [" + text("matchType") + "]", "")
    daily = pd.DataFrame({
        "network": APPLE_ADS, "account_id": account, "account_name": account.map(acc["name"]).fillna("").astype(str),
        "account_timezone": account.map(acc["timezone_name"]), "account_currency": currency,
        "objective": text("objective"), "campaign_id": _ids(df["campaignId"]), "campaign_name": text("campaignName"),
        "ad_group_id": _ids(df["adGroupId"]), "ad_group_name": text("adGroupName"), "ad_id": _ids(df["keywordId"]),
        "ad_name": keyword_name, "local_date": day,
    })
    n = len(df)
    hourly = daily.loc[daily.index.repeat(24)].reset_index(drop=True)
    hour = np.tile(np.arange(24, dtype=np.int64), n)
    hourly["local_hour"] = hour

    def spread(values: np.ndarray) -> np.ndarray:
        v = np.repeat(values, 24)
        base, rest = np.floor_divide(v, 24), np.remainder(v, 24)
        return base + (hour < rest)

    hourly["impressions"] = spread(counts["impressions"])
    hourly["clicks"] = spread(counts["taps"])
    # spread like taps (same rule), so no hour has more installs than taps when the day has not
    hourly["installs"] = spread(counts["totalInstalls"]).astype("float64")
    hourly["cost_micros"] = spread(cost.astype(np.int64))
    return hourly.astype({"impressions": "int64", "clicks": "int64", "cost_micros": "int64"})[HOURLY_COLUMNS]

"""Google Ads' SKAdNetwork conversions: GAQL ``FROM campaign`` with the ``sk_ad_network_*`` segments,
through the real ``google-ads`` SDK (the spend pull's client), or the sample world's rows.

Field names are the SDK's (v23-v26 protos); which date ``segments.date`` means for SKAN rows and
which resources besides ``campaign`` accept these segments are unverified (docs/skan.md).
"""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from adperf_assets.defs.common.throttle import AdsPullError, attempts_of
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.spend.google_ads import _digits, GoogleAdsResource
from adperf_assets.defs.spend.network import as_date
from adperf_assets.sample import layout

SEGMENTS = [
    "segments.date",
    "segments.sk_ad_network_postback_sequence_index",
    "segments.sk_ad_network_fine_conversion_value",
    "segments.sk_ad_network_coarse_conversion_value",
    "segments.sk_ad_network_user_type",
    "segments.sk_ad_network_attribution_credit",
    "segments.sk_ad_network_source_app.sk_ad_network_source_app_id",
]
METRICS = ["metrics.sk_ad_network_installs", "metrics.sk_ad_network_total_conversions"]
SKAN_FIELDS = ["customer.id", "campaign.id", *SEGMENTS, *METRICS]
#: Optional proto fields: absent means NULL (e.g. no fine value), not 0.
OPTIONAL = ("segments.sk_ad_network_fine_conversion_value", "segments.sk_ad_network_postback_sequence_index")


def skan_query(since: date, until: date) -> str:
    return (f"SELECT {', '.join(SKAN_FIELDS)} FROM campaign"
            f" WHERE segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}'")


def skan_row_to_dict(row: Any) -> dict:
    """A GoogleAdsRow as ``{"campaign.id": 1, ...}``: enums by name, absent optional values omitted."""
    out = {}
    for path in SKAN_FIELDS:
        *parents, leaf = path.split(".")
        msg = row
        for p in parents:
            msg = getattr(msg, p)
        if path in OPTIONAL and leaf not in msg:
            continue
        value = getattr(msg, leaf)
        out[path] = value.name if hasattr(value, "name") and isinstance(value, int) else value
    return out


class GoogleAdsSkanSource(dg.ConfigurableResource):
    """Google Ads SKAN rows (dicts keyed by GAQL field path) per customer and ``segments.date`` range."""

    def skan_customer_ids(self) -> list[str]:
        raise NotImplementedError

    def skan_rows(self, customer_id: str, since: date, until: date) -> list[dict]:
        raise NotImplementedError


class GoogleAdsSkanApi(GoogleAdsResource, GoogleAdsSkanSource):
    """The Google Ads API, configured like the spend pull (same credentials and pacing)."""

    def skan_customer_ids(self) -> list[str]:
        return self.customer_id_list()

    def skan_rows(self, customer_id: str, since: date, until: date) -> list[dict]:
        since, until = as_date(since), as_date(until)
        cid = _digits(customer_id)
        service, gov, clf = self._connect()
        query = skan_query(since, until)

        def stream() -> list[dict]:
            rows = []
            for batch in service.search_stream(customer_id=cid, query=query, timeout=self.request_timeout_s):
                rows.extend(skan_row_to_dict(r) for r in batch.results)
            return rows

        try:
            return gov.call(stream)
        except Exception as exc:
            raise AdsPullError("Google Ads SKAN", cid, since, until, clf.describe(exc), attempts_of(exc)) from None


class SampleGoogleAdsSkan(GoogleAdsSkanSource):
    """The sample world's ``google_ads/skan/<customer>/<day>.json.gz`` (none in a world without ATT)."""

    world: SampleWorld
    customer_ids: list[str] = Field(default=[], description="Customers (default: every customer of the world).")

    def skan_customer_ids(self) -> list[str]:
        listed = [str(c["customer.id"]) for c in json.loads(layout.google_customers(self.world.root()).read_text())]
        return [c for c in listed if not self.customer_ids or c in self.customer_ids]

    def skan_rows(self, customer_id: str, since: date, until: date) -> list[dict]:
        root, rows = self.world.root(), []
        d = as_date(since)
        while d <= as_date(until):
            p = layout.google_skan_rows(root, str(customer_id), d)
            if p.exists():
                rows.extend(json.loads(gzip.decompress(p.read_bytes())))
            d += timedelta(days=1)
        return rows


def skan_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows → the ``google_ads_skan`` table's columns (fine value NaN when absent, coarse '' for NONE)."""
    df = pd.DataFrame([{k: r.get(k) for k in SKAN_FIELDS} for r in rows], columns=SKAN_FIELDS)
    coarse = df["segments.sk_ad_network_coarse_conversion_value"].fillna("NONE").str.lower()
    return pd.DataFrame({
        "report_date": pd.to_datetime(df["segments.date"]).astype("datetime64[ns]"),
        "network": "google_ads",
        "account_id": df["customer.id"].astype(str), "campaign_id": df["campaign.id"].astype(str),
        "postback_sequence_index": df["segments.sk_ad_network_postback_sequence_index"].fillna(0).astype("int64"),
        "fine_conversion_value": pd.to_numeric(df["segments.sk_ad_network_fine_conversion_value"]).astype(float),
        "coarse_conversion_value": coarse.where(coarse.isin(["low", "medium", "high"]), ""),
        "user_type": df["segments.sk_ad_network_user_type"].fillna("").astype(str),
        "attribution_credit": df["segments.sk_ad_network_attribution_credit"].fillna("").astype(str),
        "source_app_id": df["segments.sk_ad_network_source_app.sk_ad_network_source_app_id"].fillna("").astype(str),
        "installs": df["metrics.sk_ad_network_installs"].fillna(0).astype("int64"),
        "conversions": df["metrics.sk_ad_network_total_conversions"].fillna(0).astype("int64"),
    })

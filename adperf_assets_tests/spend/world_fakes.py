"""Helpers for the spend asset tests: runs over report days, stored tables, the world's truth,
and the loopback fake APIs loaded with the sample world's rows."""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.spend.assets import ad_spend, network_spend_assets
from adperf_assets.defs.spend import checks as spend_checks
from adperf_assets.defs.resources import DUCKDB_SCHEMA
from adperf_assets.defs.spend.facebook import FacebookAdsResource
from adperf_assets.defs.spend.google_ads import GoogleAdsResource
from adperf_assets.sample import layout
from adperf_assets_tests.spend.fake_google_ads import FakeCustomer
from adperf_assets_tests.spend.fake_graph import TOKEN

SPEND = [fx_rates, *network_spend_assets, ad_spend]
SPEND_CHECKS = list(dg.load_asset_checks_from_modules([spend_checks]))
KEY = ["report_date", "network", "account_id", "ad_id"]
#: the networks whose ad_spend equals the world's truth exactly (hourly rows; Apple Ads reports days, spread
#: over their hours: its report days are compared in test_sample_ads)
API_NETWORKS = ("facebook", "google_ads", "tiktok")


def run(resources: dict, first: str, last: str | None = None, *, assets=SPEND, instance=None,
        raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """One run over report days ``first..last`` (a single-run backfill when they differ)."""
    kw: dict = {"partition_key": first} if last in (None, first) else {
        "tags": {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}}
    if instance is None:
        with dg.instance_for_test() as inst:
            return dg.materialize(assets, instance=inst, resources=resources, raise_on_error=raise_on_error, **kw)
    return dg.materialize(assets, instance=instance, resources=resources, raise_on_error=raise_on_error, **kw)


def table(settings, name: str = "ad_spend") -> pd.DataFrame:
    """A stored table in a stable order (the whole table: every day ever written)."""
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        df = con.sql(f"select * from {DUCKDB_SCHEMA}.{name}").df()
    finally:
        con.close()
    return df.sort_values(KEY, kind="stable").reset_index(drop=True)


def truth(world: Path, days: list[str]) -> pd.DataFrame:
    t = pd.read_parquet(layout.truth(world, "spend"))
    return t[t["report_date"].isin(pd.to_datetime(days))].reset_index(drop=True)


def assert_equals_truth(got: pd.DataFrame, world: Path, days: list[str]) -> pd.DataFrame:
    """Every ad of the days, nothing else; counts exact, cost_local exact, cost_usd to the cent. The
    world's truth is its API networks' spend (the sample's cost files are tested in test_cost_import)."""
    want = truth(world, days)
    want = want[want["network"].isin(API_NETWORKS)].reset_index(drop=True)
    assert len(want) > 0
    got = got[got["report_date"].isin(pd.to_datetime(days)) & got["network"].isin(API_NETWORKS)]
    m = got.merge(want, on=KEY, how="outer", suffixes=("", "_truth"), indicator=True)
    assert (m["_merge"] == "both").all(), m.loc[m["_merge"] != "both", [*KEY, "_merge"]]
    assert len(got) == len(want)
    assert (m["account_currency"] == m["account_currency_truth"]).all()
    for col in ("campaign_id", "ad_group_id"):
        assert (m[col] == m[f"{col}_truth"]).all(), col
    for col in ("impressions", "clicks"):
        assert (m[col] == m[f"{col}_truth"]).all(), col
    assert (m["installs"] == m["network_installs"]).all()
    assert np.abs(m["cost_local"] - m["cost_local_truth"]).max() < 1e-6
    # truth is unrounded; ours is rounded to the cent once per ad and day
    assert np.abs(m["cost_usd"] - m["cost_usd_truth"]).max() <= 0.005 + 1e-9
    return m


# -- the world's rows served by the loopback fakes ------------------------------------------
def _day_files(folder: Path, since: date, until: date) -> list[dict]:
    rows: list[dict] = []
    d = since
    while d <= until:
        p = folder / f"{d.isoformat()}.json.gz"
        if p.exists():
            rows.extend(json.loads(gzip.decompress(p.read_bytes())))
        d += timedelta(days=1)
    return rows


def serve_world(graph, google, world: Path, since: date, until: date) -> tuple[list[str], list[str]]:
    """Load the world's accounts and their local days ``since..until`` into the fakes;
    returns (facebook account ids, google customer ids)."""
    fb_ids = []
    for a in json.loads(layout.facebook_accounts(world).read_text()):
        aid = str(a["account_id"])
        graph.accounts[aid] = {"name": a["name"], "currency": a["currency"], "timezone_name": a["timezone_name"]}
        graph.rows[aid] = _day_files(layout.facebook_insights(world, aid, since).parent, since, until)
        fb_ids.append(aid)
    g_ids = []
    for c in json.loads(layout.google_customers(world).read_text()):
        cid = str(c["customer.id"])
        fake = FakeCustomer(cid, c["customer.descriptive_name"], c["customer.currency_code"], c["customer.time_zone"])
        for r in _day_files(layout.google_rows(world, cid, since).parent, since, until):
            fake.rows.append({
                "day": r["segments.date"], "hour": r["segments.hour"], "campaign_id": r["campaign.id"],
                "campaign_name": r["campaign.name"], "channel": r["campaign.advertising_channel_type"],
                "ad_group_id": r["ad_group.id"], "ad_group_name": r["ad_group.name"], "ad_id": r["ad_group_ad.ad.id"],
                "ad_name": r["ad_group_ad.ad.name"], "cost_micros": r["metrics.cost_micros"],
                "impressions": r["metrics.impressions"], "clicks": r["metrics.clicks"],
                "conversions": r["metrics.conversions"],
            })
        google.customers[cid] = fake
        g_ids.append(cid)
    return fb_ids, g_ids


def real_clients(graph, google, fb_ids: list[str], g_ids: list[str], **fb_overrides) -> dict:
    """The REAL resources pointed at the fakes, with short (real) backoffs so retries are quick."""
    fb = dict(access_token=TOKEN, account_ids=[",".join(fb_ids)], graph_url=graph.url, page_limit=50,
              request_timeout_s=10.0, min_request_interval_s=0.0, max_retries=2, backoff_base_s=0.01,
              backoff_max_s=0.05, async_poll_interval_s=0.01, usage_pause_s=0.01)
    fb.update(fb_overrides)
    return {
        "facebook_ads": FacebookAdsResource(**fb),
        "google_ads": GoogleAdsResource(
            developer_token="dev-token", customer_ids=g_ids, endpoint=google.endpoint, insecure_endpoint=True,
            min_request_interval_s=0.0, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.05, request_timeout_s=10.0),
    }


def serve_tiktok_world(fake, world: Path, since: date, until: date) -> list[str]:
    """Load the world's TikTok advertisers and their local days ``since..until`` into the fake; their ids."""
    ids = []
    for a in json.loads(layout.tiktok_advertisers(world).read_text()):
        aid = str(a["advertiser_id"])
        fake.advertisers[aid] = {"name": a["name"], "currency": a["currency"], "timezone": a["timezone"]}
        fake.rows[aid] = _day_files(layout.tiktok_report(world, aid, since).parent, since, until)
        ids.append(aid)
    return ids


def serve_apple_world(fake, world: Path, since: date, until: date) -> list[str]:
    """Load the world's Apple Ads accounts and their keyword days ``since..until`` into the fake; their ids."""
    ids = []
    for a in json.loads(layout.apple_ads_accounts(world).read_text()):
        aid = str(a["id"])
        fake.accounts[aid] = {"name": a["name"], "currency": a["currency"], "timezone": a["timezone"]}
        fake.rows[aid] = _day_files(layout.apple_ads_report(world, aid, since).parent, since, until)
        ids.append(aid)
    return ids

"""Resources per environment: each source is its sample implementation unless named in
``ADPERF_REAL_SOURCES`` (secrets then come from ``EnvVar``s, never from code).

``build_resources`` is the single place that wires them; domain modules add their entries here.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from adperf_assets.resources.app_db import AppDatabase, SampleAppDatabase
from adperf_assets.resources.event_logs import EventLogs, SampleEventLogs
from adperf_assets.resources.duckdb_io import AdperfDuckDBIOManager
from adperf_assets.resources.facebook import FacebookAdsResource
from adperf_assets.resources.fx import ECB_HIST_ZIP, EcbFxRates, SampleFxRates
from adperf_assets.resources.google_ads import GoogleAdsResource
from adperf_assets.resources.log_engine import log_engine_from_env
from adperf_assets.resources.mmp import AdjustCsvExport, AppsFlyerPullApi, SampleAdjust, SampleAppsFlyer
from adperf_assets.resources.sample_ads import SampleFacebookAds, SampleGoogleAds
from adperf_assets.resources.slack import SlackOutbox, SlackWebhook
from adperf_assets.resources.world import SampleWorld
from adperf_assets.settings import Settings, load_settings

DUCKDB_SCHEMA = "analytics"


def sample_world(settings: Settings) -> SampleWorld:
    return SampleWorld(
        path=str(settings.world_path),
        seed=settings.sample_seed,
        start=settings.start_date.isoformat(),
        days=settings.sample_days,
        installs_per_day=settings.sample_installs_per_day,
    )


def build_resources(settings: Settings | None = None) -> dict:
    """Resource dict for ``dg.Definitions`` (and for tests, with a temporary ``ADPERF_HOME``)."""
    s = settings or load_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    world = sample_world(s)
    return {
        # every table: a first partition with no rows (a day without purchases) still creates the table
        "io_manager": AdperfDuckDBIOManager(database=str(s.duckdb_path), schema=DUCKDB_SCHEMA),
        "world": world,
        "fx": EcbFxRates(url=os.environ.get("ADPERF_ECB_URL", ECB_HIST_ZIP)) if s.is_real("fx") else SampleFxRates(world=world),
        "app_db": AppDatabase(url=dg.EnvVar("ADPERF_APP_DB_URL")) if s.is_real("payments") else SampleAppDatabase(world=world),
        "event_logs": EventLogs(root=dg.EnvVar("ADPERF_EVENT_LOGS")) if s.is_real("events") else SampleEventLogs(world=world),
        # DuckDB here, or Spark (ADPERF_LOG_ENGINE=spark, ADPERF_SPARK_MASTER) over the same log files
        "log_engine": log_engine_from_env(os.environ.get("ADPERF_LOG_ENGINE", ""),
                                          os.environ.get("ADPERF_SPARK_MASTER", "local[2]")),
        "appsflyer": AppsFlyerPullApi(api_token=dg.EnvVar("APPSFLYER_API_TOKEN"), app_ids=[dg.EnvVar("APPSFLYER_APP_IDS")])
        if s.is_real("mmp") else SampleAppsFlyer(world=world),
        "adjust": AdjustCsvExport(directory=os.environ.get("ADPERF_ADJUST_EXPORT_DIR", ""))
        if s.is_real("mmp") else SampleAdjust(world=world),
        "facebook_ads": FacebookAdsResource(
            access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN"), account_ids=[dg.EnvVar("FACEBOOK_ACCOUNT_IDS")],
        ) if s.is_real("facebook") else SampleFacebookAds(world=world),
        "google_ads": GoogleAdsResource(
            developer_token=dg.EnvVar("GOOGLE_ADS_DEVELOPER_TOKEN"),
            client_id=dg.EnvVar("GOOGLE_ADS_CLIENT_ID"),
            client_secret=dg.EnvVar("GOOGLE_ADS_CLIENT_SECRET"),
            refresh_token=dg.EnvVar("GOOGLE_ADS_REFRESH_TOKEN"),
            login_customer_id=dg.EnvVar("GOOGLE_ADS_LOGIN_CUSTOMER_ID"),
            customer_ids=[dg.EnvVar("GOOGLE_ADS_CUSTOMER_IDS")],
        ) if s.is_real("google_ads") else SampleGoogleAds(world=world),
        # report messages: the webhook (a secret) when real, else JSON files in $ADPERF_HOME/outbox
        "slack": SlackWebhook(webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL")) if s.is_real("slack")
        else SlackOutbox(directory=str(s.home / "outbox")),
        # direct SQL on the same file (the report's checks and the Slack milestone log)
        "duckdb": DuckDBResource(database=str(s.duckdb_path)),
    }

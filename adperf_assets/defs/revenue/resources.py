"""Revenue's resources: the app database, the event logs and the engine that aggregates them."""

from __future__ import annotations

import dagster as dg

from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.revenue.app_db import AppDatabase, SampleAppDatabase
from adperf_assets.defs.revenue.event_logs import EventLogs, SampleEventLogs
from adperf_assets.defs.revenue.log_engine import log_engine_from_env
from adperf_assets.settings import Settings


def revenue_resources(settings: Settings, world: SampleWorld) -> dict:
    return {
        "app_db": AppDatabase(url=dg.EnvVar("ADPERF_APP_DB_URL"), columns=settings.app_db_columns)
        if settings.is_real("payments")
        else SampleAppDatabase(world=world),
        "event_logs": EventLogs(root=dg.EnvVar("ADPERF_EVENT_LOGS")) if settings.is_real("events")
        else SampleEventLogs(world=world),
        # DuckDB here, or Spark (ADPERF_LOG_ENGINE=spark, ADPERF_SPARK_MASTER) over the same log files
        "log_engine": log_engine_from_env(settings.log_engine, settings.spark_master),
    }

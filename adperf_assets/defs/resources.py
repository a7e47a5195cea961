"""Every resource of the project, per environment: each source is its sample implementation unless
named in ``ADPERF_REAL_SOURCES`` (secrets then come from ``EnvVar``s, never from code). Each domain
wires its own (``defs/<domain>/resources.py``); storage and the sample world are shared."""

from __future__ import annotations

from adperf_assets.defs.actions.resources import action_resources
from adperf_assets.defs.attribution.resources import attribution_resources
from adperf_assets.defs.common.io_manager import SCHEMA as DUCKDB_SCHEMA  # noqa: F401 (tests import it here)
from adperf_assets.defs.common.log_db import log_database
from adperf_assets.defs.common.table_store import table_resources
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.fx.resources import fx_resources
from adperf_assets.defs.report.resources import report_resources
from adperf_assets.defs.revenue.resources import revenue_resources
from adperf_assets.defs.skan.resources import skan_resources
from adperf_assets.defs.spend.resources import spend_resources
from adperf_assets.settings import Settings, current_settings


def sample_world(settings: Settings) -> SampleWorld:
    return SampleWorld(
        path=str(settings.world_path),
        seed=settings.sample_seed,
        start=settings.start_date.isoformat(),
        days=settings.sample_days,
        installs_per_day=settings.sample_installs_per_day,
        preset=settings.sample_preset,
    )


def build_resources(settings: Settings | None = None) -> dict:
    """Resource dict for ``dg.Definitions`` (and for tests, with a temporary ``ADPERF_HOME``)."""
    s = settings or current_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    world = sample_world(s)
    return {
        # the asset tables (ADPERF_TABLE_STORE): "io_manager" and "tables", the reader of stored rows
        **table_resources(s),
        # the delivery logs (Slack milestones sent, budget actions; key name historical): the DuckDB file, or
        # the Iceberg catalog's PostgreSQL database, shared by every machine
        "duckdb": log_database(str(s.duckdb_path), s.iceberg_catalog_uri if s.table_store == "iceberg" else ""),
        "world": world,
        **fx_resources(s, world),
        **spend_resources(s, world),
        **revenue_resources(s, world),
        **attribution_resources(s, world),
        **skan_resources(s, world),
        **report_resources(s),
        **action_resources(s),
    }

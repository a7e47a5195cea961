"""Deployment settings read from the environment, in one object.

Everything that differs between a laptop running the embedded sample and production (where data
lives, the report's time zone and currency, which sources are real, when the morning runs start)
is an environment variable, so switching a source is configuration, never code. The definitions
are built from ``current_settings()``, read once per process: the partitions, the money columns'
names and the input windows are fixed when the definitions load, so run-time code reads the same
object. ``load_settings()`` reads the environment anew (tests, benchmarks).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from adperf_assets.skan.apps import parse_app_ids

# The sample world's fixed calendar: same seed and dates -> byte-identical files.
SAMPLE_START = date(2025, 6, 1)
SAMPLE_DAYS = 545  # to 2026-11-27: long enough for 365-day LTV back-tests

#: sources that are not ad networks; each registered network is a source too (``known_sources``), and
#: ``<network>_actions`` acting on its ads (budget_actions), opted into apart from reading
#: ``ADPERF_TABLE_STORE`` values
TABLE_STORES = ("duckdb", "iceberg")
OTHER_SOURCES = ("fx", "payments", "mmp", "skan", "events", "slack", "facebook_actions", "google_ads_actions")


def known_sources() -> tuple[str, ...]:
    """Every valid ``ADPERF_REAL_SOURCES`` entry: the registered networks' names and the other sources."""
    from adperf_assets.defs.spend.registry import NETWORKS  # the one place networks are registered

    return (*(n.name for n in NETWORKS), *OTHER_SOURCES)


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    home: Path
    report_timezone: str
    report_currency: str
    start_date: date
    end_date: date | None
    real_sources: frozenset[str] = field(default_factory=frozenset)
    sample_seed: int = 7
    sample_days: int = SAMPLE_DAYS
    sample_installs_per_day: int = 150
    sample_preset: str = "default"  # adperf_assets.sample.config.PRESETS ("easy": the world before the knobs)
    world_dir: Path | None = None  # default: $ADPERF_HOME/world
    #: the sample ad networks' mutable state (budgets, statuses): the outside world, like world_dir
    sample_state_dir: Path | None = None  # default: $ADPERF_HOME
    # morning refreshes and the report's readiness (report time zone)
    spend_refresh_cron: str = "0 7 * * *"
    sources_cron: str = "0 6 * * *"
    spend_trailing_days: int = 28
    revenue_trailing_days: int = 28
    # report days per backfill run of the per-user tables (one row per user and day held in memory)
    per_user_run_days: int = 60
    #: benchmarking / sizing knob: every trailing input window (partitions.trailing) holds at most this
    #: many days, so full windows are reached after a short warm-up; 0 (the default): the product's windows
    window_cap_days: int = 0
    sources_deadline_hour: int = 9
    report_deadline_hour: int = 10
    report_sensor_lookback_days: int = 3
    #: days of history a report day reads (sizes the report's input windows)
    report_max_ad_age_days: int = 400
    # where real sources live (secrets are EnvVars on the resources, never here)
    ecb_url: str = ""
    #: our payments column name -> the app database's (``ADPERF_APP_DB_COLUMNS``, JSON)
    app_db_columns: dict = field(default_factory=dict)
    adjust_export_dir: str = ""
    #: the AppsFlyer Data Locker folder holding t=skad_postbacks, when "skan" is a real source
    skan_export_dir: str = ""
    #: the folder where our HTTPS receiver writes Apple's postback copies (JSON lines); "" = none registered
    skan_copies_dir: str = ""
    #: the App Store ids of the measured iOS app(s) (``ADPERF_IOS_APP_IDS``): other apps' SKAN postbacks are
    #: left out; () = every app's, refused once the postbacks name several (``skan.apps``)
    ios_app_ids: tuple[str, ...] = ()
    #: the folder of cost CSV files (networks without an API), when "cost_import" is a real source
    cost_import_dir: str = ""
    #: network name -> API version pinned by ``ADPERF_<NETWORK>_API_VERSION`` (unset: the SDK's)
    api_versions: dict = field(default_factory=dict)
    log_engine: str = ""
    spark_master: str = "local[2]"
    #: where the asset tables live: "duckdb" (one file under home) or "iceberg" (a catalog + warehouse)
    table_store: str = "duckdb"
    #: the Iceberg SQL catalog (SQLAlchemy URL; PostgreSQL in production, SQLite to try it out)
    iceberg_catalog_uri: str = ""
    #: the Iceberg warehouse: a shared path or an object-store URI (default: $ADPERF_HOME/warehouse)
    iceberg_warehouse: str = ""
    #: more PyIceberg catalog properties (``ADPERF_ICEBERG_PROPERTIES``, JSON: s3.endpoint, s3.region ...)
    iceberg_properties: dict = field(default_factory=dict)

    @property
    def world_path(self) -> Path:
        return self.world_dir or self.home / "world"

    @property
    def sample_state_path(self) -> Path:
        return self.sample_state_dir or self.home

    @property
    def duckdb_path(self) -> Path:
        return self.home / "adperf.duckdb"

    @property
    def iceberg_catalog(self) -> dict:
        """PyIceberg properties of the SQL catalog (a bare path as warehouse becomes a file:// URI)."""
        warehouse = self.iceberg_warehouse or str(self.home / "warehouse")
        if "://" not in warehouse:
            warehouse = Path(warehouse).resolve().as_uri()
        uri = self.iceberg_catalog_uri or f"sqlite:///{self.home / 'iceberg_catalog.db'}"
        return {**self.iceberg_properties, "type": "sql", "uri": uri, "warehouse": warehouse}

    def is_real(self, source: str) -> bool:
        return source in self.real_sources

    def api_version(self, network: str) -> str:
        """The network's API version if ``ADPERF_<NETWORK>_API_VERSION`` pins one, else "" (the SDK's)."""
        return self.api_versions.get(network, "")


def _int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name}={value} is outside [{minimum}, {maximum}]")
    return value


def _json_object(name: str) -> dict:
    raw = _env(name, "{}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{name} must be a JSON object of column names, e.g. {{\"created_at\": \"paid_at\"}}")
    return value


def _properties(name: str) -> dict:
    raw = _env(name, "{}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object of PyIceberg properties, e.g. {{\"s3.region\": \"eu-west-1\"}}")
    return {str(k): str(v) for k, v in value.items()}


def _table_store() -> str:
    store = _env("ADPERF_TABLE_STORE", "duckdb").lower()
    if store not in TABLE_STORES:
        raise ValueError(f"ADPERF_TABLE_STORE={store!r}: must be one of {', '.join(TABLE_STORES)}")
    return store


def _api_versions() -> dict:
    """``ADPERF_FACEBOOK_API_VERSION=v25.0`` -> ``{"facebook": "v25.0"}`` (any network's name)."""
    pattern = re.compile(r"ADPERF_(?P<network>[A-Z0-9_]+)_API_VERSION")
    return {m["network"].lower(): value.strip() for name, value in os.environ.items()
            if (m := pattern.fullmatch(name)) and value.strip()}


@functools.cache
def current_settings() -> Settings:
    """The settings the definitions are built from: the environment, read once per process."""
    return load_settings()


def load_settings() -> Settings:
    """Read ``ADPERF_*`` variables; defaults give the offline sample world."""
    real = frozenset(s.strip() for s in _env("ADPERF_REAL_SOURCES", "").split(",") if s.strip())
    unknown = real - set(known_sources()) if real else set()
    if unknown:
        raise ValueError(
            f"ADPERF_REAL_SOURCES names unknown source(s) {sorted(unknown)}; known: {', '.join(known_sources())}"
        )
    sample_days = int(_env("ADPERF_SAMPLE_DAYS", str(SAMPLE_DAYS)))
    start = date.fromisoformat(_env("ADPERF_START_DATE", SAMPLE_START.isoformat()))
    end_env = os.environ.get("ADPERF_END_DATE", "").strip()
    if end_env:
        end: date | None = date.fromisoformat(end_env)
    elif not real:
        # Pure sample mode: partitions stop where the sample world stops.
        end = start + timedelta(days=sample_days)
    else:
        end = None
    return Settings(
        home=Path(_env("ADPERF_HOME", ".adperf")).resolve(),
        report_timezone=_env("ADPERF_REPORT_TIMEZONE", "Asia/Seoul"),
        report_currency=_env("ADPERF_REPORT_CURRENCY", "USD").upper(),
        start_date=start,
        end_date=end,
        real_sources=real,
        sample_seed=int(_env("ADPERF_SAMPLE_SEED", "7")),
        sample_days=sample_days,
        sample_installs_per_day=int(_env("ADPERF_SAMPLE_INSTALLS_PER_DAY", "150")),
        sample_preset=_env("ADPERF_SAMPLE_PRESET", "default"),
        world_dir=Path(os.environ["ADPERF_WORLD"]).resolve() if os.environ.get("ADPERF_WORLD") else None,
        sample_state_dir=(Path(os.environ["ADPERF_SAMPLE_STATE_DIR"]).resolve()
                          if os.environ.get("ADPERF_SAMPLE_STATE_DIR") else None),
        spend_refresh_cron=_env("ADPERF_SPEND_REFRESH_CRON", "0 7 * * *"),
        sources_cron=_env("ADPERF_SOURCES_CRON", "0 6 * * *"),
        spend_trailing_days=_int("ADPERF_SPEND_TRAILING_DAYS", 28, minimum=1),
        revenue_trailing_days=_int("ADPERF_REVENUE_TRAILING_DAYS", 28, minimum=1),
        per_user_run_days=_int("ADPERF_PER_USER_RUN_DAYS", 60, minimum=1),
        window_cap_days=_int("ADPERF_WINDOW_CAP_DAYS", 0, minimum=0),
        sources_deadline_hour=_int("ADPERF_SOURCES_DEADLINE_HOUR", 9, 0, 23),
        report_deadline_hour=_int("ADPERF_REPORT_DEADLINE_HOUR", 10, 0, 23),
        report_sensor_lookback_days=_int("ADPERF_REPORT_SENSOR_LOOKBACK_DAYS", 3, minimum=0),
        # D30 ROAS needs 30 days before the report day
        report_max_ad_age_days=_int("ADPERF_REPORT_MAX_AD_AGE_DAYS", 400, minimum=31),
        ecb_url=_env("ADPERF_ECB_URL", ""),
        app_db_columns=_json_object("ADPERF_APP_DB_COLUMNS"),
        adjust_export_dir=_env("ADPERF_ADJUST_EXPORT_DIR", ""),
        skan_export_dir=_env("ADPERF_SKAN_EXPORT_DIR", ""),
        skan_copies_dir=_env("ADPERF_SKAN_COPIES_DIR", ""),
        ios_app_ids=parse_app_ids(_env("ADPERF_IOS_APP_IDS", "")),
        cost_import_dir=_env("ADPERF_COST_IMPORT_DIR", ""),
        api_versions=_api_versions(),
        log_engine=_env("ADPERF_LOG_ENGINE", ""),
        spark_master=_env("ADPERF_SPARK_MASTER", "local[2]"),
        table_store=_table_store(),
        iceberg_catalog_uri=_env("ADPERF_ICEBERG_CATALOG_URI", ""),
        iceberg_warehouse=_env("ADPERF_ICEBERG_WAREHOUSE", ""),
        iceberg_properties=_properties("ADPERF_ICEBERG_PROPERTIES"),
    )

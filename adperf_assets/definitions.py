"""The one ``Definitions`` of adperf: every asset, check, sensor and resource."""

from __future__ import annotations

import dagster as dg

from adperf_assets import assets, automation, checks
from adperf_assets.executors import executor_from_env
from adperf_assets.resources import build_resources

defs = automation.report_automation.with_freshness(dg.Definitions(
    assets=dg.load_assets_from_package_module(assets),
    asset_checks=dg.load_asset_checks_from_package_module(checks),
    jobs=automation.jobs,
    schedules=automation.schedules,
    sensors=automation.sensors,
    resources=build_resources(),
    executor=executor_from_env(),  # ADPERF_EXECUTOR: multiprocess (default), in_process, celery, k8s
))  # freshness policies on the sources and the report

"""The one ``Definitions`` of adperf: every asset, check, job, schedule and sensor under ``defs/``,
the resources of this environment, the executor and the freshness policies."""

from __future__ import annotations

import dagster as dg

from adperf_assets import defs as defs_package
from adperf_assets.defs.report.automation import with_freshness
from adperf_assets.defs.resources import build_resources
from adperf_assets.executors import executor_from_env

# Loaded from the package (not dg.load_from_defs_folder, which needs pyproject.toml at run time and so
# fails from an installed wheel): every module-level definition in adperf_assets/defs/ is picked up.
defs = with_freshness(dg.Definitions.merge(
    dg.load_definitions_from_package_module(defs_package),
    dg.Definitions(
        resources=build_resources(),
        executor=executor_from_env(),  # ADPERF_EXECUTOR: in_process (default), multiprocess, celery, k8s
    ),
))

"""Attribution's resources: the MMP's exports (AppsFlyer Pull API, Adjust CSV files) or their samples."""

from __future__ import annotations

import dagster as dg

from adperf_assets.defs.attribution.mmp import AdjustCsvExport, AppsFlyerPullApi, SampleAdjust, SampleAppsFlyer
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.settings import Settings


def attribution_resources(settings: Settings, world: SampleWorld) -> dict:
    real = settings.is_real("mmp")
    return {
        "appsflyer": AppsFlyerPullApi(api_token=dg.EnvVar("APPSFLYER_API_TOKEN"), app_ids=[dg.EnvVar("APPSFLYER_APP_IDS")])
        if real else SampleAppsFlyer(world=world),
        "adjust": AdjustCsvExport(directory=settings.adjust_export_dir) if real else SampleAdjust(world=world),
    }

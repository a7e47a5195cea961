"""SKAN postback sources: AppsFlyer's ``skad_postbacks`` export (a Data Locker folder) or the sample's."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from adperf_assets.defs.attribution.mmp import _empty, _in_range, _utc_days, read_day_files
from adperf_assets.defs.attribution.app_users import _utc_naive
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.normalize.attribution import SOURCE_FILE, SOURCE_ROW
from adperf_assets.sample import layout
from adperf_assets.settings import Settings

#: Postbacks arrive up to this many days after the window they describe ends; an arrival-day
#: partition needs only its own day's files.
_TS = "%Y-%m-%d %H:%M:%S"


def arrival_times(df: pd.DataFrame) -> pd.Series:
    if "timestamp" not in df:
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    return pd.to_datetime(df["timestamp"].str.strip(), format=_TS, errors="coerce")


class SkanPostbackSource(dg.ConfigurableResource):
    """The MMP's raw SKAN postback rows that arrived in a UTC range."""

    def raw_postbacks(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        """Vendor rows (text) arrived in ``[start, end)``, plus ``_source_file``/``_source_row``;
        ``required``: the sub-range whose day files must exist."""
        raise NotImplementedError


class SampleSkanPostbacks(SkanPostbackSource):
    """The sample world's ``mmp/appsflyer/skad_postbacks/<UTC day>.csv`` (none in a world without ATT)."""

    world: SampleWorld

    def raw_postbacks(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        folder = layout.appsflyer_skad_postbacks(self.world.root(), date(2000, 1, 1)).parent
        if not folder.is_dir():  # everyone allows tracking: the world writes no postbacks
            return _empty()
        return read_day_files(folder, start, end, arrival_times, required)


class AppsFlyerDataLockerSkan(SkanPostbackSource):
    """AppsFlyer Data Locker's ``skad_postbacks`` topic synced to a folder: ``t=skad_postbacks/dt=<arrival
    day>/h=23/*`` (AppsFlyer writes SKAN topics daily into the h=23 folder of the arrival date). Part
    files are CSV, gzipped or not; the part naming and the exact columns are unverified."""

    directory: str = Field(description="The Data Locker folder (the one holding t=skad_postbacks).")
    topic: str = "skad_postbacks"

    def raw_postbacks(self, start, end, required: tuple | None = None) -> pd.DataFrame:
        start, end = _utc_naive(start), _utc_naive(end)
        req = set(_utc_days(*(map(_utc_naive, required) if required else (start, end))))
        frames = []
        for day in _utc_days(start, end):
            folder = Path(self.directory) / f"t={self.topic}" / f"dt={day.isoformat()}" / "h=23"
            parts = sorted(p for p in folder.glob("*") if re.search(r"\.(csv|gz)$", p.name)) if folder.is_dir() else []
            if not parts:
                if day in req:
                    raise FileNotFoundError(f"{folder}: no {self.topic} part files for arrival day {day}")
                continue
            for p in parts:
                df = pd.read_csv(p, dtype=str, keep_default_na=False, compression="infer")
                df[SOURCE_FILE] = str(p)
                df[SOURCE_ROW] = np.arange(1, len(df) + 1, dtype=np.int64)
                frames.append(_in_range(df, arrival_times(df), start, end))
        return pd.concat(frames, ignore_index=True) if frames else _empty()


def skan_resources(settings: Settings, world: SampleWorld) -> dict:
    from adperf_assets.defs.skan.google_ads_skan import GoogleAdsSkanApi, SampleGoogleAdsSkan
    from adperf_assets.defs.spend.google_ads import GOOGLE_ADS, real_connection

    # Google's SKAN rows come with the Google Ads source: the spend pull's credentials and API version
    google = (GoogleAdsSkanApi(**real_connection(settings)) if settings.is_real(GOOGLE_ADS)
              else SampleGoogleAdsSkan(world=world))
    return {
        "skan_postback_source": AppsFlyerDataLockerSkan(directory=settings.skan_export_dir)
        if settings.is_real("skan") else SampleSkanPostbacks(world=world),
        "google_ads_skan_source": google,
    }

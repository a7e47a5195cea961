"""SKAN postback sources: AppsFlyer's ``skad_postbacks`` export (a Data Locker folder) or the sample's."""

from __future__ import annotations

import gzip
import json
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
from adperf_assets.skan import apple_copies, apple_signatures

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


class SkanCopySource(dg.ConfigurableResource):
    """Apple's own copies of the winning postbacks (SKAN 4 and AdAttributionKit bodies), verified against
    the configured keys: ``skan.apple_copies``."""

    def copy_lines(self, start, end) -> list[tuple[str, int, str]]:
        """``(file, line number, text)`` of the files that can hold copies received in ``[start, end)``."""
        raise NotImplementedError

    def key_config(self) -> tuple[dict, str, dict]:
        """(kid → base64 DER public key, the kid of the SKAN key, Apple's ad network id → our network)."""
        raise NotImplementedError

    def copies(self, start, end) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The verified copies received in UTC ``[start, end)`` (``skan_postbacks`` columns, no campaign
        yet) and the rejected lines (file, line, field, problem, value)."""
        keys, skan_kid, networks = self.key_config()
        return apple_copies.read_lines(self.copy_lines(start, end), apple_signatures.public_keys(keys), networks,
                                       skan_kid, window=(_utc_naive(start), _utc_naive(end)))


def _lines(paths) -> list[tuple[str, int, str]]:
    out = []
    for p in paths:
        opener = gzip.open if p.name.endswith(".gz") else open
        with opener(p, "rt", encoding="utf-8") as f:
            out += [(str(p), i, line) for i, line in enumerate(f, start=1)]
    return out


class PostbackCopyFolder(SkanCopySource):
    """The folder our HTTPS receiver (the app's ``NSAdvertisingAttributionReportEndpoint`` /
    ``AttributionCopyEndpoint``) writes: ``<UTC day received>.jsonl[.gz]``, one line per request,
    ``{"received_at": ISO-8601 UTC, "body": <the JSON body>}``. The receiver's contract is ours (Apple's
    bodies carry no time). Keys default to Apple's production key; add the development ones to test."""

    directory: str = Field(default="", description="The receiver's folder; '' = no copy endpoint registered.")
    verification_keys: dict[str, str] = Field(
        default_factory=lambda: {k: apple_signatures.APPLE_KEYS[k] for k in apple_signatures.PRODUCTION_KEY_IDS},
        description="JWS kid → NIST P-256 public key (base64 DER); Apple's production key by default.")
    skan_key_id: str = Field(default=apple_signatures.SKAN_KEY_ID, description="The key that verifies SKAN signatures.")
    ad_networks: dict[str, str] = Field(default_factory=lambda: dict(apple_copies.AD_NETWORKS),
                                        description="Apple's ad network id → network name.")

    def copy_lines(self, start, end) -> list[tuple[str, int, str]]:
        if not self.directory:
            return []
        paths = []
        for day in _utc_days(_utc_naive(start), _utc_naive(end)):
            paths += sorted(Path(self.directory).glob(f"{day.isoformat()}.jsonl*"))
        return _lines(paths)

    def key_config(self) -> tuple[dict, str, dict]:
        return dict(self.verification_keys), self.skan_key_id, dict(self.ad_networks)


class SampleSkanCopies(SkanCopySource):
    """The sample world's ``apple_skan/copies/<UTC day>.jsonl``, signed with the world's own key
    (``apple_skan/keys.json``) in place of Apple's; none in a world without ATT."""

    world: SampleWorld

    def copy_lines(self, start, end) -> list[tuple[str, int, str]]:
        root = self.world.root()
        days = _utc_days(_utc_naive(start), _utc_naive(end))
        return _lines(p for p in (layout.apple_postback_copies(root, d) for d in days) if p.exists())

    def key_config(self) -> tuple[dict, str, dict]:
        from adperf_assets.sample.skan import COPY_KID, SKAN_NETWORK_ID

        path = layout.apple_postback_keys(self.world.root())
        keys = json.loads(path.read_text()) if path.exists() else {}
        return keys, COPY_KID, {v: k for k, v in SKAN_NETWORK_ID.items()}


def skan_resources(settings: Settings, world: SampleWorld) -> dict:
    from adperf_assets.defs.skan.google_ads_skan import GoogleAdsSkanApi, SampleGoogleAdsSkan
    from adperf_assets.defs.spend.google_ads import GOOGLE_ADS, real_connection

    # Google's SKAN rows come with the Google Ads source: the spend pull's credentials and API version
    google = (GoogleAdsSkanApi(**real_connection(settings)) if settings.is_real(GOOGLE_ADS)
              else SampleGoogleAdsSkan(world=world))
    return {
        "skan_postback_source": AppsFlyerDataLockerSkan(directory=settings.skan_export_dir)
        if settings.is_real("skan") else SampleSkanPostbacks(world=world),
        "skan_copy_source": PostbackCopyFolder(directory=settings.skan_copies_dir)
        if settings.is_real("skan") else SampleSkanCopies(world=world),
        "google_ads_skan_source": google,
    }

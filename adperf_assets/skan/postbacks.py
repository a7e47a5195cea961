"""AppsFlyer's SKAN raw postback rows → the ``skan_postbacks`` table (typed, one row per postback).

Column names follow AppsFlyer's Data Locker ``skad_postbacks`` topic; only the SKAN 4 ones are from
AppsFlyer's own article (11135475316113), the others from third-party schemas (unverified). A row that
cannot be read fails with its file, row and field named.

Postbacks of SKAdNetwork before 4.0 (``skad_version`` 1.x-3.x: devices before iOS 16.1, or ads a network
still signs with an older version) name a 2-digit ``skad_campaign_id`` instead of a source identifier, are
their install's only postback and carry no coarse value; before 3.0 every postback won and before 2.2 every
ad was StoreKit-rendered. Such a row is read as a first postback with that campaign as its identifier's last
two digits, and the export's empty fields as those rules say (that AppsFlyer leaves them empty: unverified).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.normalize.attribution import APPSFLYER, SOURCE_FILE, SOURCE_ROW, AttributionInputError, map_network
from adperf_assets.skan.schema import COARSE, before_skan_4, campaign_sid


REQUIRED = ("timestamp", "media_source", "skad_source_identifier", "skad_transaction_id", "skad_redownload",
            "skad_did_win", "skad_fidelity_type", "skad_conversion_value", "skad_coarse_conversion_value",
            "skad_postback_sequence_index", "ad_network_campaign_id")
#: The table's columns, in order (schema: defs/skan/schemas.py).
COLUMNS = ["arrival_time_utc", "network", "campaign_id", "ad_group_id", "ad_id", "source_identifier",
           "transaction_id", "postback_sequence_index", "did_win", "redownload", "fidelity_type",
           "fine_conversion_value", "coarse_conversion_value", "source_app_id", "version", "mmp", "source_file",
           "source_row"]
_BOOL = {"true": True, "false": False, "1": True, "0": False}
#: Column dtypes (an empty table has them too).
DTYPES = {"arrival_time_utc": "datetime64[ns]", "postback_sequence_index": "int64", "did_win": "bool",
          "redownload": "bool", "fidelity_type": "int64", "fine_conversion_value": "float64", "source_row": "int64"}


def _fail(raw: pd.DataFrame, bad: np.ndarray, field: str, problem: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AttributionInputError(str(raw[SOURCE_FILE].iloc[i]), int(raw[SOURCE_ROW].iloc[i]), field,
                                    raw[field].iloc[i] if field in raw else None, problem)


def parse_appsflyer(raw: pd.DataFrame) -> pd.DataFrame:
    """``raw``: the export's rows as text plus ``_source_file``/``_source_row``."""
    if raw.empty:
        return pd.DataFrame({c: pd.Series(dtype=DTYPES.get(c, object)) for c in COLUMNS})
    missing = [c for c in REQUIRED if c not in raw]
    if missing:
        raise AttributionInputError(str(raw[SOURCE_FILE].iloc[0]), "header", missing[0], None,
                                    f"column missing from the SKAN postback export (needs {', '.join(REQUIRED)})")
    txt = {c: raw[c].fillna("").astype(str).str.strip() for c in raw.columns if c not in (SOURCE_FILE, SOURCE_ROW)}
    _before_skan_4(raw, txt)
    when = pd.to_datetime(txt["timestamp"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    _fail(raw, when.isna().to_numpy(), "timestamp", "not a 'YYYY-MM-DD HH:MM:SS' time")
    sid = txt["skad_source_identifier"]
    _fail(raw, ~sid.str.fullmatch(r"\d{2,4}").to_numpy(), "skad_source_identifier", "not 2-4 digits")
    seq = pd.to_numeric(txt["skad_postback_sequence_index"], errors="coerce")
    _fail(raw, ~seq.isin([0, 1, 2]).to_numpy(), "skad_postback_sequence_index", "not 0, 1 or 2")
    flags = {}
    for f in ("skad_did_win", "skad_redownload"):
        v = txt[f].str.lower().map(_BOOL)
        _fail(raw, v.isna().to_numpy(), f, "not true/false")
        flags[f] = v.astype(bool)
    fid = pd.to_numeric(txt["skad_fidelity_type"], errors="coerce")
    _fail(raw, ~fid.isin([0, 1]).to_numpy(), "skad_fidelity_type", "not 0 or 1")
    fine = pd.to_numeric(txt["skad_conversion_value"].replace("", np.nan), errors="coerce")
    _fail(raw, ((txt["skad_conversion_value"] != "") & ~fine.between(0, 63)).to_numpy(), "skad_conversion_value",
          "not an integer 0-63")
    coarse = txt["skad_coarse_conversion_value"].str.lower()
    _fail(raw, ~coarse.isin(("",) + COARSE).to_numpy(), "skad_coarse_conversion_value", "not low/medium/high")
    _fail(raw, (fine.notna() & (coarse != "")).to_numpy(), "skad_coarse_conversion_value",
          "a postback carries a fine or a coarse value, never both")
    _fail(raw, (fine.notna() & (seq > 0)).to_numpy(), "skad_conversion_value",
          "a fine value in a later postback (only the first may carry one)")
    _fail(raw, (txt["skad_transaction_id"] == "").to_numpy(), "skad_transaction_id", "empty")
    network = map_network(APPSFLYER, txt["media_source"])  # the installs' media-source names
    get = lambda c: txt[c] if c in txt else pd.Series("", index=raw.index)  # noqa: E731
    return pd.DataFrame({
        "arrival_time_utc": when.astype("datetime64[ns]"), "network": network,
        "campaign_id": txt["ad_network_campaign_id"], "ad_group_id": get("ad_network_adset_id"),
        "ad_id": get("ad_network_ad_id"), "source_identifier": sid, "transaction_id": txt["skad_transaction_id"],
        "postback_sequence_index": seq.astype(np.int64), "did_win": flags["skad_did_win"],
        "redownload": flags["skad_redownload"], "fidelity_type": fid.astype(np.int64),
        "fine_conversion_value": fine.astype(float), "coarse_conversion_value": coarse,
        "source_app_id": get("skad_source_app_id"), "version": get("skad_version"), "mmp": "appsflyer",
        "source_file": raw[SOURCE_FILE].astype(str), "source_row": raw[SOURCE_ROW].astype(np.int64),
    })[COLUMNS].reset_index(drop=True)


def _before_skan_4(raw: pd.DataFrame, txt: dict) -> None:
    """Fill, in ``txt``, what a pre-4.0 row leaves empty (module docstring), or fail naming the row."""
    if "skad_version" not in txt:
        return
    old = before_skan_4(txt["skad_version"])
    if not old.any():
        return
    if "skad_campaign_id" not in txt:
        raise AttributionInputError(str(raw[SOURCE_FILE].iloc[0]), "header", "skad_campaign_id", None,
                                    "column missing: postbacks before SKAdNetwork 4.0 name their campaign there")
    cid = pd.to_numeric(txt["skad_campaign_id"], errors="coerce")
    sid = txt["skad_source_identifier"]
    _fail(raw, old & (sid == "").to_numpy() & ~cid.between(1, 100).to_numpy(), "skad_campaign_id",
          "not a campaign id 1-100 (a postback before SKAdNetwork 4.0)")
    _fail(raw, old & (txt["skad_coarse_conversion_value"] != "").to_numpy(), "skad_coarse_conversion_value",
          "coarse values came with SKAdNetwork 4.0")
    version = pd.to_numeric(txt["skad_version"], errors="coerce")
    for field, value, where in (("skad_source_identifier", None, old & (sid == "").to_numpy()),
                                ("skad_postback_sequence_index", "0", old),
                                ("skad_did_win", "true", old & (version < 3).to_numpy()),
                                ("skad_fidelity_type", "1", old & (version < 2.2).to_numpy())):
        empty = where & (txt[field] == "").to_numpy()
        col = txt[field].copy()
        col[empty] = cid[empty].map(campaign_sid) if value is None else value
        txt[field] = col


def inferred_tier(postbacks: pd.DataFrame) -> pd.Series:
    """The crowd-anonymity tier a winning first postback shows (0: no value, 1: coarse, 2: fine; tier 3
    adds a source app); NaN for the other postbacks, which do not show it."""
    first = (postbacks["postback_sequence_index"] == 0) & postbacks["did_win"]
    tier = np.where(postbacks["fine_conversion_value"].notna(),
                    np.where(postbacks["source_app_id"] != "", 3, 2),
                    np.where(postbacks["coarse_conversion_value"] != "", 1, 0))
    return pd.Series(np.where(first, tier, np.nan), index=postbacks.index)

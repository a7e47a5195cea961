"""MMP install exports → one row per app user saying which ad (or none) brought them.

Reads AppsFlyer's and Adjust's own export rows plus the app database's ``users`` and writes the
contract's ``installs`` table. The eight stated rules (a user counts once, at the first install; the
app database decides who is new; nothing dropped silently...), network names, ids and times:
docs/normalization.md ("Installs and attribution").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

APPSFLYER = "appsflyer"
ADJUST = "adjust"
MMPS = (APPSFLYER, ADJUST)
ORGANIC = "organic"
UNATTRIBUTED = "unattributed"
PAID = "paid"

#: Where a raw row came from: added by the resources next to the vendor's own columns.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

#: THE network mapping: (mmp, the MMP's media source / network name) -> spend-table network.
#: Sources not listed keep their own name. ``unityads_int`` is AppsFlyer's own id for Unity Ads;
#: Adjust's ``Unity Ads`` is mapped to it so both exports name that network alike.
NETWORK_MAP: dict[tuple[str, str], str] = {
    (APPSFLYER, "Facebook Ads"): "facebook",
    (APPSFLYER, "googleadwords_int"): "google_ads",
    (APPSFLYER, "organic"): ORGANIC,
    (APPSFLYER, "unityads_int"): "unityads_int",
    (APPSFLYER, "bytedanceglobal_int"): "tiktok",
    (APPSFLYER, "Apple Search Ads"): "apple_ads",
    (ADJUST, "Facebook Installs"): "facebook",
    (ADJUST, "Google Ads UAC"): "google_ads",
    (ADJUST, "Organic"): ORGANIC,
    (ADJUST, "Unity Ads"): "unityads_int",
    (ADJUST, "TikTok for Business"): "tiktok",
    (ADJUST, "Apple Search Ads"): "apple_ads",
}
#: Networks whose ids join to ``ad_spend``: their Adjust labels must carry ``(id)``.
SPEND_NETWORKS = frozenset({"facebook", "google_ads", "tiktok", "apple_ads"})

PLATFORMS = ("android", "ios")

#: Parsed MMP rows, one per vendor row, in the contract's vocabulary.
EVENT_COLUMNS = [
    "user_id", "event_time_utc", "kind", "is_reinstall", "platform", "network", "media_source",
    "campaign_id", "ad_group_id", "ad_id", "country", "mmp", "source_file", "source_row",
]
#: The ``installs`` table (contract), in this order.
INSTALL_COLUMNS = [
    "install_date", "user_id", "install_time_utc", "platform", "network", "campaign_id", "ad_group_id",
    "ad_id", "is_organic", "is_reinstall", "country", "attribution", "mmp",
]
APP_USER_COLUMNS = ["user_id", "created_at", "platform", "country"]

APPSFLYER_REQUIRED = ("Install Time", "Media Source", "Customer User ID", "Platform", "Country Code",
                      "Campaign ID", "Adset ID", "Ad ID")
#: AppsFlyer reinstall flags: ``Is Reinstall`` (the sample export) or ``Store Reinstall``
#: (``additional_fields=store_reinstall``); both "true"/"false". Unverified on live data.
APPSFLYER_REINSTALL_FLAGS = ("Is Reinstall", "Store Reinstall")
ADJUST_REQUIRED = ("activity_kind", "installed_at", "user_id", "network_name", "campaign_name",
                   "adgroup_name", "creative_name", "country", "os_name")
#: Adjust ``{activity_kind}`` values an install export may hold, and whether each is a reinstall.
ADJUST_KINDS = {"install": False, "reinstall": True, "reattribution": False, "reattribution_reinstall": True}

_LABEL = re.compile(r"^(?P<name>.*?)\s*\((?P<id>[^()\s]+)\)$")
_TS_FORMAT = "%Y-%m-%d %H:%M:%S"


class AttributionInputError(ValueError):
    """A vendor row that cannot be read. Names the file, the row and the field."""

    def __init__(self, file: str, row: int | str, field: str, value: object, problem: str):
        super().__init__(f"{file}, row {row}, field {field!r}: {problem} (got {value!r})")
        self.file = file
        self.row = row
        self.field = field
        self.value = value


# -- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedRows:
    """Rows of one export in the contract's vocabulary.

    ``events``: rows with a user id (``EVENT_COLUMNS``); ``without_user_id``: rows whose
    customer user id was empty (same columns, ``user_id`` 0), kept to be counted and shown.
    """

    events: pd.DataFrame
    without_user_id: pd.DataFrame


def _provenance(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    files = raw[SOURCE_FILE].astype(str) if SOURCE_FILE in raw else pd.Series("<frame>", index=raw.index)
    rows = (raw[SOURCE_ROW].astype(np.int64) if SOURCE_ROW in raw
            else pd.Series(np.arange(1, len(raw) + 1), index=raw.index))
    return files, rows


def _text(raw: pd.DataFrame, column: str) -> pd.Series:
    s = raw[column]
    return s.astype("object").where(s.notna(), "").astype(str).str.strip()


def _fail_first(bad: pd.Series, raw: pd.DataFrame, column: str, problem: str) -> None:
    if bool(bad.any()):
        files, rows = _provenance(raw)
        i = bad.to_numpy().nonzero()[0][0]
        raise AttributionInputError(files.iat[i], int(rows.iat[i]), column, raw[column].iat[i], problem)


def _require_columns(raw: pd.DataFrame, required: tuple[str, ...], vendor: str) -> None:
    missing = [c for c in required if c not in raw.columns]
    if missing:
        files, _ = _provenance(raw)
        where = files.iat[0] if len(files) else f"<empty {vendor} frame>"
        raise AttributionInputError(where, "header", missing[0], list(raw.columns)[:40],
                                    f"{vendor} column(s) {missing} missing from the header")


def _user_ids(raw: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """(ids as int64 with 0 where empty, has_id mask); a non-integer id is an error."""
    text = _text(raw, column)
    has = text != ""
    ok = text.str.fullmatch(r"[0-9]{1,18}")
    _fail_first(has & ~ok, raw, column, "customer user id is not an integer app user id")
    ids = pd.to_numeric(text.where(has, "0")).astype(np.int64)
    return ids, has


def _platform(raw: pd.DataFrame, column: str) -> pd.Series:
    p = _text(raw, column).str.lower()
    _fail_first(~p.isin(PLATFORMS), raw, column, f"platform must be one of {PLATFORMS}")
    return p


def map_network(mmp: str, source: pd.Series) -> pd.Series:
    """The MMP's media-source names as ``ad_spend`` networks (unknown names kept)."""
    mapping = {name: net for (m, name), net in NETWORK_MAP.items() if m == mmp}
    return source.map(mapping).fillna(source)


def _finish(mmp: str, raw: pd.DataFrame, cols: dict[str, pd.Series], has_id: pd.Series) -> ParsedRows:
    files, rows = _provenance(raw)
    df = pd.DataFrame({**cols, "mmp": mmp, "source_file": files.to_numpy(), "source_row": rows.to_numpy()},
                      index=raw.index)[EVENT_COLUMNS].reset_index(drop=True)
    has = has_id.to_numpy()
    return ParsedRows(events=df[has].reset_index(drop=True), without_user_id=df[~has].reset_index(drop=True))


def parse_appsflyer(raw: pd.DataFrame) -> ParsedRows:
    """AppsFlyer raw installs rows (organic and non-organic, ``timezone=UTC``) → parsed rows."""
    _require_columns(raw, APPSFLYER_REQUIRED, "AppsFlyer")
    when_text = _text(raw, "Install Time")
    when = pd.to_datetime(when_text, format=_TS_FORMAT, errors="coerce")
    _fail_first(when.isna(), raw, "Install Time", f"not a '{_TS_FORMAT}' time")
    user_id, has_id = _user_ids(raw, "Customer User ID")
    platform = _platform(raw, "Platform")
    source = _text(raw, "Media Source")
    _fail_first(source == "", raw, "Media Source", "empty media source (organic rows say 'organic')")
    reinstall = pd.Series(False, index=raw.index)
    for flag in APPSFLYER_REINSTALL_FLAGS:
        if flag in raw.columns:
            v = _text(raw, flag).str.lower()
            _fail_first(~v.isin(["true", "false", ""]), raw, flag, "expected 'true' or 'false'")
            reinstall |= v == "true"
    cols = {
        "user_id": user_id, "event_time_utc": when.astype("datetime64[ns]"),
        "kind": np.where(reinstall, "reinstall", "install"), "is_reinstall": reinstall,
        "platform": platform, "network": map_network(APPSFLYER, source), "media_source": source,
        "campaign_id": _text(raw, "Campaign ID"), "ad_group_id": _text(raw, "Adset ID"),
        "ad_id": _text(raw, "Ad ID"), "country": _text(raw, "Country Code").str.upper(),
    }
    return _finish(APPSFLYER, raw, cols, has_id)


def _label_ids(raw: pd.DataFrame, column: str, network: pd.Series) -> pd.Series:
    """The ``id`` of ``"Name (id)"`` labels; ``""`` for empty labels (and non-spend networks)."""
    text = _text(raw, column)
    ids = text.str.extract(_LABEL)["id"]
    missing = ids.isna() & (text != "")
    _fail_first(missing & network.isin(SPEND_NETWORKS), raw, column,
                "label has no '(id)'; spend networks need the id to join to ad_spend")
    return ids.fillna("").astype(str)


def parse_adjust(raw: pd.DataFrame) -> ParsedRows:
    """Adjust CSV export rows (``installed_at`` in unix seconds) → parsed rows."""
    _require_columns(raw, ADJUST_REQUIRED, "Adjust")
    kind = _text(raw, "activity_kind").str.lower()
    _fail_first(~kind.isin(list(ADJUST_KINDS)), raw, "activity_kind",
                f"not an install activity ({', '.join(ADJUST_KINDS)})")
    secs = _text(raw, "installed_at")
    _fail_first(~secs.str.fullmatch(r"[0-9]{9,11}"), raw, "installed_at", "not unix seconds")
    when = pd.to_datetime(pd.to_numeric(secs.where(secs.str.fullmatch(r"[0-9]{9,11}"), "0")), unit="s")
    user_id, has_id = _user_ids(raw, "user_id")
    platform = _platform(raw, "os_name")
    source = _text(raw, "network_name")
    _fail_first(source == "", raw, "network_name", "empty network name (organic rows say 'Organic')")
    network = map_network(ADJUST, source)
    cols = {
        "user_id": user_id, "event_time_utc": when.astype("datetime64[ns]"), "kind": kind,
        "is_reinstall": kind.map(ADJUST_KINDS).astype(bool), "platform": platform, "network": network,
        "media_source": source,
        "campaign_id": _label_ids(raw, "campaign_name", network),
        "ad_group_id": _label_ids(raw, "adgroup_name", network),
        "ad_id": _label_ids(raw, "creative_name", network),
        "country": _text(raw, "country").str.upper(),
    }
    return _finish(ADJUST, raw, cols, has_id)


def parse_rows(mmp: str, raw: pd.DataFrame) -> ParsedRows:
    if mmp == APPSFLYER:
        return parse_appsflyer(raw)
    if mmp == ADJUST:
        return parse_adjust(raw)
    raise ValueError(f"unknown mmp {mmp!r}; known: {', '.join(MMPS)}")


# -- attribution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributionReport:
    """What the rules did, for the asset's metadata."""

    rows: int                      # parsed rows with a user id given
    users: int                     # users in the window (all attributions)
    paid: int
    organic: int
    unattributed: int
    unattributed_user_ids: list[int] = field(default_factory=list)
    later_rows: int = 0            # rows of counted users after their first install (reinstalls, re-attributions)
    reattributed_users: int = 0    # users whose ad came from a later row (reattribution="last")
    rows_of_earlier_users: int = 0  # rows in the window of users born before it (not re-counted)
    late_mmp_users: int = 0        # app users whose MMP rows all come after sign-up (counted unattributed)
    users_not_in_app_db: int = 0   # counted from the MMP alone (rule 6)


@dataclass(frozen=True)
class Attribution:
    table: pd.DataFrame
    report: AttributionReport


def _utc_naive(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


def report_day(instants_utc: pd.Series, report_timezone: str) -> pd.Series:
    """Naive-midnight report-time-zone day of naive-UTC instants."""
    local = pd.DatetimeIndex(instants_utc).tz_localize("UTC").tz_convert(report_timezone)
    return pd.Series(local.normalize().tz_localize(None).astype("datetime64[ns]"), index=instants_utc.index)


def _empty_app_users() -> pd.DataFrame:
    return pd.DataFrame({"user_id": pd.Series(dtype=np.int64), "created_at": pd.Series(dtype="datetime64[ns]"),
                         "platform": pd.Series(dtype=object), "country": pd.Series(dtype=object)})


def attribute_installs(
    events: pd.DataFrame,
    app_users: pd.DataFrame | None,
    start_utc,
    end_utc,
    report_timezone: str,
    mmp: str,
    reattribution: Literal["first", "last"] = "first",
    signup_tolerance: pd.Timedelta = pd.Timedelta(hours=1),
) -> Attribution:
    """The users born in ``[start_utc, end_utc)`` with their install and attribution (the stated rules).

    ``events``: parsed rows (``ParsedRows.events``) covering the window plus the look-back
    before it and at least ``signup_tolerance`` after it (and the re-attribution window for
    ``"last"``). ``app_users``: ``user_id, created_at`` (naive UTC), ``platform, country`` for
    every user created in the window and every user id in ``events`` (others are ignored);
    ``None`` when there is no app database (every user is then counted from the MMP alone and
    nobody can be unattributed).
    """
    if reattribution not in ("first", "last"):
        raise ValueError(f"reattribution must be 'first' or 'last', got {reattribution!r}")
    start, end = _utc_naive(start_utc), _utc_naive(end_utc)
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events lack column(s) {missing}; pass ParsedRows.events")
    have_db = app_users is not None
    db = _empty_app_users() if app_users is None else app_users[APP_USER_COLUMNS].copy()
    dup = db["user_id"].duplicated()
    if dup.any():
        raise ValueError(f"app users table has user_id {int(db.loc[dup, 'user_id'].iat[0])} more than once")
    db["created_at"] = db["created_at"].astype("datetime64[ns]")
    tol = pd.Timedelta(signup_tolerance)

    ev = events.reset_index(drop=True)
    ev = ev.assign(_order=np.arange(len(ev))).sort_values(["event_time_utc", "_order"], kind="stable")
    first = ev.drop_duplicates("user_id", keep="first").set_index("user_id")
    created = db.set_index("user_id")["created_at"]
    t0 = first["event_time_utc"]
    c_at = created.reindex(first.index)
    in_db = c_at.notna()
    mmp_born = ~in_db | (t0 <= c_at + tol)
    counted = first[mmp_born & (t0 >= start) & (t0 < end)]

    rows = counted.reset_index()
    attr_cols = ["network", "campaign_id", "ad_group_id", "ad_id", "is_reinstall"]
    reattributed = 0
    if reattribution == "last" and len(rows):
        later = ev[ev["user_id"].isin(rows["user_id"]) & (ev["network"] != ORGANIC)]
        last = later.drop_duplicates("user_id", keep="last").set_index("user_id")
        pick = last.reindex(rows["user_id"])
        moved = pick["network"].notna().to_numpy() & (pick["_order"].to_numpy() != rows["_order"].to_numpy())
        for c in attr_cols:
            rows[c] = np.where(moved, pick[c].to_numpy(), rows[c].to_numpy()).astype(rows[c].dtype)
        reattributed = int(moved.sum())
    mmp_table = pd.DataFrame({
        "user_id": rows["user_id"].astype(np.int64),
        "install_time_utc": rows["event_time_utc"].astype("datetime64[ns]"),
        "platform": rows["platform"], "network": rows["network"], "campaign_id": rows["campaign_id"],
        "ad_group_id": rows["ad_group_id"], "ad_id": rows["ad_id"],
        "is_organic": (rows["network"] == ORGANIC).to_numpy(), "is_reinstall": rows["is_reinstall"].astype(bool),
        "country": rows["country"],
        "attribution": np.where(rows["network"] == ORGANIC, ORGANIC, PAID),
    })

    # rule 5: created in the window, no MMP install row up to created_at + tolerance
    born_here = db[(db["created_at"] >= start) & (db["created_at"] < end)]
    mmp_born_ids = first.index[mmp_born]
    una = born_here[~born_here["user_id"].isin(mmp_born_ids)]
    late = int(una["user_id"].isin(first.index).sum())
    una_table = pd.DataFrame({
        "user_id": una["user_id"].astype(np.int64), "install_time_utc": una["created_at"],
        "platform": una["platform"].astype(str), "network": UNATTRIBUTED, "campaign_id": "", "ad_group_id": "",
        "ad_id": "", "is_organic": False, "is_reinstall": False, "country": una["country"].astype(str),
        "attribution": UNATTRIBUTED,
    })

    parts = [t for t in (mmp_table, una_table) if len(t)]
    table = pd.concat(parts, ignore_index=True) if parts else mmp_table.iloc[0:0]
    table = table.sort_values(["install_time_utc", "user_id"], kind="stable").reset_index(drop=True)
    table["install_time_utc"] = table["install_time_utc"].astype("datetime64[ns]")
    table["install_date"] = report_day(table["install_time_utc"], report_timezone)
    table["mmp"] = mmp
    for c in ("is_organic", "is_reinstall"):
        table[c] = table[c].astype(bool)
    table = table[INSTALL_COLUMNS]

    in_window = (ev["event_time_utc"] >= start) & (ev["event_time_utc"] < end)
    counted_ids = set(counted.index)
    report = AttributionReport(
        rows=len(ev),
        users=len(table),
        paid=int((table["attribution"] == PAID).sum()),
        organic=int((table["attribution"] == ORGANIC).sum()),
        unattributed=int((table["attribution"] == UNATTRIBUTED).sum()),
        unattributed_user_ids=sorted(int(u) for u in una["user_id"]),
        later_rows=int((ev["user_id"].isin(counted_ids) & ~ev["_order"].isin(counted["_order"])).sum()),
        reattributed_users=reattributed,
        rows_of_earlier_users=int((in_window & ~ev["user_id"].isin(counted_ids)).sum()),
        late_mmp_users=late,
        users_not_in_app_db=int((~in_db.reindex(counted.index)).sum()) if have_db else len(counted),
    )
    return Attribution(table=table, report=report)

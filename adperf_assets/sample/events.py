"""The sample app's event logs: logins and match request/start/end events, one Parquet file per UTC day.

The logs are the world's biggest part, so they are built as Arrow columns from integer codes (never
as Python strings), a day at a time. Their schema is that of the equivalent pandas frame, so readers
get the same dtypes (nullable Int64 ids, object strings, UTC timestamps). See docs/sample_world.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from adperf_assets.sample import layout
from adperf_assets.sample.activity import Activity
from adperf_assets.sample.config import WorldConfig
from adperf_assets.sample.writers import run_bounds, write_parquet

LOGIN_TEMPLATE = {"event_time": pd.to_datetime([0], unit="s", utc=True), "user_id": np.array([1], dtype=np.int64),
                  "platform": np.array(["ios"], dtype=object), "app_version": np.array(["4.12.0"], dtype=object)}
MATCH_EVENTS = np.array(["match_ended", "match_requested", "match_started"], dtype=object)  # sorted: codes 0, 1, 2
GENDERS = np.array(["any", "f", "m"], dtype=object)  # codes 0, 1, 2 (a user's gender is f or m)


def _match_template() -> pd.DataFrame:
    return pd.DataFrame({
        "event_time": pd.to_datetime([0, 1], unit="s", utc=True), "event": np.array(["match_requested"] * 2, dtype=object),
        "request_id": np.array([1, 2], dtype=np.int64), "match_id": pd.array([1, None], dtype="Int64"),
        "user_id": np.array([1, 2], dtype=np.int64), "partner_id": pd.array([1, None], dtype="Int64"),
        "wanted_gender": np.array(["any", np.nan], dtype=object), "is_paid": np.array([True, False]),
        "partner_gender": np.array(["f", np.nan], dtype=object)})


def _codes_to_strings(values: np.ndarray, codes: np.ndarray) -> pa.Array:
    """Arrow strings ``values[codes]``; a negative code is NULL."""
    idx = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pc.take(pa.array(values.tolist(), pa.string()), idx)


def _write_days(root: Path, kind: str, event_ns: np.ndarray, rows, first_day: int | None = None) -> None:
    """One Parquet file per UTC day of the sorted ``event_ns``; ``rows(a, b)`` gives rows [a, b). A UTC day
    from ``first_day`` (days since 1970) to the last event's without events gets an empty file: a quiet day
    is an empty log, not a missing one (the readers fail on a missing day)."""
    day = event_ns // (86400 * 10**9)
    for a, b in run_bounds(day):
        write_parquet(layout.events_file(root, kind, np.datetime64(int(day[a]), "D").item()), rows(a, b))
    if len(day):
        lo = int(day[0]) if first_day is None else min(first_day, int(day[0]))
        for d in sorted(set(range(lo, int(day[-1]) + 1)) - set(np.unique(day).tolist())):
            write_parquet(layout.events_file(root, kind, np.datetime64(d, "D").item()), rows(0, 0))


def write(root: Path, cfg: WorldConfig, rng: np.random.Generator, users: pd.DataFrame, activity: Activity,
          buy_pos: np.ndarray) -> str:
    """Write both logs (``buy_pos``: the active days with a purchase); return a count line for the manifest."""
    n_logins = _logins(root, rng, users, activity, _first_utc_day(cfg))
    n_events = _matches(root, cfg, rng, users, activity, buy_pos)
    return f"logins={n_logins} match_events={n_events}"


def _first_utc_day(cfg: WorldConfig) -> int:
    """The UTC day (days since 1970) of the world's first report-zone midnight."""
    return int(pd.Timestamp(cfg.start).tz_localize(cfg.report_timezone).tz_convert("UTC").value // (86400 * 10**9))


def _logins(root: Path, rng: np.random.Generator, users: pd.DataFrame, activity: Activity, first_day: int) -> int:
    """1 + Poisson(0.3) logins per active day."""
    n_act = len(activity.user)
    uid = users["user_id"].to_numpy()
    k = 1 + rng.poisson(0.3, n_act)
    lpos = np.repeat(np.arange(n_act), k)
    ltime = activity.random_times(rng, lpos)
    luser = activity.user[lpos]
    del lpos, k
    order = np.lexsort((uid[luser], ltime))  # by time, then user id (stable)
    ltime, luser = ltime[order], luser[order]
    del order
    is_ios = (users["platform"].to_numpy() == "ios")[luser]
    n_logins = len(ltime)
    schema = pa.Table.from_pandas(pd.DataFrame(LOGIN_TEMPLATE), preserve_index=False).schema
    logins = pa.Table.from_arrays([
        pa.array(ltime * 10**9, pa.timestamp("ns", tz="UTC")),
        pa.array(uid[luser]),
        _codes_to_strings(np.array(["android", "ios"]), is_ios.astype(np.int8)),
        pc.take(pa.array(["4.12.0"]), pa.array(np.zeros(n_logins, dtype=np.int32))),
    ], schema=schema)
    ltime_ns = ltime * 10**9
    del ltime, luser, is_ios
    _write_days(root, "logins", ltime_ns, lambda a, b: logins.slice(a, b - a), first_day)
    return n_logins


def _matches(root: Path, cfg: WorldConfig, rng: np.random.Generator, users: pd.DataFrame, activity: Activity,
             buy_pos: np.ndarray) -> int:
    """Poisson(matches_per_active_day) requests per active day, paid on purchase days; their starts and ends."""
    n_act = len(activity.user)
    uid = users["user_id"].to_numpy()
    buy_day = np.zeros(n_act, dtype=bool)
    buy_day[buy_pos] = True
    q = rng.poisson(cfg.matches_per_active_day, n_act)
    rpos = np.repeat(np.arange(n_act), q)
    rtime = activity.random_times(rng, rpos)
    ruser = activity.user[rpos]
    rday = activity.day[rpos]
    gender = np.where(users["gender"].to_numpy() == "f", 1, 2).astype(np.int8)  # GENDERS codes
    opposite = np.where(gender[ruser] == 1, 2, 1).astype(np.int8)
    is_paid = buy_day[rpos]
    wanted = np.where(is_paid | (rng.random(len(rpos)) < 0.5), opposite, 0).astype(np.int8)
    del opposite, buy_day, q
    # partner: a random user active the same report day (two tries to meet a paid filter)
    order = np.argsort(activity.day, kind="stable")
    day_users = activity.user[order]
    first = np.searchsorted(activity.day[order], np.arange(cfg.days + 1))
    cnt = first[1:] - first[:-1]
    del order

    def draw(rday: np.ndarray) -> np.ndarray:
        c = cnt[rday]
        j = first[rday] + (rng.random(len(rday)) * c).astype(np.int64)
        p = day_users[np.minimum(j, len(day_users) - 1)]
        same = p == ruser
        j2 = first[rday] + (j - first[rday] + 1) % np.maximum(c, 1)
        p = np.where(same, day_users[np.minimum(j2, len(day_users) - 1)], p)
        return np.where((c <= 1), -1, p)

    p1, p2 = draw(rday), draw(rday)
    fits1 = (wanted == 0) | ((p1 >= 0) & (gender[np.maximum(p1, 0)] == wanted))
    partner = np.where(is_paid & ~fits1, p2, p1)
    del p1, p2, fits1, rpos, rday
    matched = (partner >= 0) & (rng.random(len(rtime)) > 0.08)
    is_wanted = matched & ((wanted == 0) | (gender[np.maximum(partner, 0)] == wanted))
    dur = np.minimum(rng.lognormal(4.3, 1.0, len(rtime)) * np.where(is_wanted, 1.6, 1.0), 7200.0)
    o = np.lexsort((ruser, rtime))
    rtime, ruser, partner, matched, dur, wanted, is_paid = (
        rtime[o], ruser[o], partner[o], matched[o], dur[o], wanted[o], is_paid[o])
    del o, is_wanted
    n_req = len(rtime)
    started = rtime + rng.integers(1, 20, n_req)
    ended = started + np.round(dur).astype(np.int64)
    del dur
    m = np.flatnonzero(matched)
    nm = len(m)
    pid = np.where(matched, uid[np.maximum(partner, 0)], -1)
    partner_g = np.where(matched, gender[np.maximum(partner, 0)], -1).astype(np.int8)
    del partner, matched
    # one row per event: the requests, the starts and the ends of the matched requests, in the
    # order the log is read: (time, request id, event name). Row i of that stacking is event
    # kind ``event[i]`` of request ``req[i]``; columns are gathered one UTC day at a time.
    event_time = np.concatenate([rtime, started[m], ended[m]])
    req = np.concatenate([np.arange(n_req), m, m])
    event = np.repeat(np.array([1, 2, 0], dtype=np.int8), [n_req, nm, nm])  # MATCH_EVENTS codes
    order = np.lexsort((event, req, event_time))  # request ids are 1 + req
    req, event, event_time = req[order], event[order], event_time[order]
    del order, rtime, started, ended
    schema = pa.Table.from_pandas(_match_template(), preserve_index=False).schema

    def rows(a: int, b: int) -> pa.Table:
        r, e = req[a:b], event[a:b]
        is_req, is_start = e == 1, e == 2
        match_id = np.where(is_req, -1, r + 1)
        partner_id = np.where(is_req, -1, pid[r])
        return pa.Table.from_arrays([
            pa.array(event_time[a:b] * 10**9, pa.timestamp("ns", tz="UTC")),
            _codes_to_strings(MATCH_EVENTS, e),
            pa.array(r + 1),
            pa.array(match_id, mask=match_id < 0),
            pa.array(uid[ruser[r]]),
            pa.array(partner_id, mask=partner_id < 0),
            _codes_to_strings(GENDERS, np.where(is_req, wanted[r], -1)),
            pa.array(is_paid[r]),
            _codes_to_strings(GENDERS, np.where(is_start, partner_g[r], -1)),
        ], schema=schema)

    _write_days(root, "matches", event_time * 10**9, rows, _first_utc_day(cfg))
    return len(req)

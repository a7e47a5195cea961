"""Cohort ROAS curves: per campaign and network, cumulative ROAS by day since install D0..D<horizon>.

For a group (campaign, network) with cost ``C`` (its cost to date, which bought every cohort of its users):

- realised(d) = R(d) / C, R(d) = what the group's users returned on days 0..d since their install
  (credit before the install day counts on day 0); shown up to the oldest cohort's last seen day;
- estimated(d) = (R(d) + s x M(d)) / C, M(d) = sum over the cells (users of one install day and segment)
  younger than d + 1 days of users x (V(d + 1) - V(age)): the segment LTV curve's value still to come by
  day d (V: ``payback.value_at``). ``s`` scales M so that the curve ends at the report's estimated return
  at the horizon, ``s = max(estimate - R(H), 0) / M(H)`` (the curve's shape is the segment curves', its
  level the report's ``estimate_basis``); the 99% band is the report's interval, spread in proportion to
  M(d) / M(H): zero width where nothing is still to come.

While no cohort is still to reach day d (M(d) = 0) estimated(d) = realised(d): the curve is continuous.
Pure (no Dagster). Plot: ``report.plot.roas_curves_figure``. Doc: docs/roas_report.md ("Cohort ROAS curves").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.report.payback import value_at
from adperf_assets.report.rollup import group_ids

CURVE_COLUMNS = ["level", "network", "campaign_id", "campaign_name", "days_since_install", "cost_usd",
                 "realised_roas", "estimated_roas", "estimated_roas_lower", "estimated_roas_upper"]
CURVE_LEVELS = ("campaign", "network")
_CHUNK = 4096


def still_to_come(cell_group: np.ndarray, n_groups: int, users: np.ndarray, age: np.ndarray, knots: np.ndarray,
                  kv: np.ndarray, horizon: int) -> np.ndarray:
    """M(d) per group and day d = 0..horizon (shape (G, horizon + 1)): users x (V(d + 1) - V(age)) summed
    over the cells with ``age`` (days seen, >= 1) below d + 1."""
    out = np.zeros((n_groups, horizon + 1))
    days = np.arange(1, horizon + 2, dtype=float)  # days seen by the end of day d
    for s in range(0, len(users), _CHUNK):
        sl = slice(s, s + _CHUNK)
        a = np.minimum(age[sl], horizon + 1).astype(float)
        v_now = value_at(a, knots, kv[sl])
        v_d = value_at(np.broadcast_to(days, (len(a), days.size)), knots, kv[sl])
        rest = users[sl, None] * np.maximum(v_d - v_now[:, None], 0.0)
        np.add.at(out, cell_group[sl], rest)
    return out


def cohort_curves(cost: np.ndarray, revenue_by_day: np.ndarray, still: np.ndarray, seen_days: np.ndarray,
                  estimated: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, np.ndarray]:
    """Per group (rows) and day since install (columns 0..H): ``realised``, ``estimated``, ``lower``, ``upper``
    ROAS. ``revenue_by_day[g, d]``: return on day d since install; ``still``: M from ``still_to_come``;
    ``seen_days``: days the group's oldest cohort has been seen (realised is NaN from that day on);
    ``estimated``/``lower``/``upper``: the report's return at the horizon and its interval (money)."""
    r = np.cumsum(revenue_by_day, axis=1)
    n_days = r.shape[1]
    pos = cost > 0
    c = np.where(pos, cost, 1.0)[:, None]
    m_h = still[:, -1]
    has = m_h > 0
    safe_m = np.where(has, m_h, 1.0)
    s = np.where(has, np.maximum(estimated - r[:, -1], 0.0) / safe_m, 0.0)
    total = r + s[:, None] * still
    share = still / safe_m[:, None]  # 0..1, 0 where nothing is still to come
    end = r[:, -1] + s * m_h
    down = np.maximum(end - np.minimum(lower, end), 0.0)
    up = np.maximum(np.maximum(upper, end) - end, 0.0)
    lo = np.maximum(total - share * down[:, None], r)
    with np.errstate(invalid="ignore"):
        hi = np.where(share > 0, total + share * up[:, None], total)
    realised = np.where(np.arange(n_days)[None, :] < seen_days[:, None], r, np.nan)
    nan = ~pos[:, None]
    return {k: np.where(nan, np.nan, v / c) for k, v in
            (("realised", realised), ("estimated", total), ("lower", lo), ("upper", hi))}


def day_curves(level: str, catalog: pd.DataFrame, cost_per_ad: np.ndarray, rev_aid: np.ndarray, rev_age: np.ndarray,
               rev_value: np.ndarray, cells: dict, age: np.ndarray, rows: dict, horizon: int) -> pd.DataFrame:
    """The long table (``CURVE_COLUMNS``) of one level's groups for a report day, from the day's cost per
    ad (rows of the sorted ``catalog``), revenue by ad and age, the report's cells (``aid, users, ok, kv,
    horizons``; ``ok``: the cell has a usable LTV curve) and the level's report rows (``rows``)."""
    gid_of_aid, starts = group_ids(catalog, level)
    ng = len(starts)
    cost = np.bincount(gid_of_aid, cost_per_ad, minlength=ng)
    width = horizon + 1
    keep = rev_age <= horizon
    rev = np.bincount(gid_of_aid[rev_aid[keep]] * width + np.maximum(rev_age[keep], 0), rev_value[keep],
                      minlength=ng * width).reshape(ng, width)
    c_gid = gid_of_aid[cells["aid"]]
    seen = np.zeros(ng, np.int64)
    np.maximum.at(seen, c_gid, age)
    ok = cells["ok"]
    if ok.any():
        still = still_to_come(c_gid[ok], ng, cells["users"][ok], age[ok], np.asarray(cells["horizons"], float),
                              cells["kv"][ok], horizon)
    else:
        still = np.zeros((ng, width))
    cur = cohort_curves(cost, rev, still, seen, rows["estimated_return_usd"], rows["estimated_lower_usd"],
                        rows["estimated_upper_usd"])
    ids = {k: np.repeat(rows[k], width) for k in ("network", "campaign_id", "campaign_name")}
    return pd.DataFrame({"level": level, **ids, "days_since_install": np.tile(np.arange(width), ng),
                         "cost_usd": np.repeat(cost, width), "realised_roas": cur["realised"].ravel(),
                         "estimated_roas": cur["estimated"].ravel(), "estimated_roas_lower": cur["lower"].ravel(),
                         "estimated_roas_upper": cur["upper"].ravel()})[CURVE_COLUMNS]

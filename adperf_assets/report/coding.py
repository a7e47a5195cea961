"""The inputs coded once per run (ads, segments, cells as integers; rows sorted by day), so a report
day is a few slices and ``np.bincount`` sums, not pandas filters, groupbys and merges over the whole
history window. See docs/roas_report.md ("How a day is computed").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.report.columns import ID_COLUMNS
from adperf_assets.report.dn_roas import first_days_credit
from adperf_assets.report.inputs import ReportInputs

_SEG = ["platform", "seg_attribution", "seg_network", "is_emulator"]


def day_numbers(values) -> np.ndarray:
    """Dates as whole days since 1970 (int64), for slicing and keys without pandas."""
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def as_dates(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[ns]")


@dataclass
class CodedRun:
    """A run's inputs as integer-coded arrays; each group of fields is sorted by the day it is sliced by."""

    # ads: every (network, ad_id) seen in spend or installs ("akey"); label "network:ad_id"
    labels: np.ndarray
    # spend per ad and day (summed), sorted by day; spend rows sorted by day for the catalog
    d_akey: np.ndarray
    d_day: np.ndarray
    d_cost: np.ndarray
    d_inst: np.ndarray
    s_day: np.ndarray
    s_akey: np.ndarray
    s_ids: pd.DataFrame
    # cells (ad x install day x segment x has_segment), sorted by install day
    c_akey: np.ndarray
    c_inst: np.ndarray
    c_seg: np.ndarray
    c_has: np.ndarray
    c_users: np.ndarray
    seg_values: pd.DataFrame  # the segment columns per segment code
    # revenue per cell and report day, sorted by cell (so by install day), then day
    r_cell: np.ndarray
    r_inst: np.ndarray
    r_day: np.ndarray
    r_credited: np.ndarray
    r_paid: np.ndarray
    r_age: np.ndarray  # report day - install day
    c_first_days: dict  # per D-n: each cell's credit within its first n days
    # ltv_estimates rows sorted (stably) by report day; segment code -1 = a segment no user has
    l_rday: np.ndarray
    l_inst: np.ndarray
    l_seg: np.ndarray
    l_horizon: np.ndarray
    l_value: np.ndarray
    l_lower: np.ndarray
    l_upper: np.ndarray
    l_mape: np.ndarray
    l_estimator: np.ndarray  # code into estimator_names, -1 = none
    estimator_names: np.ndarray


def code_run(inputs: ReportInputs, roas_days=(7, 14, 30)) -> CodedRun:
    sp = inputs.spend.sort_values("report_date", kind="stable").reset_index(drop=True)
    users, rev, lt = inputs.users, inputs.revenue, inputs.ltv
    net = np.concatenate([sp["network"].to_numpy(object), users["network"].to_numpy(object)])
    ad = np.concatenate([sp["ad_id"].to_numpy(object), users["ad_id"].to_numpy(object)])
    akey_all, uniq = pd.factorize(pd.Series(net, dtype=object) + "\x1f" + pd.Series(ad, dtype=object))
    labels = np.asarray([k.replace("\x1f", ":", 1) for k in uniq], dtype=object)
    s_akey, u_akey = akey_all[:len(sp)].astype(np.int64), akey_all[len(sp):].astype(np.int64)
    s_day = day_numbers(sp["report_date"])

    daily = pd.DataFrame({"akey": s_akey, "day": s_day, "cost": sp["cost"].to_numpy(float),
                          "installs": sp["installs"].to_numpy(float)})
    daily = daily.groupby(["day", "akey"], sort=True)[["cost", "installs"]].sum().reset_index()

    seg_mi = pd.MultiIndex.from_frame(users[_SEG])
    u_seg, seg_uniq = pd.factorize(seg_mi)
    seg_uniq = pd.MultiIndex.from_tuples(list(seg_uniq), names=_SEG) if len(seg_uniq) else pd.MultiIndex.from_arrays(
        [[], [], [], []], names=_SEG)
    nseg = max(len(seg_uniq), 1)
    u_inst = day_numbers(users["install_date"])
    u_has = users["has_segment"].to_numpy(bool)
    n_akey = max(len(labels), 1)
    base = int(u_inst.min()) if len(u_inst) else 0
    ck = (((u_inst - base) * n_akey + u_akey) * nseg + u_seg) * 2 + u_has
    ckeys, u_cell = np.unique(ck, return_inverse=True)
    u_cell = u_cell.reshape(-1)
    first = np.zeros(len(ckeys), np.int64)
    first[u_cell[::-1]] = np.arange(len(u_cell))[::-1]  # any user of the cell
    c_users = np.bincount(u_cell, minlength=len(ckeys)).astype(np.int64)

    pos = pd.Index(users["user_id"]).get_indexer(rev["user_id"])
    r_cell_all = u_cell[pos]
    r_day_all = day_numbers(rev["report_date"])
    dmin = int(r_day_all.min()) if len(r_day_all) else 0
    span = int(r_day_all.max()) - dmin + 1 if len(r_day_all) else 1
    rk = r_cell_all * span + (r_day_all - dmin)
    rkeys, r_inv = np.unique(rk, return_inverse=True)
    r_inv = r_inv.reshape(-1)
    r_cell = rkeys // span
    c_inst = u_inst[first]
    r_day = rkeys % span + dmin
    r_age = r_day - c_inst[r_cell]
    r_credited = np.bincount(r_inv, rev["credited"].to_numpy(float), minlength=len(rkeys))
    c_first_days = first_days_credit(r_cell, r_age, r_credited, len(ckeys), roas_days)

    l_rday = day_numbers(lt["report_date"])
    order = np.argsort(l_rday, kind="stable")
    lt = lt.iloc[order]
    l_seg = (seg_uniq.get_indexer(pd.MultiIndex.from_arrays(
        [lt["platform"], lt["attribution"], lt["network"], lt["is_emulator"]])) if len(seg_uniq) and len(lt)
        else np.full(len(lt), -1))
    est_codes, est_names = pd.factorize(lt["estimator"])
    return CodedRun(
        labels=labels, d_akey=daily["akey"].to_numpy(np.int64), d_day=daily["day"].to_numpy(np.int64),
        d_cost=daily["cost"].to_numpy(float), d_inst=daily["installs"].to_numpy(float),
        s_day=s_day, s_akey=s_akey, s_ids=sp[ID_COLUMNS],
        c_akey=u_akey[first], c_inst=c_inst, c_seg=u_seg[first].astype(np.int64), c_has=u_has[first],
        c_users=c_users, seg_values=seg_uniq.to_frame(index=False),
        r_cell=r_cell, r_inst=c_inst[r_cell], r_day=r_day, r_credited=r_credited, r_age=r_age,
        c_first_days=c_first_days,
        r_paid=np.bincount(r_inv, rev["paid"].to_numpy(float), minlength=len(rkeys)),
        l_rday=l_rday[order], l_inst=day_numbers(lt["install_date"]), l_seg=np.asarray(l_seg, np.int64),
        l_horizon=lt["horizon"].to_numpy(np.int64), l_value=lt["ltv_per_user_usd"].to_numpy(float),
        l_lower=lt["lower_usd"].to_numpy(float), l_upper=lt["upper_usd"].to_numpy(float),
        l_mape=lt["backtest_mape"].to_numpy(float), l_estimator=np.asarray(est_codes, np.int64),
        estimator_names=np.asarray(est_names, dtype=object))


def day_slice(sorted_days: np.ndarray, lo: int, hi: int) -> slice:
    """The rows of ``sorted_days`` in ``[lo, hi]``."""
    return slice(int(np.searchsorted(sorted_days, lo, "left")), int(np.searchsorted(sorted_days, hi, "right")))

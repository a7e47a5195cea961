"""The daily ``user_rfm`` frame: per user installed in the window, lifetimes' summary as of a day
plus the revenue realised so far within each LTV horizon (BTYD's input).

Times are whole days of the report time zone; money is in the currency of ``net_usd``. docs/ltv_btyd.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.ltv.keys import HORIZONS, SEGMENT_KEYS
from adperf_assets.ltv.rfm import rfm_summary

WINDOW_DAYS = 365  # users installed in the trailing year are summarised and fitted
_DAY = np.timedelta64(1, "D")


def realised_column(horizon: int) -> str:
    return f"revenue_{horizon}d_usd"


def ltv_column(horizon: int) -> str:
    return f"ltv_{horizon}d_usd"


def _day(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return (ts.tz_localize(None) if ts.tzinfo else ts).normalize()


@dataclass
class RfmInputs:
    """What ``user_rfm_frame`` read, for the asset's log and metadata."""

    users: int = 0
    payment_rows: int = 0
    older_user_rows: int = 0  # payments of users installed before the window (not summarised)
    older_user_usd: float = 0.0


def user_rfm_frame(
    payments: pd.DataFrame,
    segments: pd.DataFrame,
    as_of,
    *,
    window_days: int = WINDOW_DAYS,
    horizons=HORIZONS,
    info: RfmInputs | None = None,
) -> pd.DataFrame:
    """One row per user installed in [as_of - window_days + 1, as_of]: segment keys, install_date,
    ``frequency, recency, T, monetary_value_usd`` (lifetimes' convention in days, via
    ``rfm_summary``), ``revenue_usd`` (net, install day to as_of) and ``revenue_{H}d_usd`` (net,
    days 0..min(H, age+1)-1 since install).

    ``payments``: rows with user_id, report_date, net_usd (any number per user and day; refunds
    already netted onto the purchase's day, as ``payments_snapshot`` has them). ``segments``:
    one row per user with install_date and the segment keys. Payments of users installed before
    the window are not summarised (counted in ``info``); a payment of a user installed inside
    the window but missing from ``segments`` cannot be told apart from those, so ``segments``
    must cover the whole window.
    """
    info = info if info is not None else RfmInputs()
    end = _day(as_of)
    start = end - pd.Timedelta(days=window_days - 1)
    for name, frame, cols in (("payments", payments, ["user_id", "report_date", "net_usd"]),
                              ("segments", segments, ["user_id", "install_date", *SEGMENT_KEYS])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} is missing column(s) {missing}; has {list(frame.columns)}")
    seg_days = segments["install_date"].to_numpy(dtype="datetime64[ns]")
    users = segments.loc[(seg_days >= start.to_datetime64()) & (seg_days <= end.to_datetime64()),
                         ["user_id", "install_date", *SEGMENT_KEYS]].reset_index(drop=True)
    pay_days = payments["report_date"].to_numpy(dtype="datetime64[ns]")
    pay = payments.loc[(pay_days >= start.to_datetime64()) & (pay_days <= end.to_datetime64()),
                       ["user_id", "report_date", "net_usd"]]
    known = pay["user_id"].isin(users["user_id"]).to_numpy()
    info.users = len(users)
    info.payment_rows = int(known.sum())
    info.older_user_rows = int((~known).sum())
    info.older_user_usd = float(pay.loc[~known, "net_usd"].sum())
    pay = pay[known]

    summary = rfm_summary(pay, end, users[["user_id", "install_date"]], revenue_col="net_usd")
    if np.array_equal(summary.index.to_numpy(), users["user_id"].to_numpy()):
        out = users  # rfm_summary keeps the installs' order: no reindex by user needed
    else:
        out = users.set_index("user_id").loc[summary.index].reset_index()
    out["frequency"] = summary["frequency"].to_numpy()
    out["recency"] = summary["recency"].to_numpy()
    out["T"] = summary["T"].to_numpy()
    out["monetary_value_usd"] = summary["monetary_value"].to_numpy()

    code = pd.Index(out["user_id"]).get_indexer(pay["user_id"])
    install = out["install_date"].to_numpy(dtype="datetime64[ns]")[code]
    age = (pay["report_date"].to_numpy(dtype="datetime64[ns]") - install) // _DAY
    net = pay["net_usd"].to_numpy(dtype=float)
    n = len(out)
    # float even without payments (bincount of no weights counts in int64)
    out["revenue_usd"] = np.bincount(code, weights=net, minlength=n).astype(float)
    for h in horizons:
        out[realised_column(h)] = np.bincount(code, weights=np.where(age < h, net, 0.0), minlength=n).astype(float)
    out.insert(0, "report_date", end)
    return out


def summary_of(rfm: pd.DataFrame) -> pd.DataFrame:
    """lifetimes' summary (frequency, recency, T, monetary_value) of ``user_rfm`` rows."""
    return pd.DataFrame({
        "frequency": rfm["frequency"].to_numpy(dtype=np.int64),
        "recency": rfm["recency"].to_numpy(dtype=float),
        "T": rfm["T"].to_numpy(dtype=float),
        "monetary_value": rfm["monetary_value_usd"].to_numpy(dtype=float),
    }, index=pd.Index(rfm["user_id"].to_numpy(), name="user_id"))


def _group_codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, list[tuple]]:
    """Group number per row (groups sorted by ``keys``) and the groups' key tuples, as
    ``groupby(keys, sort=True, dropna=False)`` numbers them; one factorize per column and a
    mixed-radix code instead of pandas' groupby (several times slower here; docs/ltv_btyd.md)."""
    if len(frame) == 0:
        return np.zeros(0, dtype=np.int64), []
    key = np.zeros(len(frame), dtype=np.int64)
    levels, radix = [], []
    for k in keys:
        c, u = pd.factorize(frame[k], sort=True)
        if len(keys) < 2 or (c < 0).any() or np.prod([*radix, len(u)], dtype=float) > 2**62:
            g = frame.groupby(keys, sort=True, dropna=False)  # missing keys (pandas' own order), one key
            return g.ngroup().to_numpy(dtype=np.int64), list(g.size().index)
        key = key * len(u) + c
        levels.append(u)
        radix.append(len(u))
    uniq, inverse = np.unique(key, return_inverse=True)
    level_codes = []
    rest = uniq
    for n in radix[::-1]:
        level_codes.append(rest % n)
        rest = rest // n
    index = pd.MultiIndex(levels=levels, codes=level_codes[::-1], names=keys, verify_integrity=False)
    return inverse.astype(np.int64).reshape(-1), list(index)

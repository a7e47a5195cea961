"""``user_rfm`` day after day from a running per-user state instead of summarising every user anew.

The state of a day is its population: the users installed in the trailing window, with install
day and segment keys. The next day drops the install day that leaves the window and appends the
day's installs. A user with no payment row in the window has the all-zero summary at age ``T``;
only the payers (a few percent of the users) are summarised from their rows, by the same
``user_rfm_frame`` the full computation uses, so the frame equals the full one row for row.

Why the payers are not advanced from yesterday's summary: recency is a maximum and a refund that
nets an earlier purchase day to zero takes a purchase day away (frequency and recency go down),
and ``payments_snapshot`` re-takes its trailing days, so yesterday's summary of a payer can be
stale in ways a sum cannot undo. Their rows are O(payments), small next to the population, and
summarising them again is exact after refunds, re-pulled days and re-run days alike, with nothing
to detect. docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.ltv.btyd_rfm import WINDOW_DAYS, RfmInputs, _day, realised_column, user_rfm_frame
from adperf_assets.ltv.keys import HORIZONS, SEGMENT_KEYS

_DAY = np.timedelta64(1, "D")
POPULATION_COLUMNS = ["user_id", "install_date", *SEGMENT_KEYS]


class RfmState:
    """The users of the trailing window as of ``as_of`` (sorted by install day, then user).

    ``RfmState.of(segments, as_of)`` starts one from the segments of the whole window (a backfill
    with no day before it); ``advance(installs)`` moves it one day on; ``frame(payments)`` is the
    day's ``user_rfm`` rows.
    """

    def __init__(self, users: pd.DataFrame, as_of, window_days: int = WINDOW_DAYS, horizons=HORIZONS):
        self.as_of = _day(as_of)
        self.window_days = window_days
        self.horizons = tuple(horizons)
        self.users = users

    @classmethod
    def of(cls, segments: pd.DataFrame, as_of, *, window_days: int = WINDOW_DAYS, horizons=HORIZONS) -> RfmState:
        """The population as of ``as_of`` from segments covering the whole window (any extra rows are ignored)."""
        _require(segments, POPULATION_COLUMNS, "segments")
        end = _day(as_of)
        start = end - pd.Timedelta(days=window_days - 1)
        days = segments["install_date"].to_numpy(dtype="datetime64[ns]")
        inside = (days >= start.to_datetime64()) & (days <= end.to_datetime64())
        users = _unique_users(segments.loc[inside, POPULATION_COLUMNS], "segments")
        return cls(_sorted(users), end, window_days, horizons)

    def advance(self, installs: pd.DataFrame) -> RfmState:
        """The state of the next day: the window's oldest install day leaves, the next day's installs
        (rows of ``installs`` installed that day; others are ignored) join."""
        _require(installs, POPULATION_COLUMNS, "installs")
        day = self.as_of + pd.Timedelta(days=1)
        start = day - pd.Timedelta(days=self.window_days - 1)
        kept = self.users[self.users["install_date"].to_numpy(dtype="datetime64[ns]") >= start.to_datetime64()]
        new = installs.loc[installs["install_date"].to_numpy(dtype="datetime64[ns]") == day.to_datetime64(),
                           POPULATION_COLUMNS]
        new = _sorted(_unique_users(new, f"installs of {day.date()}"))
        again = new["user_id"].isin(kept["user_id"]).to_numpy()
        if again.any():
            raise ValueError(f"installs of {day.date()} has user(s) already in the window with an earlier install "
                             f"day: {new.loc[again, 'user_id'].head(5).tolist()} ({int(again.sum())} in all)")
        users = pd.concat([kept, new], ignore_index=True) if len(new) else kept.reset_index(drop=True)
        return RfmState(users, day, self.window_days, self.horizons)

    def frame(self, payments: pd.DataFrame, info: RfmInputs | None = None) -> pd.DataFrame:
        """The ``user_rfm`` rows as of the state's day, equal to ``user_rfm_frame(payments, segments,
        as_of)`` on segments of the same users. ``payments`` as there (rows outside the window are ignored)."""
        info = info if info is not None else RfmInputs()
        _require(payments, ["user_id", "report_date", "net_usd"], "payments")
        end, users = self.as_of, self.users
        start = end - pd.Timedelta(days=self.window_days - 1)
        pay_days = payments["report_date"].to_numpy(dtype="datetime64[ns]")
        pay = payments.loc[(pay_days >= start.to_datetime64()) & (pay_days <= end.to_datetime64()),
                           ["user_id", "report_date", "net_usd"]]
        is_payer = users["user_id"].isin(pay["user_id"]).to_numpy()
        known = pay["user_id"].isin(users["user_id"]).to_numpy()
        info.users = len(users)
        info.payment_rows = int(known.sum())
        info.older_user_rows = int((~known).sum())
        info.older_user_usd = float(pay.loc[~known, "net_usd"].sum())

        n = len(users)
        out = users.reset_index(drop=True)
        install = out["install_date"].to_numpy(dtype="datetime64[ns]")
        out.insert(0, "report_date", end)
        columns = {"frequency": np.zeros(n, dtype=np.int64), "recency": np.zeros(n),
                   "T": ((end.to_datetime64() - install) // _DAY).astype(float), "monetary_value_usd": np.zeros(n),
                   "revenue_usd": np.zeros(n), **{realised_column(h): np.zeros(n) for h in self.horizons}}
        if is_payer.any():
            paid = user_rfm_frame(pay[known], users[is_payer], end, window_days=self.window_days,
                                  horizons=self.horizons)
            rows = np.flatnonzero(is_payer)[pd.Index(users["user_id"].to_numpy()[is_payer]).get_indexer(paid["user_id"])]
            for col, values in columns.items():
                values[rows] = paid[col].to_numpy(dtype=values.dtype)
        for col, values in columns.items():
            out[col] = values
        return out


def user_rfm_days(payments: pd.DataFrame, segments: pd.DataFrame, days, *, state: RfmState | None = None,
                  window_days: int = WINDOW_DAYS, horizons=HORIZONS, infos: list | None = None):
    """``user_rfm`` rows of consecutive ``days``, the state chained from day to day: from ``state``
    (as of the day before the first) when given, else from ``segments`` covering the first day's window.
    Returns the frames (one per day) and the last day's state."""
    frames = []
    for k, day in enumerate(days):
        day = _day(day)
        if state is None:
            state = RfmState.of(segments, day, window_days=window_days, horizons=horizons)
        else:
            if state.as_of != day - pd.Timedelta(days=1):
                raise ValueError(f"the state is as of {state.as_of.date()}, not the day before {day.date()}; "
                                 "the days must be consecutive")
            state = state.advance(segments)
        info = RfmInputs()
        frames.append(state.frame(payments, info))
        if infos is not None:
            infos.append(info)
    return frames, state


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; has {list(frame.columns)}")


def _unique_users(users: pd.DataFrame, name: str) -> pd.DataFrame:
    dup = users["user_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise ValueError(f"{name} has more than one row for user(s) {pd.unique(users.loc[dup, 'user_id'])[:5].tolist()}")
    return users


def _sorted(users: pd.DataFrame) -> pd.DataFrame:
    """By install day, then user (the order the window's rows keep as days are appended)."""
    order = np.lexsort((users["user_id"].to_numpy(), users["install_date"].to_numpy(dtype="datetime64[ns]")))
    return users.iloc[order].reset_index(drop=True)

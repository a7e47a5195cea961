"""Per-user RFM summary (lifetimes' convention, in days) from per-user-per-day revenue rows.

A user is born on their install day (never a repeat purchase); a purchase day is a later day whose net
revenue is > 0, refunds already netted onto the purchase's day. Without installs the birth is the first
purchase day, as in lifetimes' own summary. The full convention: docs/ltv_btyd.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_DAY_ZERO = np.datetime64("1970-01-01", "D")


def _day_numbers(values: pd.Series, what: str) -> np.ndarray:
    """Whole days since 1970-01-01; time-zone-aware stamps are taken at their local wall-clock day."""
    if isinstance(values, pd.Series) and values.dtype.kind == "M" and not isinstance(values.dtype, pd.DatetimeTZDtype):
        # already naive datetimes: pd.to_datetime would only box every value to decide on its cache
        stamps = values.to_numpy()
        missing = np.isnat(stamps)
        if missing.any():
            raise ValueError(f"{what} is missing at rows {list(values.index[missing][:5])}")
        return (stamps.astype("datetime64[D]") - _DAY_ZERO).astype(np.int64)
    try:
        stamps = pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: cannot read as dates ({exc})") from exc
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    missing = stamps.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{what} is missing at rows {list(values.index[missing][:5])}")
    return (stamps.to_numpy().astype("datetime64[D]") - _DAY_ZERO).astype(np.int64)


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; has {list(frame.columns)}")


def rfm_summary(
    transactions: pd.DataFrame,
    observation_end,
    installs: pd.DataFrame | None = None,
    *,
    user_col: str = "user_id",
    date_col: str = "report_date",
    revenue_col: str = "revenue_usd",
    install_col: str = "install_date",
) -> pd.DataFrame:
    """Summary indexed by user: frequency (int), recency, T, monetary_value (days; currency of revenue).

    `transactions`: rows of (user, day, net revenue), any number per user and day.
    `installs`: one row per user (user, install day), the whole population including
    users who never pay. Convention: docs/ltv_btyd.md.
    """
    _require(transactions, [user_col, date_col, revenue_col], "transactions")
    end_day = int((np.datetime64(pd.Timestamp(observation_end).tz_localize(None), "D") - _DAY_ZERO).astype(np.int64))

    users = transactions[user_col]
    if users.isna().any():
        raise ValueError(f"transactions.{user_col} is missing at rows {list(transactions.index[users.isna()][:5])}")
    revenue = pd.to_numeric(transactions[revenue_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(revenue)
    if bad.any():
        raise ValueError(
            f"transactions.{revenue_col} is missing or not a finite number at rows {list(transactions.index[bad][:5])}"
        )
    days = _day_numbers(transactions[date_col], f"transactions.{date_col}")
    window = days <= end_day
    users, days, revenue = users.to_numpy()[window], days[window], revenue[window]

    if installs is not None:
        _require(installs, [user_col, install_col], "installs")
        install_users = installs[user_col]
        if install_users.isna().any():
            raise ValueError(f"installs.{user_col} is missing at rows {list(installs.index[install_users.isna()][:5])}")
        install_index = pd.Index(install_users.to_numpy())
        if not install_index.is_unique:
            dup = install_users.duplicated(keep=False).to_numpy()
            raise ValueError(f"installs has more than one row for user(s) {list(pd.unique(install_users[dup]))[:5]}")
        install_days = _day_numbers(installs[install_col], f"installs.{install_col}")
        known = install_index.get_indexer(users)
        if (known < 0).any():
            raise ValueError(
                f"transactions have revenue for user(s) not in installs: {list(pd.unique(users[known < 0]))[:5]}"
            )
        row_install = install_days[known]
        early = (days < row_install) & (revenue != 0)
        if early.any():
            examples = [
                (u, str(_DAY_ZERO + d), str(_DAY_ZERO + i))
                for u, d, i in zip(users[early][:5], days[early][:5], row_install[early][:5])
            ]
            raise ValueError(
                f"transactions have revenue before the user's install day on {int(early.sum())} row(s), "
                f"e.g. (user, day, install day) {examples}"
            )
        born = install_days <= end_day
        population = pd.Index(install_users.to_numpy()[born], name=user_col)
        birth = install_days[born]
        of_born = born[known]  # the rest are zero-revenue rows of users installed after observation_end
        codes = (np.cumsum(born) - 1)[known[of_born]]
        days, revenue = days[of_born], revenue[of_born]
    else:
        codes, uniques = pd.factorize(users, sort=False)
        population = pd.Index(uniques, name=user_col)
        birth = None

    daily, ucode, uday = _sum_per_user_day(codes, days, revenue)
    negative = daily < 0
    if negative.any():
        examples = [(population[c], str(_DAY_ZERO + d)) for c, d in zip(ucode[negative][:5], uday[negative][:5])]
        raise ValueError(
            f"transactions net to negative revenue on {int(negative.sum())} user-day(s), e.g. (user, day) {examples}; "
            "net refunds into the day of the payment they reverse"
        )
    paid = daily > 0

    if birth is None:
        no_purchase = np.iinfo(np.int64).max
        first_paid = np.full(len(population), no_purchase)
        np.minimum.at(first_paid, ucode[paid], uday[paid])
        payer = first_paid < no_purchase  # users whose rows all net to 0 never purchased
        keep = payer[ucode]
        population, birth = population[payer], first_paid[payer]
        daily, ucode, uday, paid = daily[keep], (np.cumsum(payer) - 1)[ucode[keep]], uday[keep], paid[keep]

    repeat = paid & (uday > birth[ucode])
    n = len(population)
    rc, age = ucode[repeat], uday[repeat] - birth[ucode[repeat]]
    frequency = np.bincount(rc, minlength=n)
    recency = np.zeros(n, dtype=np.int64)
    np.maximum.at(recency, rc, age)
    repeat_revenue = np.bincount(rc, weights=daily[repeat], minlength=n)
    monetary = np.divide(repeat_revenue, frequency, out=np.zeros(n), where=frequency > 0)
    return pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": recency.astype(float),
            "T": (end_day - birth).astype(float),
            "monetary_value": monetary,
        },
        index=population,
    )


def _sum_per_user_day(codes: np.ndarray, days: np.ndarray, revenue: np.ndarray):
    """Net revenue per (user code, day): values, user codes, days."""
    if len(days) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    d0 = days.min()
    span = int(days.max() - d0) + 1
    key = codes.astype(np.int64) * span + (days - d0)
    inverse, keys = pd.factorize(key, sort=False)
    daily = np.bincount(inverse, weights=revenue, minlength=len(keys))
    keys = np.asarray(keys, dtype=np.int64)
    return daily, keys // span, keys % span + d0

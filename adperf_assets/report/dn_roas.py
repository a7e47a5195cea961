"""D-n ROAS (n = 7, 14, 30 by default): what the cohorts whose first n days are all in returned within
those n days, over the cost of the days up to the last such cohort; null, with the reason in
``d{n}_note``, while the ad is younger than n days. See docs/roas_report.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def first_days_credit(r_cell: np.ndarray, r_age: np.ndarray, r_credited: np.ndarray, n_cells: int,
                      roas_days) -> dict[int, np.ndarray]:
    """Per n, each cell's credit within its first n days (report day - install day < n)."""
    return {n: np.bincount(r_cell[r_age < n], r_credited[r_age < n], minlength=n_cells) for n in roas_days}


def dn_sums(roas_days, today: int, keep: np.ndarray, c_aid: np.ndarray, c_inst: np.ndarray, first_days: dict,
            d_aid: np.ndarray, d_day: np.ndarray, d_cost: np.ndarray, n_ads: int) -> dict[str, np.ndarray]:
    """Per ad ``rev{n}`` (credit of the cells installed by ``today - n + 1`` in their first n days) and
    ``cost{n}`` (cost up to that day); ``first_days`` is ``first_days_credit`` of the day's cells."""
    out = {}
    for n in roas_days:
        cut = today - (n - 1)
        mature = keep & (c_inst <= cut)  # their first n days are all up to the report day
        out[f"rev{n}"] = np.bincount(c_aid[mature], first_days[n][mature], minlength=n_ads)
        out[f"cost{n}"] = np.bincount(d_aid[d_day <= cut], d_cost[d_day <= cut], minlength=n_ads)
    return out


def dn_columns(col: dict, roas_days, day: pd.Timestamp, today: int, f_day: np.ndarray,
               days_live: np.ndarray) -> dict[str, np.ndarray]:
    """``d{n}_roas`` and ``d{n}_note`` per group from the groups' ``rev{n}`` / ``cost{n}`` sums."""
    out = {}
    for n in roas_days:
        cut = today - (n - 1)
        young, no_cost = cut < f_day, col[f"cost{n}"] <= 0
        out[f"d{n}_roas"] = np.where(young | no_cost, np.nan, col[f"rev{n}"] / np.where(no_cost, 1.0, col[f"cost{n}"]))
        cut_date = (day - pd.Timedelta(days=n - 1)).date()
        out[f"d{n}_note"] = np.asarray([f"{dl} day(s) of data; D{n} needs {n}" if y else
                                        (f"no cost up to {cut_date}" if z else "")
                                        for dl, y, z in zip(days_live.tolist(), young.tolist(), no_cost.tolist())],
                                       dtype=object)
    return out

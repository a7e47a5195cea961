"""The report's scale / stop calls, scored once their horizon has passed (``decision_backtest``).

A call is the report row of an ad, ad group or campaign on the day it was ``age`` days live (7, 14,
30: ``days_live``). It is scored on report day D against the object's *realised* horizon ROAS: the
return its users of the install days whose horizon has passed (install day <= D - H + 1) brought in
their first H days, over the cost of those days. The object's return is the report's measure
(behaviour credit). A call is scored when its own day has passed the horizon (call day <= D - H + 1),
and counts in the trailing window when that happened in the last ``window_days`` days. Definitions
and why: docs/per_ad_value.md ("Scored decisions").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adperf_assets.report.coding import day_numbers
from adperf_assets.report.columns import LEVEL_KEYS
from adperf_assets.report.inputs import ReportInputError, _dates, _no_nan, _require
from adperf_assets.normalize.dates import as_datetimes

SCORED_LEVELS = ("ad", "ad_group", "campaign")
AGES = (7, 14, 30)
CALL_COLUMNS = ["report_date", "level", *LEVEL_KEYS["ad"], "days_live", "cost_to_date_usd", "estimated_roas",
                "estimated_roas_lower", "estimated_roas_upper", "recommendation"]
KEYS = LEVEL_KEYS["ad"]
SCORE_COLUMNS = ["report_date", "level", *KEYS, "age_days", "call_date", "recommendation", "estimated_roas",
                 "estimated_roas_lower", "estimated_roas_upper", "cost_at_call_usd", "scored_cost_usd",
                 "scored_return_usd", "cost_after_call_usd", "realised_roas", "outcome", "abs_pct_error",
                 "in_interval"]
RIGHT, WRONG, NO_CALL = "right", "wrong", "no call"


@dataclass(frozen=True)
class BacktestWindow:
    """Report day, horizon (days since install), the call ages and the trailing window of scoring days."""

    report_date: pd.Timestamp
    horizon_days: int = 180
    window_days: int = 180
    ages: tuple[int, ...] = AGES
    break_even: float = 1.0  # a stop is right when the realised ROAS is below it, a scale when above

    @property
    def last_cohort(self) -> pd.Timestamp:
        """The latest install day whose first ``horizon_days`` days are all seen by the report day."""
        return pd.Timestamp(self.report_date).normalize() - pd.Timedelta(days=self.horizon_days - 1)

    @property
    def first_call(self) -> pd.Timestamp:
        """The earliest call day whose horizon passed inside the trailing window."""
        return self.last_cohort - pd.Timedelta(days=self.window_days - 1)

    def input_days(self) -> int:
        """Days of history the scoring reads (calls of the window and the cohorts from their first spend)."""
        return self.horizon_days + self.window_days + max(self.ages)


def realised_by_ad(spend: pd.DataFrame, installs: pd.DataFrame, behavior: pd.DataFrame, window: BacktestWindow,
                   cost_column: str = "cost_usd") -> pd.DataFrame:
    """Per ad (``KEYS``) and spend day up to the window's last cohort: cost, and the return of that day's
    installs within the horizon (cohorts whose horizon has passed only). It serves every earlier report
    day too (``score_calls`` keeps their own cohorts): a cohort's horizon return does not change after."""
    _require(spend, "ad_spend", ["report_date", *KEYS, cost_column])
    _require(installs, "installs", ["user_id", "install_date", "network", "ad_id"])
    _require(behavior, "behavior_value", ["report_date", "user_id", "credited_usd"])
    last = window.last_cohort
    sp = spend[["report_date", *KEYS]].copy()
    sp["cost"] = spend[cost_column].astype(float)
    sp["report_date"] = _dates(sp["report_date"])
    _no_nan(sp, "ad_spend", ["cost"], ["report_date", "network", "ad_id"])
    sp = sp[sp["report_date"] <= last]
    for c in KEYS:
        sp[c] = sp[c].astype(str)
    cost = sp.groupby([*KEYS, "report_date"], as_index=False)["cost"].sum()

    ins = installs[["user_id", "install_date", "network", "ad_id"]].copy()
    ins["install_date"] = _dates(ins["install_date"])
    ins = ins[(ins["install_date"] <= last) & ins["ad_id"].notna() & (ins["ad_id"].astype(str) != "")]
    ins = ins.astype({"network": str, "ad_id": str})
    beh = behavior[["report_date", "user_id", "credited_usd"]].copy()
    beh["report_date"] = _dates(beh["report_date"])
    _no_nan(beh, "behavior_value", ["credited_usd"], ["report_date", "user_id"])
    rev = beh.merge(ins, on="user_id", how="inner")
    rev = rev[(rev["report_date"] - rev["install_date"]).dt.days < window.horizon_days]
    rev = (rev.groupby(["network", "ad_id", "install_date"], as_index=False)["credited_usd"].sum()
           .rename(columns={"install_date": "report_date", "credited_usd": "revenue"}))
    # an ad's hierarchy from its latest spend row: revenue of a day without spend still lands on its ad
    # (an ad without any spend keeps empty ids: no call names it, and its revenue is not dropped)
    hier = sp.drop_duplicates(["network", "ad_id"], keep="last")[KEYS]
    rev = rev.merge(hier, on=["network", "ad_id"], how="left").fillna({c: "" for c in KEYS})
    out = cost.merge(rev, on=[*KEYS, "report_date"], how="outer")
    return out.fillna({"cost": 0.0, "revenue": 0.0}).sort_values([*KEYS, "report_date"]).reset_index(drop=True)


def _calls(reports: pd.DataFrame, window: BacktestWindow) -> pd.DataFrame:
    _require(reports, "roas_report", CALL_COLUMNS)
    r = reports[reports["level"].isin(SCORED_LEVELS) & reports["days_live"].isin(list(window.ages))][CALL_COLUMNS].copy()
    r["report_date"] = _dates(r["report_date"])
    r = r[r["report_date"] <= window.last_cohort]
    for c in KEYS:
        r[c] = r[c].fillna("").astype(str)
    dup = r.duplicated(["report_date", "level", *KEYS], keep=False)
    if dup.any():
        raise ReportInputError(f"roas_report: {int(dup.sum())} rows repeat a (report_date, level, object), e.g. "
                               f"{r.loc[dup, ['report_date', 'level', 'ad_id']].head(3).astype(str).to_dict('records')}")
    return r.rename(columns={"report_date": "call_date", "days_live": "age_days"})


def score_calls(reports: pd.DataFrame, realised: pd.DataFrame, window: BacktestWindow) -> pd.DataFrame:
    """One row per call (object x age) whose horizon has passed by the report day, scored; ``reports``
    are stored ``roas_report`` rows of earlier days, ``realised`` is ``realised_by_ad``'s table."""
    return CallScorer(reports, realised, window).score(window, windowed=False)


class CallScorer:
    """``score_calls`` for the report days of a run, the calls and each level's per-day sums prepared once.

    ``window``: the run's last day's (its last cohort bounds every day's calls and realised rows). A day's
    sums per object (to its last cohort) and per call (its object's days after the call) are pandas group
    sums over the same rows in the same order as a merge on the object's keys gives them, so the same
    floats, but gathered by integer positions: a day costs ~ its calls, not a merge of every call with
    its object's whole history."""

    _SPAN = 1 << 20  # day numbers in an (object, day) key

    def __init__(self, reports: pd.DataFrame, realised: pd.DataFrame, window: BacktestWindow):
        self.calls = _calls(reports, window)
        realised = realised[realised["report_date"] <= window.last_cohort]
        self.levels = {}
        for level in SCORED_LEVELS:
            keys = LEVEL_KEYS[level]
            c = self.calls[self.calls["level"] == level].reset_index(drop=True)
            if c.empty:
                continue
            per_day = realised.groupby([*keys, "report_date"], as_index=False)[["cost", "revenue"]].sum()
            obj = per_day.groupby(keys, sort=False).ngroup().to_numpy(np.int64)  # sorted by keys: 0, 1, ...
            objects = per_day[keys].drop_duplicates().assign(_obj=np.arange(obj.max() + 1 if len(obj) else 0))
            code = c[keys].merge(objects, on=keys, how="left")["_obj"].fillna(-1).to_numpy(np.int64)
            day = day_numbers(per_day["report_date"])
            self.levels[level] = {"calls": c, "obj_of_call": code, "call_day": day_numbers(c["call_date"]),
                                  "obj": obj, "day": day, "key": obj * self._SPAN + day,
                                  "sums": per_day[["cost", "revenue"]].reset_index(drop=True)}

    def score(self, window: BacktestWindow, windowed: bool = True) -> pd.DataFrame:
        """``score_calls`` for ``window``'s report day; ``windowed``: only the calls ``in_window`` keeps."""
        last = int(day_numbers([window.last_cohort])[0])
        first = int(day_numbers([window.first_call])[0]) if windowed else None
        frames = []
        for level in SCORED_LEVELS:
            lv = self.levels.get(level)
            if lv is None:
                continue
            sel = lv["call_day"] <= last
            if first is not None:
                sel &= lv["call_day"] >= first
            if not sel.any():
                continue
            s = lv["calls"][sel].reset_index(drop=True)
            code, call_day = lv["obj_of_call"][sel], lv["call_day"][sel]
            upto = lv["day"] <= last
            total = lv["sums"][upto].groupby(lv["obj"][upto]).sum().reindex(code)
            s["cost"] = total["cost"].fillna(0.0).to_numpy()
            s["revenue"] = total["revenue"].fillna(0.0).to_numpy()
            # cost after the call: the object's spend days after the call day, up to the last cohort
            base = np.where(code >= 0, code, 0) * self._SPAN
            lo = np.searchsorted(lv["key"], base + call_day, "right")
            n = np.where(code >= 0, np.searchsorted(lv["key"], base + last, "right") - lo, 0).clip(min=0)
            rows = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
            after = lv["sums"]["cost"].to_numpy()[rows]
            s["cost_after_call_usd"] = (pd.Series(after).groupby(np.repeat(np.arange(len(s)), n)).sum()
                                        .reindex(np.arange(len(s))).fillna(0.0).to_numpy())
            frames.append(s)
        if not frames:
            return empty_scores()
        return _scored(frames, window)


def _scored(frames: list[pd.DataFrame], window: BacktestWindow) -> pd.DataFrame:
    cols = [c for c in SCORE_COLUMNS if c != "report_date"]
    s = pd.concat(frames, ignore_index=True).rename(columns={"cost": "scored_cost_usd", "revenue": "scored_return_usd",
                                                            "cost_to_date_usd": "cost_at_call_usd"})
    s["realised_roas"] = np.where(s["scored_cost_usd"] > 0, s["scored_return_usd"] / s["scored_cost_usd"].where(
        s["scored_cost_usd"] > 0), np.nan)
    ok = s["realised_roas"].notna()
    stop, scale = s["recommendation"].eq("stop"), s["recommendation"].eq("scale")
    right = (stop & (s["realised_roas"] < window.break_even)) | (scale & (s["realised_roas"] > window.break_even))
    s["outcome"] = np.where(~(stop | scale) | ~ok, NO_CALL, np.where(right, RIGHT, WRONG))
    est, real = s["estimated_roas"].astype(float), s["realised_roas"].astype(float)
    s["abs_pct_error"] = ((est - real).abs() / real).where(real > 0)
    lo, hi = s["estimated_roas_lower"].astype(float), s["estimated_roas_upper"].astype(float)
    s["in_interval"] = ((lo <= real) & (real <= hi)).astype("boolean").where(ok & lo.notna() & hi.notna())
    s.insert(0, "report_date", pd.Timestamp(window.report_date).normalize())
    s["age_days"] = s["age_days"].astype("int64")
    return s[["report_date", *cols]].sort_values(["level", "age_days", *KEYS]).reset_index(drop=True)


def empty_scores() -> pd.DataFrame:
    """No call scored: the table's columns with their dtypes (a day without calls concatenates cleanly)."""
    return _empty_scores().copy()


@functools.cache
def _empty_scores() -> pd.DataFrame:  # built once: every day of the year's first half has no call to score
    dtypes = {"report_date": "datetime64[ns]", "call_date": "datetime64[ns]", "age_days": "int64",
              "in_interval": "boolean", **{c: "float64" for c in SCORE_COLUMNS if c.endswith(("_usd", "_roas"))
                                           or c.startswith("estimated_roas") or c == "abs_pct_error"}}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, object)) for c in SCORE_COLUMNS})


def in_window(scored: pd.DataFrame, window: BacktestWindow) -> pd.DataFrame:
    """The scored calls whose horizon passed in the trailing window."""
    return scored[as_datetimes(scored["call_date"]) >= window.first_call]


SUMMARY_COLUMNS = ["level", "age_days", "calls", "mape", "coverage", "stops", "stops_right", "stop_precision",
                   "stop_recall", "scales", "scales_right", "scale_precision", "scale_recall", "unprofitable",
                   "unprofitable_spend_stopped"]


def _share(num: int, den: int) -> float:
    return num / den if den else np.nan


def summarise(scored: pd.DataFrame, break_even: float = 1.0) -> pd.DataFrame:
    """Per level and age: calls scored, per-object MAPE of the estimated ROAS and coverage of its
    interval against the realised ROAS, stop / scale precision and recall, and the unprofitable
    spend stopped (cost after an object's first stop call at that age or earlier, over the scored cost
    of the truly unprofitable objects). Empty shares are NaN. Arrays, not a frame per group: the budget
    actions summarise every day of a run."""
    real = scored["realised_roas"].to_numpy(float)
    ok = ~np.isnan(real)
    bad, good = ok & (real < break_even), ok & (real > break_even)
    stop_call = scored["recommendation"].eq("stop").to_numpy(bool)
    stop, scale = stop_call & ok, scored["recommendation"].eq("scale").to_numpy(bool) & ok
    err = scored["abs_pct_error"].to_numpy(float)
    known = scored["in_interval"].notna().to_numpy(bool)
    inside = scored["in_interval"].fillna(False).to_numpy(bool)
    cost, after = scored["scored_cost_usd"].to_numpy(float), scored["cost_after_call_usd"].to_numpy(float)
    ages, calls_on = scored["age_days"].to_numpy(), as_datetimes(scored["call_date"]).to_numpy()
    rows = []
    for level, at in sorted(scored.groupby("level", sort=False).indices.items()):
        obj = scored.iloc[at].groupby(LEVEL_KEYS[level], sort=False, dropna=False).ngroup().to_numpy()
        is_stop = stop_call[at]
        stops_at = at[is_stop]  # the level's stop calls, scored or not, earliest first per object
        order = np.lexsort((calls_on[stops_at], obj[is_stop]))
        stops_at, stop_obj = stops_at[order], obj[is_stop][order]
        for age in np.unique(ages[at]):
            this_age = ages[at] == age
            g, g_obj = at[this_age], obj[this_age]
            young = ages[stops_at] <= age
            first = pd.Series(stops_at[young]).groupby(stop_obj[young], sort=False).first()
            hit = g_obj[bad[g]]
            found = first.reindex(hit).dropna().to_numpy(np.int64)
            bad_cost = cost[g][bad[g]].sum()
            n_stop, n_scale, n_bad, n_good = (int(m[g].sum()) for m in (stop, scale, bad, good))
            stops_right, scales_right = int((stop & bad)[g].sum()), int((scale & good)[g].sum())
            e, iv = err[g][~np.isnan(err[g])], inside[g][known[g]]
            rows.append({
                "level": level, "age_days": int(age), "calls": int(ok[g].sum()),
                "mape": float(e.mean()) if len(e) else np.nan, "coverage": float(iv.mean()) if len(iv) else np.nan,
                "stops": n_stop, "stops_right": stops_right, "stop_precision": _share(stops_right, n_stop),
                "stop_recall": _share(stops_right, n_bad),
                "scales": n_scale, "scales_right": scales_right, "scale_precision": _share(scales_right, n_scale),
                "scale_recall": _share(scales_right, n_good), "unprofitable": n_bad,
                "unprofitable_spend_stopped": after[found].sum() / bad_cost if bad_cost > 0 else np.nan,
            })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def summary_line(summary: pd.DataFrame, since: pd.Timestamp, level: str = "ad") -> str:
    """The Slack line: how often the ad-level calls made on or after ``since`` were right, per age."""
    s = summary[summary["level"] == level]
    if s.empty or not s["calls"].sum():
        return f"No {level} calls scored yet: a call is scored once its users have been seen for the horizon."
    parts = []
    for _, r in s.iterrows():
        bits = [f"stop right in {r['stops_right']} of {r['stops']}", f"scale right in {r['scales_right']} of {r['scales']}"]
        if pd.notna(r["mape"]):
            bits.append(f"MAPE {r['mape']:.0%}")
        parts.append(f"day {r['age_days']}: " + ", ".join(bits))
    return f"Calls scored, made since {pd.Timestamp(since).date()} ({level}s): " + "; ".join(parts)

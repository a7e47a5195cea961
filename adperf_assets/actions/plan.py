"""The day's action plan from the report's calls, guarded by the policy and by how often such calls
were right (``decision_backtest``).

- An ad called ``stop`` is paused; a paused ad called ``scale`` is resumed (``allow_resume``).
- An object that holds a daily budget (a Facebook ad set or campaign, a Google Ads campaign: ``state``
  says which) called ``scale`` gets its budget raised by ``max_budget_step``, called ``stop`` lowered by
  it, within ``min_daily_budget`` .. ``max_daily_budget``.
- Guards, each with its reason in words: excluded objects, objects the network does not know, too little
  spend or too few days, no finite estimate or interval, a call whose measured precision at the object's
  age is below ``min_precision`` (or not measured), nothing to change (already paused, at a budget limit),
  and at most ``max_actions_per_day`` actions, those on the most spend first.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from adperf_assets.actions.policy import ActionPolicy
from adperf_assets.report.columns import LEVEL_KEYS, NAME_OF

ACTION_LEVELS = ("ad", "ad_group", "campaign")
STATE_COLUMNS = ["network", "level", "object_id", "status", "daily_budget", "currency"]
PLAN_COLUMNS = ["report_date", "network", "account_id", "campaign_id", "ad_group_id", "level", "object_id",
                "object_name", "ref", "call", "action",
                "status_before", "status_after", "budget_before", "budget_after", "currency", "days_live",
                "cost_to_date_usd", "estimated_roas", "estimated_roas_lower", "estimated_roas_upper", "age_scored",
                "precision", "decision", "reason"]
ACTIVE, PAUSED = "ACTIVE", "PAUSED"
PLANNED, SKIPPED = "planned", "skipped"


class ActionInputError(ValueError):
    """An input of the planner is not what it needs (names the table and field)."""


def _require(frame: pd.DataFrame, table: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ActionInputError(f"{table}: missing column(s) {missing}; has {list(frame.columns)}")


class _Precisions:
    """``decision_scores.summarise``'s precisions per level, by age, looked up once per call."""

    def __init__(self, summary: pd.DataFrame):
        self.levels = {level: g.sort_values("age_days", kind="stable")
                       for level, g in summary.groupby("level", sort=False)} if len(summary) else {}

    def at(self, level: str, call: str, days_live: int) -> tuple[int | None, float]:
        g, col = self.levels.get(level), f"{call}_precision"
        if g is None or col not in g.columns:
            return None, math.nan
        ages = g["age_days"].to_numpy()
        i = int(np.searchsorted(ages, days_live, side="right")) - 1
        if i < 0:
            return None, math.nan
        value = g[col].to_numpy()[i]
        return int(ages[i]), float(value) if pd.notna(value) else math.nan


def measured_precision(summary: pd.DataFrame, level: str, call: str, days_live: int) -> tuple[int | None, float]:
    """The precision of ``call`` at ``level`` measured at the largest scored age not above ``days_live``
    (``decision_scores.summarise``); ``(None, nan)`` when there is none."""
    return _Precisions(summary).at(level, call, days_live)


def _object_id(row, level: str) -> str:
    return str(row[LEVEL_KEYS[level][-1]])


def _object_name(row, level: str) -> str:
    return str(row.get(NAME_OF[LEVEL_KEYS[level][-1]], "") or _object_id(row, level))


def plan_actions(report: pd.DataFrame, state: pd.DataFrame, policy: ActionPolicy,
                 precision: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per stop / scale call of an ad, ad group or campaign: the action it leads to (``planned``)
    or why none (``skipped``). ``state``: the objects as the networks have them now (``STATE_COLUMNS``;
    ``daily_budget`` NaN where the object holds no budget). ``precision``: ``decision_scores.summarise``
    of the latest ``decision_backtest`` (None: nothing measured)."""
    _require(report, "roas_report", ["report_date", "level", *LEVEL_KEYS["ad"], "days_live", "cost_to_date_usd",
                                     "estimated_roas", "estimated_roas_lower", "estimated_roas_upper",
                                     "recommendation"])
    _require(state, "network state", STATE_COLUMNS)
    summary = precision if precision is not None else pd.DataFrame(columns=["level", "age_days"])
    st = state.assign(object_id=state["object_id"].astype(str)).set_index(["network", "level", "object_id"])
    if not st.index.is_unique:
        dup = st.index[st.index.duplicated()].tolist()[:3]
        raise ActionInputError(f"network state: objects listed twice, e.g. {dup}")
    objects = st.to_dict("index")  # (network, level, object_id) -> its state: a dict lookup per call
    precisions = _Precisions(summary)
    excluded = set(map(str, policy.exclude))
    calls = report[report["level"].isin(ACTION_LEVELS) & report["recommendation"].isin(["stop", "scale"])]
    rows = []
    for r in calls.to_dict("records"):
        level, call = r["level"], r["recommendation"]
        oid = _object_id(r, level)
        out = {"report_date": r["report_date"], "network": r["network"], "account_id": r["account_id"],
               "campaign_id": r["campaign_id"], "ad_group_id": r["ad_group_id"], "level": level, "object_id": oid,
               "object_name": _object_name(r, level), "ref": "", "call": call,
               "action": "none", "status_before": None, "status_after": None, "budget_before": np.nan,
               "budget_after": np.nan, "currency": None, "days_live": int(r["days_live"]),
               "cost_to_date_usd": float(r["cost_to_date_usd"]), "estimated_roas": r["estimated_roas"],
               "estimated_roas_lower": r["estimated_roas_lower"], "estimated_roas_upper": r["estimated_roas_upper"],
               "age_scored": None, "precision": np.nan, "decision": SKIPPED}
        rows.append(out)
        names = {str(r.get(c, "")) for c in [*LEVEL_KEYS[level][1:], *[NAME_OF[k] for k in LEVEL_KEYS[level][1:]]]}
        hit = sorted((names - {""}) & excluded)
        if hit:
            out["reason"] = f"excluded by policy ({', '.join(hit)})"
            continue
        key = (r["network"], level, oid)
        if key not in objects:
            out["reason"] = f"not found on {r['network']} (no {level} {oid} in the network's current state)"
            continue
        s = objects[key]
        status = str(s["status"]).upper()
        budget = float(s["daily_budget"]) if pd.notna(s["daily_budget"]) else math.nan
        out.update(status_before=status, status_after=status, budget_before=budget, budget_after=budget,
                   currency=s["currency"], ref=str(s.get("ref", "") or ""))
        if status not in (ACTIVE, PAUSED):
            out["reason"] = f"status {status} on {r['network']}: only active or paused objects are acted on"
            continue
        if out["cost_to_date_usd"] < policy.min_cost or out["days_live"] < policy.min_days:
            out["reason"] = (f"too early to act: {out['cost_to_date_usd']:.2f} spent over {out['days_live']} day(s); "
                             f"the policy needs {policy.min_cost:.2f} and {policy.min_days} days")
            continue
        figures = [r["estimated_roas"], r["estimated_roas_lower"], r["estimated_roas_upper"]]
        if any(v is None or not np.isfinite(float(v)) for v in figures):
            out["reason"] = "no finite estimated ROAS and interval: nothing to act on"
            continue
        age, prec = precisions.at(level, call, out["days_live"])
        out["age_scored"], out["precision"] = age, prec
        if math.isnan(prec):
            if not policy.act_unmeasured:
                out["reason"] = (f"{call} calls of {level}s at this age have no measured precision yet "
                                 f"(decision_backtest); the policy acts only on measured calls")
                continue
        elif prec < policy.min_precision:
            out["reason"] = (f"{call} calls of {level}s at day {age} were right in {prec:.0%} of cases, below the "
                             f"policy's {policy.min_precision:.0%}")
            continue
        why = (f"called {call}: estimated ROAS {float(r['estimated_roas']):.2f} (interval "
               f"{float(r['estimated_roas_lower']):.2f}-{float(r['estimated_roas_upper']):.2f}) after "
               f"{out['cost_to_date_usd']:.2f} over {out['days_live']} days"
               + (f"; such calls were right in {prec:.0%} at day {age}" if not math.isnan(prec) else ""))
        if not math.isnan(budget):
            _budget_action(out, call, status, budget, policy, why)
        elif level == "ad":
            _status_action(out, call, status, policy, why)
        else:
            out["reason"] = f"{why}; the {level} holds no budget and is not paused as a whole by the policy"
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    planned = plan.index[plan["decision"] == PLANNED]
    order = plan.loc[planned].sort_values("cost_to_date_usd", ascending=False, kind="stable").index
    over = order[policy.max_actions_per_day:]
    plan.loc[over, "decision"] = SKIPPED
    plan.loc[over, "reason"] = plan.loc[over, "reason"] + (f" -- not acted on: over the policy's "
                                                           f"{policy.max_actions_per_day} actions a day")
    plan.loc[over, ["status_after"]] = plan.loc[over, "status_before"]
    plan.loc[over, "budget_after"] = plan.loc[over, "budget_before"]
    plan.loc[over, "action"] = "none"
    return plan.sort_values(["decision", "cost_to_date_usd"], ascending=[True, False]).reset_index(drop=True)


def _status_action(out: dict, call: str, status: str, policy: ActionPolicy, why: str) -> None:
    if call == "stop":
        if status == PAUSED:
            out["reason"] = f"{why}; already paused"
            return
        out.update(action="pause", status_after=PAUSED, decision=PLANNED, reason=f"{why}: pause the ad")
    elif status == PAUSED:
        if not policy.allow_resume:
            out["reason"] = f"{why}; paused, and the policy does not resume ads"
            return
        out.update(action="resume", status_after=ACTIVE, decision=PLANNED, reason=f"{why}: resume the paused ad")
    else:
        out["reason"] = f"{why}; the ad is active and holds no budget (its ad set or campaign does)"


def _budget_action(out: dict, call: str, status: str, budget: float, policy: ActionPolicy, why: str) -> None:
    if status == PAUSED:
        out["reason"] = f"{why}; paused: its budget is left as it is"
        return
    if call == "scale":
        new = budget * (1 + policy.max_budget_step)
        if policy.max_daily_budget is not None:
            new = min(new, policy.max_daily_budget)
        action = "raise_budget"
    else:
        new = max(budget * (1 - policy.max_budget_step), policy.min_daily_budget)
        action = "lower_budget"
    new = round(new, 2)
    if (call == "scale" and new <= budget) or (call == "stop" and new >= budget):
        out["reason"] = f"{why}; the budget {budget:.2f} is already at the policy's limit"
        return
    out.update(action=action, budget_after=new, decision=PLANNED,
               reason=f"{why}: daily budget {budget:.2f} -> {new:.2f} {out['currency']}")


def inverse_actions(applied: pd.DataFrame) -> pd.DataFrame:
    """The actions that undo ``applied`` (log rows with ``status_before/after``, ``budget_before/after``):
    each object back to its value before, newest action first (an object acted on twice goes back to
    its first value)."""
    rows = []
    for _, a in applied.sort_values("created_at", ascending=False).iterrows():
        budget = a["action"] in ("raise_budget", "lower_budget", "set_budget")
        rows.append({**a.to_dict(), "action": "set_budget" if budget else ("resume" if a["status_before"] == ACTIVE
                                                                            else "pause"),
                     "status_before": a["status_after"], "status_after": a["status_before"],
                     "budget_before": a["budget_after"], "budget_after": a["budget_before"],
                     "refers_to": a["action_id"], "reason": f"revert of {a['action']} {a['action_id']}"})
    return pd.DataFrame(rows)

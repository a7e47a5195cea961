"""The two commands a person launches for a report day (partition) in the UI:

- ``apply_budget_actions``: the approval. Applies the day's actions that ``budget_actions`` (with
  ``approval: required``) validated and left waiting, after checking each object is still as planned.
  Launching the job is the approval: Dagster keeps who launched it and when, with its logs (a sensor on
  an approval file would keep neither, and would need a second place to grant the right to approve).
- ``revert_budget_actions``: puts every object the day's applied actions changed back to its value before.

Both log each action in ``analytics.budget_action_log``; the kill switch makes them validate only.
"""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from adperf_assets.actions.plan import inverse_actions
from adperf_assets.actions.policy import kill_switch_on
from adperf_assets.defs.actions import log as action_log
from adperf_assets.defs.actions.assets import actor, carry_out, networks
from adperf_assets.defs.actions.networks import AdActions
from adperf_assets.defs.common.metadata import table_md
from adperf_assets.partitions import daily_partitions


def _unchanged(nets: dict, row: pd.Series) -> str:
    """Empty when the object is still as the action found it, else why not."""
    net = nets.get(row["network"])
    if net is None:
        return f"no action resource for network {row['network']!r}"
    obj = pd.DataFrame([{k: row.get(k) for k in ("network", "account_id", "campaign_id", "ad_group_id", "level",
                                                 "object_id", "ref")}])
    now = net.state(obj)
    if now.empty:
        return f"{row['level']} {row['object_id']} is no longer on {row['network']}"
    s = now.iloc[0]
    if str(s["status"]) != str(row["status_before"]):
        return f"status is {s['status']} now, {row['status_before']} when planned"
    before, cur = row["budget_before"], s["daily_budget"]
    if pd.notna(before) and (pd.isna(cur) or abs(float(cur) - float(before)) > 0.005):
        return f"daily budget is {cur} now, {before} when planned"
    return ""


def _run(context: dg.OpExecutionContext, duckdb: DuckDBResource, nets: dict, rows: pd.DataFrame, mode: str,
         done_outcome: str) -> dict:
    dry = kill_switch_on()
    who = actor(context)
    results = []
    for _, row in rows.iterrows():
        rec = {**row.to_dict(), "action_id": None, "run_id": context.run.run_id, "actor": who, "mode": mode,
               "refers_to": row.get("refers_to") or row["action_id"]}
        why = _unchanged(nets, row)
        if why:
            rec.update(outcome="failed", answer=f"not applied: {why}", attempts=0)
        else:
            res = carry_out(nets.get(row["network"]), rec, validate_only=dry)
            rec.update(outcome="failed" if not res.ok else ("validated" if dry else done_outcome), answer=res.answer,
                       attempts=res.attempts)
        action_log.append(duckdb, rec)
        results.append(rec)
    out = pd.DataFrame(results)
    failed = out[out["outcome"] == "failed"] if len(out) else out
    context.log.info(f"{mode}: {len(out)} action(s), {len(failed)} failed{' (kill switch: validated only)' if dry else ''}")
    meta = {"actions": len(out), "failed": len(failed), "kill_switch": dry,
            "log": table_md(out, columns=["outcome", "action", "level", "object_id", "network", "status_after",
                                          "budget_after", "answer"])}
    if len(failed):
        raise dg.Failure(description=f"{len(failed)} of {len(out)} action(s) not {done_outcome}; each one is in "
                                     f"analytics.budget_action_log", metadata=meta, allow_retries=False)
    return meta


def _for_day(context: dg.OpExecutionContext, duckdb: DuckDBResource, nets: dict, pick, mode: str, outcome: str,
             none: str) -> None:
    """The partition day's log rows ``pick`` selects, carried out as ``mode``."""
    day = pd.Timestamp(context.partition_key)
    rows = pick(action_log.read(duckdb, day))
    if rows.empty:
        context.log.info(f"{day.date()}: {none}")
        return
    _run(context, duckdb, nets, rows, mode, outcome)


@dg.op(out=dg.Out(dg.Nothing))
def apply_approved_actions(context: dg.OpExecutionContext, duckdb: DuckDBResource, facebook_actions: AdActions,
                           google_ads_actions: AdActions) -> None:
    """Apply the partition day's actions waiting for approval."""
    _for_day(context, duckdb, networks(facebook_actions, google_ads_actions),
             lambda log: action_log.awaiting(log).pipe(lambda w: w.assign(refers_to=w["action_id"])),
             "approved", "applied", "no action waiting for approval")


@dg.op(out=dg.Out(dg.Nothing))
def revert_day_actions(context: dg.OpExecutionContext, duckdb: DuckDBResource, facebook_actions: AdActions,
                       google_ads_actions: AdActions) -> None:
    """Undo the partition day's applied actions that are not undone yet, newest first."""
    _for_day(context, duckdb, networks(facebook_actions, google_ads_actions),
             lambda log: inverse_actions(action_log.applied_not_reverted(log)),
             "revert", "reverted", "no applied action to revert")


@dg.job(partitions_def=daily_partitions, tags={"kind": "budget_actions"},
        description="Approve: apply the day's budget actions that wait for approval (budget_actions with "
                    "approval: required). Launching it for a day is the approval.")
def apply_budget_actions():
    apply_approved_actions()


@dg.job(partitions_def=daily_partitions, tags={"kind": "budget_actions"},
        description="Revert: put every object the day's applied budget actions changed back to its value before.")
def revert_budget_actions():
    revert_day_actions()

"""``budget_actions``: the day's report calls turned into paused ads and moved budgets -- dry-run by
default, guarded by the policy and by the calls' measured precision, every action logged, and
undone by ``revert_budget_actions``. Planning is ``adperf_assets.actions`` (pure); the networks are
``AdActions`` resources. More: docs/budget_actions.md."""


import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from adperf_assets.actions import ActionPolicy, plan_actions
from adperf_assets.actions.plan import LEVEL_KEYS, PLANNED
from adperf_assets.defs.actions import log as action_log
from adperf_assets.defs.actions.networks import ActionResult, AdActions, as_action
from adperf_assets.defs.actions.schemas import BudgetActionsFrame
from adperf_assets.defs.common.metadata import days_label, table_md
from adperf_assets.defs.common.redaction import redact
from adperf_assets.defs.common.schema_types import empty_frame
from adperf_assets.defs.common.tables import daily_table
from adperf_assets.defs.report.slack import SlackPostError, SlackSender
from adperf_assets.partitions import trailing, window_days
from adperf_assets.report.decision_scores import summarise

GROUP = "actions"
APPROVALS = ("none", "required")


class BudgetActionsConfig(dg.Config):
    dry_run: bool = Field(default=True, description="Plan and validate only (the networks' validate-only modes); "
                                                    "ADPERF_ACTIONS_KILL_SWITCH forces it whatever this says.")
    approval: str = Field(default="none", description="'required': validate and post the plan; a person applies it "
                                                      "by launching apply_budget_actions for the day.")
    max_budget_step: float = Field(default=0.2, description="Largest relative daily-budget change per object and day.")
    min_daily_budget: float = Field(default=1.0, description="Budgets never go below this (account currency).")
    max_daily_budget: float = Field(default=0.0, description="Budgets never go above this (0: no ceiling).")
    max_actions_per_day: int = Field(default=20, description="At most this many actions a day, most spend first.")
    min_cost: float = Field(default=100.0, description="No action before the object has cost this much.")
    min_days: int = Field(default=7, description="No action before the object has run this many days.")
    min_precision: float = Field(default=0.8, description="No action from a call whose measured precision at the "
                                                          "object's age (decision_backtest) is below this.")
    act_unmeasured: bool = Field(default=False, description="Act on calls whose precision is not measured yet.")
    allow_resume: bool = Field(default=True, description="Resume a paused ad the report calls 'scale'.")
    exclude: list[str] = Field(default=[], description="Ids or names of objects never touched.")

    def policy(self) -> ActionPolicy:
        if self.approval not in APPROVALS:
            raise ValueError(f"approval={self.approval!r}; choose one of {', '.join(APPROVALS)}")
        return ActionPolicy(dry_run=self.dry_run, max_budget_step=self.max_budget_step,
                            min_daily_budget=self.min_daily_budget, max_daily_budget=self.max_daily_budget or None,
                            max_actions_per_day=self.max_actions_per_day, min_cost=self.min_cost,
                            min_days=self.min_days, min_precision=self.min_precision,
                            act_unmeasured=self.act_unmeasured, allow_resume=self.allow_resume,
                            exclude=tuple(self.exclude))


def networks(facebook_actions: AdActions, google_ads_actions: AdActions) -> dict:
    return {"facebook": facebook_actions, "google_ads": google_ads_actions}


def actor(context) -> str:
    """Who launched the run: the UI's user tag where Dagster+ sets one, else how it was launched."""
    tags = context.run.tags
    return tags.get("dagster/user") or ("schedule/sensor" if tags.get("dagster/schedule_name")
                                        or tags.get("dagster/sensor_name") else "run launched in Dagster")


def carry_out(net: "AdActions | None", row: dict, validate_only: bool) -> ActionResult:
    """The network's answer to one action; an exception of the client is an answer too (never lost)."""
    if net is None:
        return ActionResult(False, f"no action resource for network {row.get('network')!r}", 0, validate_only)
    try:
        return net.apply(as_action(row), validate_only)
    except Exception as exc:  # noqa: BLE001 -- recorded in the log and fails the step after the rest
        return ActionResult(False, redact(f"{type(exc).__name__}: {exc}"), 0, validate_only)


def current_state(nets: dict, report: pd.DataFrame) -> pd.DataFrame:
    calls = report[report["level"].isin(["ad", "ad_group", "campaign"]) & report["recommendation"].isin(["stop", "scale"])]
    frames = []
    for network, g in calls.groupby("network"):
        if network not in nets:
            continue
        object_id = pd.Series("", index=g.index, dtype=object)
        for level, keys in LEVEL_KEYS.items():  # the object's id is its level's last key
            at = (g["level"] == level).to_numpy()
            if at.any():
                object_id[at] = g.loc[at, keys[-1]].astype(str)
        objects = g.assign(object_id=object_id)
        frames.append(nets[network].state(objects))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["network", "level", "object_id", "status", "daily_budget", "currency", "ref"])


def plan_message(day, plan: pd.DataFrame, mode: str) -> dict:
    acted = plan[plan["outcome"].isin(["applied", "validated", "awaiting_approval", "failed"])]
    counts = plan["outcome"].value_counts().to_dict()
    head = (f"Budget actions {day.date()} ({mode}): " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in
                                                               sorted(counts.items())) if len(plan) else
            f"Budget actions {day.date()}: no stop / scale call to act on")
    lines = [f"• {r['outcome']}: {r['action']} {r['level']} *{r['object_name']}* ({r['network']}) -- {r['reason']}"
             for _, r in acted.head(15).iterrows()]
    if mode == "awaiting approval" and len(acted):
        lines.append(f"To apply: launch the job `apply_budget_actions` for partition {day.date()} in Dagster.")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": ("*" + head + "*\n" + "\n".join(lines))[:3000]}}]
    return {"text": head, "blocks": blocks}


BACKFILL_NOTE = " -- a backfill day: only the window's last day is acted on"


def _log_records(plan: pd.DataFrame, run_id: str, who: str) -> list[dict]:
    return plan.assign(run_id=run_id, actor=who).to_dict("records")


def log_plans(duckdb: DuckDBResource, plans: list[pd.DataFrame], run_id: str, who: str) -> None:
    """Log the rows of plans none of whose actions goes to a network, in one connection; each plan's
    ``action_id`` column gets the ids."""
    plans = [p for p in plans if len(p)]
    ids = action_log.append_many(duckdb, [rec for p in plans for rec in _log_records(p, run_id, who)])
    k = 0
    for p in plans:
        p["action_id"] = ids[k:k + len(p)]
        k += len(p)


def act_on(plan: pd.DataFrame, nets: dict, mode: str, duckdb: DuckDBResource, run_id: str, who: str,
           failed: list, applied: list) -> None:
    """The window's last day: each planned action validated, put up for approval or applied, and logged
    before the next is tried (rows not sent to a network logged together, before the next one that is)."""
    records = _log_records(plan, run_id, who)
    pending: list[int] = []

    def log_pending() -> None:
        for i, action_id in zip(pending, action_log.append_many(duckdb, [records[i] for i in pending])):
            plan.iat[i, plan.columns.get_loc("action_id")] = action_id
        pending.clear()

    for i, rec in enumerate(records):
        pending.append(i)
        if rec["decision"] != PLANNED:
            continue
        res = carry_out(nets.get(rec["network"]), rec, validate_only=mode != "apply")
        outcome = ("failed" if not res.ok else "applied" if mode == "apply" else
                   "awaiting_approval" if mode == "approval" else "validated")
        rec.update(outcome=outcome, answer=res.answer, attempts=res.attempts)
        (failed if not res.ok else applied if outcome == "applied" else []).append(rec)
        for col in ("outcome", "answer", "attempts"):
            plan.iat[i, plan.columns.get_loc(col)] = rec[col]
        log_pending()  # sent to the network: in the log before the next action
    log_pending()


@daily_table(
    group_name=GROUP,
    dagster_type=BudgetActionsFrame,
    kinds=("pandas", "duckdb", "facebook", "googleads"),
    ins={"roas_report": dg.AssetIn(), "decision_backtest": dg.AssetIn(),
         "ad_spend": dg.AssetIn(partition_mapping=trailing(7))},
)
def budget_actions(context: dg.AssetExecutionContext, config: BudgetActionsConfig, duckdb: DuckDBResource,
                   slack: SlackSender, facebook_actions: AdActions, google_ads_actions: AdActions,
                   roas_report: pd.DataFrame, decision_backtest: pd.DataFrame, ad_spend: pd.DataFrame) -> dg.Output:
    """Per report day the plan from the report's stop / scale calls (pause or resume an ad, a daily budget up
    or down by a bounded step) with the reason for each action or for acting not; on the window's last day
    each planned action is validated (dry run), put up for approval, or applied, and logged in
    ``analytics.budget_action_log``. A failure on the network fails the step after every action was tried."""
    policy = config.policy()
    dry = policy.effective_dry_run()
    mode = "dry_run" if dry else ("approval" if config.approval == "required" else "apply")
    nets = networks(facebook_actions, google_ads_actions)
    for net in nets.values():
        net.observe_spend(ad_spend)
    days = window_days(context)
    who = actor(context)
    frames, failed, applied = [], [], []
    # each input split by day once (not a scan of the whole run's rows per day)
    reports = dict(tuple(roas_report.groupby(pd.to_datetime(roas_report["report_date"]), sort=False)))
    scores = dict(tuple(decision_backtest.groupby(pd.to_datetime(decision_backtest["report_date"]), sort=False)))
    lines: list[str] = []
    backfilled: list[pd.DataFrame] = []  # the plans of days before the last: logged together, once
    for day in days:
        report = reports.get(day, roas_report.iloc[:0])
        scored = scores.get(day, decision_backtest.iloc[:0])
        plan = plan_actions(report, current_state(nets, report), policy, summarise(scored))
        plan["mode"], plan["outcome"], plan["answer"], plan["attempts"], plan["action_id"] = mode, "skipped", "", 0, ""
        if day != days[-1]:
            planned = (plan["decision"] == PLANNED).to_numpy()
            plan.loc[planned, "reason"] = plan.loc[planned, "reason"] + BACKFILL_NOTE
            backfilled.append(plan)
        else:
            if backfilled:  # the earlier days' rows go in the log before any action of the last day is tried
                log_plans(duckdb, backfilled, context.run.run_id, who)
                backfilled = []
            act_on(plan, nets, mode, duckdb, context.run.run_id, who, failed, applied)
        frames.append(plan)
        lines.append(f"budget_actions {day.date()} ({mode}): {len(plan)} calls, {(plan['decision'] == PLANNED).sum()} "
                     f"planned; outcomes {plan['outcome'].value_counts().to_dict()}")
    context.log.info("\n".join(lines))  # one event for the run (an event per day cost ~25 ms each)
    planned_days = [f for f in frames if len(f)]  # a day without calls has no rows (and no dtypes)
    out = pd.concat(planned_days, ignore_index=True) if planned_days else empty_frame(BudgetActionsFrame)
    # a run where no call was scored has only None here: DuckDB cannot insert a NULL-typed column into the
    # table's DOUBLE one (a 60-day backfill run of the default world failed so)
    out["age_scored"] = pd.to_numeric(out["age_scored"]).astype("float64")
    last_plan = frames[-1] if frames else out
    message = plan_message(days[-1], last_plan, {"dry_run": "dry run", "approval": "awaiting approval",
                                                 "apply": "applied"}[mode])
    try:
        slack.send(message, f"budget_actions_{days[-1].date()}")
    except SlackPostError as exc:
        context.log.warning(f"the plan was not posted to Slack: {exc}")
    metadata = {"dagster/row_count": len(out), "report_days": days_label(days), "mode": mode,
                "kill_switch": dry and not config.dry_run, "actor": who,
                "planned": int((last_plan["decision"] == PLANNED).sum()), "applied": len(applied), "failed": len(failed),
                "plan": table_md(last_plan, columns=["outcome", "action", "level", "object_name", "network",
                                                     "status_before", "status_after", "budget_before", "budget_after",
                                                     "precision", "reason"])}
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(failed) + len(applied)} action(s) failed on the network; "
                        f"{len(applied)} applied. Every one is in analytics.budget_action_log.",
            metadata={**metadata, "failed_actions": table_md(pd.DataFrame(failed), columns=[
                "network", "level", "object_id", "action", "answer", "attempts"])},
            allow_retries=False)
    return dg.Output(out, metadata=metadata)

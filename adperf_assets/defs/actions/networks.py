"""Acting on a network's ads: read the objects' current state, change a status or a daily budget.

One interface (``AdActions``) per network, a real implementation through the network's SDK and an
embedded sample one (``SampleAdActions``: the state lives in a JSON file under ``ADPERF_HOME``, so a
dry run, an apply and a revert can be seen and tested without a network). More: docs/budget_actions.md.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from adperf_assets.actions.plan import ACTIVE, PAUSED, STATE_COLUMNS

_LOCK = threading.Lock()  # the sample state file is read-modified-written by one thread at a time

#: What an action asks of a network: ``action`` pause / resume (``status_after``) or raise_budget /
#: lower_budget / set_budget (``budget_after``, account currency major units) on ``level`` ``object_id``
#: of ``account_id``; ``ref`` the network's own handle where it needs one (a Google Ads budget resource).
ACTION_FIELDS = ("network", "account_id", "campaign_id", "ad_group_id", "level", "object_id", "action",
                 "status_after", "budget_after", "currency", "ref")


@dataclass(frozen=True)
class ActionResult:
    """The network's answer to one action: ``ok``; ``answer`` what it said (secrets redacted); the
    attempts it took (throttling and 5xx are retried); ``validated_only``: nothing was changed."""

    ok: bool
    answer: str
    attempts: int = 1
    validated_only: bool = False


class AdActions(dg.ConfigurableResource):
    """A network's ads as objects to read and change. Subclasses implement ``state`` and ``apply``."""

    def network(self) -> str:
        raise NotImplementedError

    def observe_spend(self, spend: pd.DataFrame) -> None:
        """Spend rows of the report's window; only the sample network needs them (to know its objects)."""

    def state(self, objects: pd.DataFrame) -> pd.DataFrame:
        """Current state of ``objects`` (``network, account_id, level, object_id``): ``STATE_COLUMNS``
        plus ``ref``; an object the network does not have is left out."""
        raise NotImplementedError

    def apply(self, action: dict, validate_only: bool) -> ActionResult:
        """Carry out one action (``ACTION_FIELDS``), or only validate it where the API can; never raises
        for the network's refusal or an exhausted retry: the result says so."""
        raise NotImplementedError


class SampleAdActions(AdActions):
    """The sample world's ads as a network would hold them: every ad that spent ACTIVE, each ad group
    (ad set) holding a daily budget equal to its mean daily cost of its last 7 days of spend; changes go
    to ``state_file`` and are recorded in ``received`` (what a fake server would have been sent)."""

    network_name: str = Field(description="The network these objects are on (facebook, google_ads, ...).")
    state_file: str = Field(description="JSON file holding the objects' state (created from spend on first use).")

    def network(self) -> str:
        return self.network_name

    def _load(self) -> dict:
        p = Path(self.state_file)
        return json.loads(p.read_text()) if p.exists() else {"objects": {}, "received": []}

    def _save(self, data: dict) -> None:
        p = Path(self.state_file)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(p)

    def observe_spend(self, spend: pd.DataFrame) -> None:
        self.seed_from_spend(spend)

    def seed_from_spend(self, spend: pd.DataFrame, cost_column: str = "cost_local") -> int:
        """Add the objects of ``spend`` (ad_spend rows of this network) not yet known: ads ACTIVE,
        ad groups with a budget; returns how many were added."""
        sp = spend[spend["network"] == self.network_name]
        if sp.empty:
            return 0
        with _LOCK:
            data = self._load()
            objs = data["objects"]
            added = 0
            for ad in sp["ad_id"].astype(str).unique():
                key = f"ad/{ad}"
                if key not in objs:
                    objs[key] = {"status": ACTIVE, "daily_budget": None}
                    added += 1
            sp = sp.assign(report_date=pd.to_datetime(sp["report_date"]))
            recent = sp[sp["report_date"] > sp.groupby("ad_group_id")["report_date"].transform("max")
                        - pd.Timedelta(days=7)]
            days = recent.groupby("ad_group_id")["report_date"].nunique()
            cost = recent.groupby("ad_group_id")[cost_column].sum()
            cur = recent.groupby("ad_group_id")["account_currency"].first()
            for gid in cost.index:
                key = f"ad_group/{gid}"
                if key not in objs:
                    objs[key] = {"status": ACTIVE, "daily_budget": round(float(cost[gid] / max(days[gid], 1)), 2),
                                 "currency": str(cur[gid])}
                    added += 1
            self._save(data)
        return added

    def state(self, objects: pd.DataFrame) -> pd.DataFrame:
        objs = self._load()["objects"]
        rows = []
        for _, o in objects.iterrows():
            s = objs.get(f"{o['level']}/{o['object_id']}")
            if s is None:
                continue
            rows.append({"network": self.network_name, "level": o["level"], "object_id": str(o["object_id"]),
                         "status": s["status"], "daily_budget": s.get("daily_budget") if s.get("daily_budget")
                         is not None else np.nan, "currency": s.get("currency", "USD"), "ref": ""})
        return pd.DataFrame(rows, columns=[*STATE_COLUMNS, "ref"])

    def apply(self, action: dict, validate_only: bool) -> ActionResult:
        with _LOCK:
            data = self._load()
            key = f"{action['level']}/{action['object_id']}"
            data["received"].append({**{k: action.get(k) for k in ACTION_FIELDS}, "validate_only": validate_only})
            obj = data["objects"].get(key)
            if obj is None:
                self._save(data)
                return ActionResult(False, f"unknown object {key}", validated_only=validate_only)
            change = ({"status": action["status_after"]} if action["action"] in ("pause", "resume")
                      else {"daily_budget": float(action["budget_after"])})
            if "status" in change and change["status"] not in (ACTIVE, PAUSED):
                self._save(data)
                return ActionResult(False, f"invalid status {change['status']!r}", validated_only=validate_only)
            if not validate_only:
                obj.update(change)
            self._save(data)
        return ActionResult(True, json.dumps({"success": True, **change}), validated_only=validate_only)

    def received(self) -> list[dict]:
        return self._load()["received"]


def as_action(row: pd.Series | dict) -> dict:
    return {k: (None if (isinstance(row.get(k), float) and np.isnan(row.get(k))) else row.get(k))
            for k in ACTION_FIELDS}



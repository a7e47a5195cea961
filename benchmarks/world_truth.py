"""What the decision benchmarks read of a world's truth: users with their ad and true value, their net
purchases within a horizon, and spend per ad. Shared by ``decisions.py`` and ``actions.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.sample import layout

SEGMENT = ["platform", "acquisition", "network", "is_emulator"]
KEYS = ["network", "account_id", "campaign_id", "ad_group_id", "ad_id"]


def read_truth(world: Path, horizon: int) -> dict:
    """``users`` (with ``day`` since the world's start, the MMP's ``ad_index`` (-1: none) and ``true_value``,
    the expected net value over ``horizon`` days), the purchases within the horizon as arrays ``b_user``
    (row in users), ``b_day``, ``b_age`` and ``b_net`` (net of refunds and chargebacks), ``ads`` and
    ``spend`` (with ``ad_index`` and ``day``); ``cfg`` is the manifest's config as a dict."""
    manifest = json.loads(layout.manifest(world).read_text())
    cfg = manifest.get("config", manifest)
    net = 1.0 - float(cfg.get("refund_rate", 0.04)) - float(cfg.get("chargeback_rate", 0.01))
    start = pd.Timestamp(cfg["start"])
    users = pd.read_parquet(layout.truth(world, "users"), columns=["user_id", "cohort_date", *SEGMENT])
    value = pd.read_parquet(layout.truth(world, "user_value"), columns=["user_id", "ad_index",
                                                                        f"expected_ltv_usd_{horizon}"])
    if not (users["user_id"].to_numpy() == value["user_id"].to_numpy()).all():
        raise SystemExit(f"{world}: truth/users and truth/user_value list different users")
    users["day"] = (users["cohort_date"] - start).dt.days.to_numpy()
    users["ad_index"] = value["ad_index"].fillna(-1).astype(int).to_numpy()
    users["true_value"] = value[f"expected_ltv_usd_{horizon}"].to_numpy()
    buys = pd.read_parquet(layout.truth(world, "purchases"))
    row = pd.Series(np.arange(len(users)), index=users["user_id"].to_numpy())
    b_user = row.reindex(buys["user_id"].to_numpy()).to_numpy()
    b_day = (buys["report_date"] - start).dt.days.to_numpy()
    b_age = b_day - users["day"].to_numpy()[b_user]
    keep = (b_age >= 0) & (b_age < horizon)
    ads = pd.read_parquet(layout.truth(world, "ads"))
    spend = pd.read_parquet(layout.truth(world, "spend"), columns=["report_date", *KEYS, "cost_usd"])
    ad_row = pd.Series(np.arange(len(ads)), index=pd.MultiIndex.from_frame(ads[KEYS]))
    spend["ad_index"] = ad_row.reindex(pd.MultiIndex.from_frame(spend[KEYS])).to_numpy()
    spend["day"] = (spend["report_date"] - start).dt.days.to_numpy()
    return {"cfg": cfg, "users": users, "b_user": b_user[keep], "b_day": b_day[keep], "b_age": b_age[keep],
            "b_net": buys["gross_usd"].to_numpy()[keep] * net, "ads": ads, "spend": spend}

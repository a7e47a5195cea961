"""The revenue chain for real days: fx -> payments snapshot -> match sessions -> behaviour credit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from adperf_assets.defs.revenue.assets import behavior_value
from adperf_assets.credit import credit_revenue
from adperf_assets.defs.resources import build_resources
from adperf_assets_tests.revenue.runs import CHAIN, PAYMENT_CHECKS, checks_by_name, materialize, materialized, table

FIRST, LAST = "2025-07-13", "2025-07-15"
DAYS = ["2025-07-13", "2025-07-14", "2025-07-15"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory, small_settings):
    """The chain with its checks materialized once for three days in one run (default pagerank)."""
    s = dataclasses.replace(small_settings, home=tmp_path_factory.mktemp("revenue_chain"),
                            world_dir=small_settings.world_path)
    res = build_resources(s)
    result = materialize(res, [*CHAIN, *PAYMENT_CHECKS], FIRST, LAST)
    return s, res, result


def test_the_chain_runs_with_every_check_passing(chain):
    s, _, result = chain
    assert result.success
    assert materialized(result) == {"raw/fx_rates", "payments_snapshot", "match_sessions", "behavior_value"}
    assert all(e.passed for e in checks_by_name(result).values())
    value = table(s, "behavior_value")
    snap = table(s, "payments_snapshot")
    assert sorted(value["report_date"].dt.strftime("%Y-%m-%d").unique()) == DAYS
    assert set(value["method"]) == {"pagerank"}
    # paid_usd is the user's own net payments of the day, straight from the snapshot
    paid = snap.groupby(["report_date", "user_id"])["net_usd"].sum()
    keyed = value.set_index(["report_date", "user_id"])["paid_usd"]
    is_payer = keyed.index.isin(paid.index)
    pd.testing.assert_series_equal(keyed[is_payer].sort_index(), paid.sort_index(), check_names=False)
    assert (keyed[~is_payer] == 0).all()
    md = result.asset_materializations_for_node("behavior_value")[-1].metadata  # a range run: tables on its last day
    assert md["revenue_in_usd"].value == pytest.approx(md["credit_out_usd"].value, abs=1e-6)
    assert md["revenue_in_usd"].value == pytest.approx(snap["net_usd"].sum(), abs=1e-3)
    assert 0 < md["share_moved_away_from_payers"].value < 1
    top = md["top_users"].value
    assert [c.strip() for c in top.splitlines()[0].strip("|").split("|")] == ["user_id", "paid_usd", "credited_usd"]
    best = value.groupby("user_id")["credited_usd"].sum().idxmax()
    assert top.splitlines()[2].strip("|").split("|")[0].strip() == str(best)


@pytest.mark.parametrize("method", ["direct", "pagerank", "shapley"])
def test_credit_handed_out_equals_revenue_each_day(chain, method):
    s, res, _ = chain
    result = materialize(res, CHAIN, FIRST, LAST, method=method, selection=[behavior_value])
    assert materialized(result) == {"behavior_value"}
    value = table(s, "behavior_value")
    assert set(value["method"]) == {method}
    sessions = table(s, "match_sessions")
    per_day = value.groupby("report_date")[["paid_usd", "credited_usd"]].sum()
    assert len(per_day) == 3
    assert np.allclose(per_day["credited_usd"], per_day["paid_usd"], rtol=1e-9, atol=1e-9)
    assert (per_day["paid_usd"] > 0).all()
    if (value["paid_usd"] >= 0).all():
        assert (value["credited_usd"] >= -1e-12).all()
    payers = value["paid_usd"] != 0
    if method == "direct":
        assert (value["credited_usd"] == value["paid_usd"]).all() and payers.all()
    else:  # revenue reaches users who paid nothing, and only users who were in a session
        others = value[~payers & (value["credited_usd"] > 0)]
        assert len(others) > 0
        met = set(sessions["user_id"]) | set(sessions["partner_id"])
        assert set(others["user_id"]) <= met
    # the asset's numbers are credit_revenue's on that day's inputs
    day = pd.Timestamp(DAYS[1])
    snap = table(s, "payments_snapshot", f"where report_date = '{DAYS[1]}'")
    rev = snap.groupby("user_id", as_index=False)["net_usd"].sum().rename(columns={"net_usd": "revenue_usd"})
    direct = credit_revenue(sessions[sessions["report_date"] == day], rev, method)
    got = value[value["report_date"] == day].sort_values("user_id", ignore_index=True)
    assert got["user_id"].tolist() == direct["user_id"].tolist()
    assert np.allclose(got["credited_usd"], direct["credited_revenue"], rtol=0, atol=1e-12)


def test_an_unknown_method_fails_with_the_choices(chain):
    _, res, _ = chain
    result = materialize(res, CHAIN, DAYS[0], method="equal_split", selection=[behavior_value], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "unknown method 'equal_split'" in failure.step_failure_data.error.to_string()

"""benchmarks/actions.py closes the loop on a tiny world: its JSON has the figures of both worlds, the
actions it planned are in the acted world's config, and a paused ad bills nothing after its pause."""

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from adperf_assets.sample import layout
from adperf_assets.sample.generator import generate_world
from adperf_assets.sample.manifest import world_config

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "actions.py"


def _bench():
    if str(BENCH.parent) not in sys.path:  # as when run as a script: its folder's modules import
        sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("actions_benchmark", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _spend(root) -> pd.DataFrame:
    sp = pd.read_parquet(layout.truth(root, "spend"), columns=["report_date", "ad_id", "cost_usd"])
    return sp.assign(day=(pd.to_datetime(sp["report_date"]) - pd.Timestamp(world_config(root).start)).dt.days)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate_world(tmp_path_factory.mktemp("tiny") / "world", seed=7, days=40, installs_per_day=300)


def test_closed_loop_on_a_tiny_world(tiny, tmp_path, capsys):
    out = _bench().main(["--world", str(tiny), "--days", "14", "--every", "7", "--horizon", "14",
                         "--rule", "point", "--work", str(tmp_path / "work")])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"days", "without", "with", "actions"} <= set(last) and last["days"] == 14 and last["start_day"] == 26
    for side in ("without", "with"):
        assert set(last[side]) >= {"spend_usd", "expected_return_usd", "roas", "return_at_ad_value_usd"}
        assert set(last["control_before"][side]) == set(last[side])
        s = last[side]
        assert s["spend_usd"] > 0 and s["roas"] == pytest.approx(s["expected_return_usd"] / s["spend_usd"], abs=1e-4)
    assert set(last["actions"]) >= {"pause", "resume", "raise_budget", "lower_budget"}
    # the world without actions is the world as generated
    sp0 = _spend(tiny)
    assert last["without"]["spend_usd"] == pytest.approx(sp0.loc[sp0["day"].between(26, 39), "cost_usd"].sum(), abs=0.01)
    # what was planned was applied: the acted world's config holds the actions, from the day after the plan
    acted = Path(out["acted_world"])
    assert world_config(acted).ad_actions == tuple(out["ad_action_list"]) and out["ad_action_list"]
    assert all(d in (27, 34) for d, _, _ in out["ad_action_list"])
    pauses = [a for a in out["log"] if a["action"] == "pause"]
    assert last["actions"]["pause"] == len(pauses) >= 1
    sp = _spend(acted)
    for p in pauses:
        later = [a["day"] for a in out["log"] if a["object_id"] == p["object_id"] and a["action"] == "resume"
                 and a["day"] > p["day"]]
        until = min(later, default=10**6)  # resumed from the account-local day after the plan: report days
        # are Seoul's, whose day d holds the end of the American account's day d - 1
        ad = sp[sp["ad_id"] == p["object_id"]]
        assert ad.loc[ad["day"] <= p["day"], "cost_usd"].sum() > 0  # it was spending
        # paused from the account-local day after the plan: the report day after that bills nothing
        assert ad.loc[(ad["day"] > p["day"] + 1) & (ad["day"] <= until), "cost_usd"].sum() == 0
    assert last["with"]["spend_usd"] < last["without"]["spend_usd"]


def test_truth_only_regeneration_is_generate_worlds_truth(tiny, tmp_path):
    """The loop regenerates only ``truth/``: the same files as ``generate_world`` with the same actions."""
    bench = _bench()
    cfg = world_config(tiny)
    ad = pd.read_parquet(layout.truth(tiny, "ads"))["ad_id"].iloc[0]
    full = generate_world(tmp_path / "full", seed=7, days=40, installs_per_day=300, ad_actions=((20, ad, 0.0),))
    import dataclasses

    light = bench.generate_truth(tmp_path / "light", dataclasses.replace(cfg, ad_actions=((20, ad, 0.0),)))
    assert world_config(light) == world_config(full)
    for name in ("users", "user_value", "spend", "ads", "ad_value", "purchases"):
        a, b = pd.read_parquet(layout.truth(full, name)), pd.read_parquet(layout.truth(light, name))
        if name == "purchases":  # app.db orders them by time; the truth-only build leaves them by user
            a, b = (f.sort_values(list(f.columns)).reset_index(drop=True) for f in (a, b))
        pd.testing.assert_frame_equal(a, b)

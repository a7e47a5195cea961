"""The sample world responds to actions on its ads: a paused ad stops spending and acquiring, a budget
change scales its spend and installs (what budget_actions' benchmark compares)."""

import pandas as pd
import pytest

from adperf_assets.sample import layout
from adperf_assets.sample.generator import generate_world
from adperf_assets.sample.manifest import world_config

DAYS, ACT = 40, 15


def _spend(root) -> pd.DataFrame:
    sp = pd.read_parquet(layout.truth(root, "spend"), columns=["report_date", "ad_id", "cost_usd"])
    start = pd.Timestamp(world_config(root).start)
    return sp.assign(day=(pd.to_datetime(sp["report_date"]) - start).dt.days)


def test_paused_ad_stops_and_a_budget_change_scales_it(tmp_path):
    base = generate_world(tmp_path / "base", seed=3, days=DAYS, installs_per_day=200)
    sp = _spend(base)
    ads = pd.read_parquet(layout.truth(base, "ads"))
    live = ads[(ads["start_day"] <= 2) & (ads["end_day"] >= DAYS)]["ad_id"].tolist()
    paused, scaled = live[0], live[1]
    acted = generate_world(tmp_path / "acted", seed=3, days=DAYS, installs_per_day=200,
                           ad_actions=((ACT, paused, 0.0), (ACT, scaled, 1.5)))
    assert world_config(acted).ad_actions == ((ACT, paused, 0.0), (ACT, scaled, 1.5))
    sa = _spend(acted)

    def cost(frame, ad, after):
        sel = frame[frame["ad_id"] == ad]
        return sel.loc[(sel["day"] > ACT) if after else (sel["day"] < ACT - 1), "cost_usd"].sum()

    # before the action the two worlds plan the acted ads alike (the draws differ: the random stream is
    # shared, and a paused ad draws less of it); after it the paused ad bills nothing
    assert cost(sa, paused, False) == pytest.approx(cost(sp, paused, False), rel=0.15)
    assert cost(sa, scaled, False) == pytest.approx(cost(sp, scaled, False), rel=0.15)
    assert cost(sp, paused, True) > 0 and cost(sa, paused, True) == 0
    assert 1.3 < cost(sa, scaled, True) / cost(sp, scaled, True) < 1.7
    users = pd.read_parquet(layout.truth(acted, "users"), columns=["cohort_date", "ad_id"])
    day = (pd.to_datetime(users["cohort_date"]) - pd.Timestamp(world_config(acted).start)).dt.days
    assert (users["ad_id"] == paused).sum() > 0 and not ((users["ad_id"] == paused) & (day > ACT)).any()
    with pytest.raises(ValueError, match="not an ad of this world"):
        generate_world(tmp_path / "bad", seed=3, days=DAYS, installs_per_day=200, ad_actions=((3, "nope", 0.0),))


def test_a_world_without_actions_records_none():
    from adperf_assets.sample.config import WorldConfig

    assert "ad_actions" not in WorldConfig().to_json()

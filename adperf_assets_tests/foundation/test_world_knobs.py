"""The sample world's knobs (intermittent activity, ad quality, whales; the default world has them), its presets
and truth/ad_value."""

import filecmp
import json

import numpy as np
import pandas as pd
import pytest

from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import generate_world, layout
from adperf_assets.sample.config import EASY, preset
from adperf_assets.sample.manifest import world_config

from .test_world import _files, assert_retention_matches_truth, assert_revenue_matches_truth


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    # on the original three accounts (no TikTok/Apple Ads): their ads keep the per-ad volumes these tests judge by
    return generate_world(tmp_path_factory.mktemp("realistic") / "w", seed=3, days=60, installs_per_day=150,
                          preset_name="realistic", more_networks=False)


def _read(world, name):
    return pd.read_parquet(layout.truth(world, name))


# What the world of seed 7, 75 days, 60 installs a day drew before the knobs (then the default world); its files
# were byte-identical to the easy preset's at the change that made the realistic world the default.
BEFORE_THE_KNOBS = ['payments=682 refunds_arrived=24', 'logins=28047 match_events=61502',
                    'mmp_rows=4313 reinstalls=106', 'users=4254']


def test_easy_is_the_world_before_the_knobs(tmp_path, small_world):
    easy = generate_world(tmp_path / "easy", seed=7, days=75, installs_per_day=60, preset_name="easy")
    m = json.loads(layout.manifest(easy).read_text())
    assert m["counts"] == BEFORE_THE_KNOBS
    assert not set(EASY) & set(m["config"])  # an easy world records no knob, as before them
    again = generate_world(tmp_path / "again", seed=7, days=75, installs_per_day=60, preset_name="easy")
    _, mismatch, errors = filecmp.cmpfiles(easy, again, _files(easy), shallow=False)
    assert mismatch == [] and errors == []
    assert not filecmp.cmp(layout.app_db(easy), layout.app_db(small_world), shallow=False)  # the default is not easy
    # the resource regenerates a world of another preset: its whole config is compared, knobs too
    size = {"path": str(easy), "seed": 7, "start": "2025-06-01", "days": 75, "installs_per_day": 60}
    assert SampleWorld(**size, preset="easy")._is_current(easy)
    assert not SampleWorld(**size)._is_current(easy)


def test_presets_and_manifest_round_trip(realistic):
    assert preset("realistic") == preset("default") != preset("easy")
    assert preset("small", **EASY, att_opt_in=1.0) == preset("easy", days=75, installs_per_day=60)
    cfg = world_config(realistic)
    assert (cfg.activity_mean, cfg.ad_quality_sd, cfg.whale_share) == (0.55, 0.35, 0.02)
    assert cfg == preset("realistic", seed=3, days=60, installs_per_day=150, more_networks=False)
    assert set(EASY) <= set(json.loads(layout.manifest(realistic).read_text())["config"])  # records every knob


def test_active_day_share_is_near_activity_mean(realistic):
    """Share of the alive days after the install on which a user logs in, measured from the login log."""
    m = json.loads(layout.manifest(realistic).read_text())
    first = pd.Timestamp(m["first_day"])
    logins = pd.concat(pd.read_parquet(p, columns=["event_time", "user_id"])
                       for p in sorted(layout.events_dir(realistic, "logins").glob("*.parquet")))
    local = logins["event_time"].dt.tz_convert(m["report_timezone"]).dt.tz_localize(None).dt.normalize()
    active = pd.DataFrame({"user_id": logins["user_id"], "day": (local - first).dt.days}).drop_duplicates()
    users = _read(realistic, "users")
    cohort = (users["cohort_date"].dt.tz_localize(None) - first).dt.days
    alive = np.minimum(users["lifetime_days"], 60 - cohort)
    active = active.merge(pd.DataFrame({"user_id": users["user_id"], "cohort": cohort}), on="user_id")
    share = (active["day"] > active["cohort"]).sum() / (alive - 1).sum()
    assert share == pytest.approx(0.55, abs=0.03)


def test_ads_of_one_segment_differ_in_value_as_their_multipliers_say(realistic):
    ads = _read(realistic, "ad_value").merge(_read(realistic, "ads")[["ad_id", "fraud_mult"]], on="ad_id")
    ads = ads[(ads["installs"] >= 150) & (ads["fraud_mult"] == 1)]  # fraud ads bring emulators of no value
    mult = np.log(ads["value_mult"] * ads["quality"])
    value = np.log(ads["expected_ltv_per_install_usd_30"])
    assert 0.7 < np.polyfit(mult, value, 1)[0] < 1.8
    pairs = 0
    for _, g in ads.groupby("ad_group_id"):  # one ad group: one network, account, platform, targeting
        g = g.sort_values("quality")
        lm, lv = np.log(g["value_mult"] * g["quality"]).to_numpy(), np.log(g["expected_ltv_per_install_usd_30"]).to_numpy()
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                d = abs(lm[j] - lm[i])
                if d > np.log(2):  # multipliers at least 2x apart: value per install as far apart, roughly
                    pairs += 1
                    assert 0.5 * d < np.sign(lm[j] - lm[i]) * (lv[j] - lv[i]) < 2 * d
    assert pairs >= 2
    users = _read(realistic, "user_value")
    paid = users[users["ad_index"] >= 0]
    quality = _read(realistic, "ad_value")["quality"].to_numpy()
    np.testing.assert_array_equal(paid["quality"].to_numpy(), quality[paid["ad_index"].to_numpy()])


def test_top_two_percent_of_payers_bring_about_half_the_revenue(realistic):
    revenue = _read(realistic, "purchases").groupby("user_id")["gross_usd"].sum().sort_values(ascending=False)
    top = int(round(0.02 * len(revenue)))
    assert 0.3 < revenue.iloc[:top].sum() / revenue.sum() < 0.7
    whales = _read(realistic, "user_value")["whale_mult"]
    assert (whales > 1).mean() == pytest.approx(0.02, abs=0.005) and whales.min() == 1.0


def test_ad_value_sums_match_the_per_user_truth(realistic):
    users = _read(realistic, "user_value")
    ads = _read(realistic, "ad_value")
    truth_users = _read(realistic, "users")
    for h in (30, 90, 180, 365):
        np.testing.assert_array_equal(users[f"expected_ltv_usd_{h}"], truth_users[f"expected_ltv_usd_{h}"])
    paid = users[users["ad_index"] >= 0]
    per_ad = paid.groupby("ad_index").sum(numeric_only=True).reindex(range(len(ads)), fill_value=0)
    assert ads["installs"].tolist() == paid["ad_index"].value_counts().reindex(range(len(ads)), fill_value=0).tolist()
    assert ads["installs"].sum() == (truth_users["ad_id"] != "").sum()
    for h in (7, 14, 30, 90, 180, 365):
        np.testing.assert_allclose(ads[f"expected_ltv_usd_{h}"], per_ad[f"expected_ltv_usd_{h}"], rtol=1e-9)
        has = ads["installs"] > 0
        np.testing.assert_allclose(ads.loc[has, f"expected_ltv_per_install_usd_{h}"],
                                   ads.loc[has, f"expected_ltv_usd_{h}"] / ads.loc[has, "installs"], rtol=1e-12)
    assert (users["expected_ltv_usd_7"] <= users["expected_ltv_usd_14"]).all()
    assert (users["expected_ltv_usd_14"] <= users["expected_ltv_usd_30"]).all()


def test_truth_holds_with_intermittent_activity_and_whales(realistic):
    """The truth's access curves and expected LTV account for the alive days a user is away, and for whales."""
    assert_retention_matches_truth(realistic, min_users=1000, min_checked=4)
    assert_revenue_matches_truth(realistic)


def test_the_activity_grid_of_the_truth_is_active_given_alive_exactly():
    """truth.py's users x days grid skips the array of report days; the numbers must be the same to the bit."""
    from adperf_assets.sample import knobs

    cfg = preset("default")
    rng = np.random.default_rng(1)
    prop, cohort, t = rng.random(50) * 1.5, rng.integers(0, 545, 50), np.arange(366)
    np.testing.assert_array_equal(knobs.active_given_alive_grid(cfg, prop, cohort, t),
                                  knobs.active_given_alive(cfg, prop[:, None], cohort[:, None], t[None, :]))

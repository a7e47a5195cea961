"""Cohort LTV on users active on only some of their alive days (issue 16's targets).

Populations with known truth (``SbgWorld`` with ``activity`` 1.0, 0.8, 0.5: D1 retention 0.80,
0.64, 0.40), 150 cohorts of 5,000 users each. Measured figures: docs/ltv_cohort.md ("Install day").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.ltv.cohort import cohort_ltv
from adperf_assets.ltv.retention import fit_many

from .sbg_world import SbgWorld

USERS, COHORTS, HORIZON = 5000, 150, 180


def scores(world: SbgWorld, days: int, start_day: int, cohorts) -> dict:
    active, revenue = cohorts
    rate = active[:, :days] / USERS
    arpu = revenue[:, :days] / active[:, :days]
    fits = fit_many(rate, np.full(COHORTS, USERS), start_day=start_day)
    est = pd.DataFrame([cohort_ltv(arpu[k], rate[k], USERS, horizons=(HORIZON,), retention=fits.blended(k)).iloc[0]
                        for k in range(COHORTS)])
    truth = world.true_ltv(HORIZON)
    err = est["ltv"] / truth - 1
    return {"mape": float(err.abs().mean()), "bias": float(err.mean()),
            "coverage": float(((est["lower"] <= truth) & (truth <= est["upper"])).mean()),
            "z_sd": float(((est["ltv"] - truth) / est["ltv_se"]).std())}


@pytest.fixture(scope="module", params=[1.0, 0.8, 0.5], ids=lambda a: f"activity{a}")
def world_and_cohorts(request):
    world = SbgWorld(alpha=1.0, beta=4.0, activity=request.param)
    rng = np.random.default_rng(20261206)
    cohorts = [world.cohort(rng, USERS, 14) for _ in range(COHORTS)]
    return world, (np.array([c[0] for c in cohorts]), np.array([c[1] for c in cohorts]))


def test_meets_the_targets_at_every_activity_level(world_and_cohorts):
    world, cohorts = world_and_cohorts
    s14, s7 = scores(world, 14, 1, cohorts), scores(world, 7, 1, cohorts)
    assert s14["mape"] <= 0.10, s14
    assert abs(s14["bias"]) <= 0.03, s14
    # the 99% interval covers the truth, and is as wide as the errors are: (estimate - truth) / se
    # spreads like a standard normal (with 150 cohorts, coverage alone cannot tell 99% from 100%)
    assert s14["coverage"] >= 0.95 and 0.8 <= s14["z_sd"] <= 1.25, s14
    # from 7 days at activity 0.5 the target (0.18) is past what one cohort's daily rates hold:
    # the true model (the sBG alone) misses by about as much (docs/ltv_cohort.md, "Install day")
    assert s7["mape"] <= (0.18 if world.activity >= 0.8 else 0.23), s7
    assert s7["coverage"] >= 0.92, s7


def test_a_curve_through_the_install_day_reads_inactivity_as_churn(world_and_cohorts):
    world, cohorts = world_and_cohorts
    through_day0, anchored = scores(world, 14, 0, cohorts), scores(world, 14, 1, cohorts)
    if world.activity == 1.0:  # every alive day active: both describe the same curve
        assert through_day0["mape"] <= 0.10 and abs(through_day0["mape"] - anchored["mape"]) < 0.03
    else:  # the drop from 1 to "alive x active" is read as churn, then flattens: LTV far too high
        assert through_day0["bias"] > 0.15 and through_day0["mape"] > 2 * anchored["mape"], (through_day0, anchored)

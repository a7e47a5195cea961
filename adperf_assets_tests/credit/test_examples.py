"""Hand-computed examples for each credit method."""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import pandas as pd
import pytest

from adperf_assets.credit import credit_revenue, partner_shapley

from .frames import as_dict, revenue_frame, sessions_frame


# ---------------------------------------------------------------- direct


def test_direct_sums_rows_of_a_payer_and_keeps_refunds_with_them():
    sessions = sessions_frame([("s1", "ann", "bo", 600, True, True)])
    revenue = revenue_frame([("ann", 7.0), ("ann", 3.0), ("cy", -2.5), ("dee", 0.0)])
    out = credit_revenue(sessions, revenue, "direct")
    assert list(out.columns) == ["user_id", "credited_revenue"]
    assert out["credited_revenue"].dtype == np.float64
    assert as_dict(out) == {"ann": 10.0, "cy": -2.5, "dee": 0.0}  # bo gets nothing: absent


def test_empty_inputs_give_an_empty_frame():
    out = credit_revenue(sessions_frame([]), revenue_frame([]), "pagerank")
    assert out.empty and list(out.columns) == ["user_id", "credited_revenue"]


# ---------------------------------------------------------------- pagerank


def test_pagerank_star_payer_keeps_one_over_one_plus_d():
    # payer P matched A for 100 s and B for 300 s, no bonuses: pi_P = R / (1 + d),
    # partners share d / (1 + d) * R in proportion to edge weight (1 : 3).
    sessions = sessions_frame(
        [("s1", "P", "A", 100, False, False), ("s2", "P", "B", 300, False, False)]
    )
    out = as_dict(credit_revenue(sessions, revenue_frame([("P", 100.0)]), "pagerank"))
    d = 0.85
    assert out["P"] == pytest.approx(100 / (1 + d), rel=1e-9)
    assert out["A"] == pytest.approx(100 * d / (1 + d) * 0.25, rel=1e-9)
    assert out["B"] == pytest.approx(100 * d / (1 + d) * 0.75, rel=1e-9)


def test_pagerank_two_payers_on_one_edge():
    # pi_1 = (s_1 + d s_2) / (1 + d): with s = (0.75, 0.25), d = 0.5 -> 0.5833...
    sessions = sessions_frame([("s1", 1, 2, 60, False, False)])
    revenue = revenue_frame([(1, 75.0), (2, 25.0)])
    out = as_dict(credit_revenue(sessions, revenue, "pagerank", damping=0.5))
    assert out[1] == pytest.approx(100 * (0.75 + 0.5 * 0.25) / 1.5, rel=1e-9)
    assert out[2] == pytest.approx(100 * (0.25 + 0.5 * 0.75) / 1.5, rel=1e-9)


def test_pagerank_bonuses_weight_wanted_and_paid_sessions():
    # A: 100 s wanted and paid -> 100 * (1 + 1 + 1) = 300; B: 300 s plain -> 300: equal split
    sessions = sessions_frame(
        [("s1", "P", "A", 100, True, True), ("s2", "P", "B", 300, False, False)]
    )
    out = as_dict(credit_revenue(sessions, revenue_frame([("P", 10.0)]), "pagerank"))
    assert out["A"] == pytest.approx(out["B"], rel=1e-12)
    # with the bonuses switched off it is 1 : 3 again
    plain = as_dict(
        credit_revenue(
            sessions, revenue_frame([("P", 10.0)]), "pagerank", wanted_bonus=0, paid_bonus=0
        )
    )
    assert plain["B"] == pytest.approx(3 * plain["A"], rel=1e-9)


def test_pagerank_revenue_stays_in_its_component_and_lonely_payers_keep_theirs():
    sessions = sessions_frame(
        [
            ("s1", "P", "A", 100, True, True),
            ("s2", "A", "B", 50, False, False),
            ("s3", "X", "Y", 500, True, True),  # nobody here paid
            ("s4", "Q", "Z", 0, True, True),  # zero seconds: no edge
        ]
    )
    revenue = revenue_frame([("P", 40.0), ("L", 9.0), ("Q", 5.0)])
    out = as_dict(credit_revenue(sessions, revenue, "pagerank"))
    assert out["P"] + out["A"] + out["B"] == pytest.approx(40.0, rel=1e-12)
    assert out["L"] == pytest.approx(9.0, rel=1e-12)
    assert out["Q"] == pytest.approx(5.0, rel=1e-12)
    assert "X" not in out and "Y" not in out and "Z" not in out


def test_pagerank_damping_zero_is_direct():
    sessions = sessions_frame([("s1", "P", "A", 100, True, True)])
    out = as_dict(credit_revenue(sessions, revenue_frame([("P", 12.0)]), "pagerank", damping=0))
    assert out == {"P": 12.0}


def test_pagerank_matches_a_dense_solve():
    rng = np.random.default_rng(7)
    rows = [
        (i, int(a), int(b), float(rng.uniform(1, 900)), bool(rng.random() < .4), bool(rng.random() < .3))
        for i, (a, b) in enumerate(rng.choice(8, size=(20, 2)))
        if a != b
    ]
    sessions = sessions_frame(rows)
    revenue = revenue_frame([(0, 30.0), (3, 70.0)])
    out = as_dict(credit_revenue(sessions, revenue, "pagerank", damping=0.7, tol=1e-14))
    # dense: W symmetric, P = D^-1 W, pi = (1 - d) (I - d P^T)^-1 s
    ids = sorted(set(sessions.user_id) | set(sessions.partner_id) | {0, 3})
    ix = {u: i for i, u in enumerate(ids)}
    w = np.zeros((len(ids), len(ids)))
    for _, r in sessions.iterrows():
        weight = r.duration_s * (1 + r.is_wanted + r.is_paid)
        w[ix[r.user_id], ix[r.partner_id]] += weight
        w[ix[r.partner_id], ix[r.user_id]] += weight
    p = np.where(w.sum(1, keepdims=True) > 0, w / np.maximum(w.sum(1, keepdims=True), 1e-300), 0)
    p[w.sum(1) == 0, w.sum(1) == 0] = 1.0
    s = np.zeros(len(ids))
    s[ix[0]], s[ix[3]] = 0.3, 0.7
    pi = (1 - 0.7) * np.linalg.solve(np.eye(len(ids)) - 0.7 * p.T, s)
    for u in ids:
        assert out.get(u, 0.0) == pytest.approx(100 * pi[ix[u]], rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- shapley


def test_shapley_one_to_one_splits_by_alpha():
    sessions = sessions_frame([("s1", "P", "A", 100, True, True)])
    revenue = revenue_frame([("P", 10.0)])
    assert as_dict(credit_revenue(sessions, revenue, "shapley")) == pytest.approx(
        {"P": 5.0, "A": 5.0}
    )
    # alpha = 0.2: payer (1 + a) / 2 = 60%, partner (1 - a) / 2 = 40%
    assert as_dict(credit_revenue(sessions, revenue, "shapley", alpha=0.2)) == pytest.approx(
        {"P": 6.0, "A": 4.0}
    )


def test_shapley_spreads_payer_revenue_over_paid_sessions_by_length():
    sessions = sessions_frame(
        [
            ("s1", "P", "A", 100, True, True),
            ("s2", "P", "B", 300, False, True),
            ("s3", "P", "C", 900, True, False),  # not paid: no share
            ("s4", "D", "P", 900, True, True),  # P is the partner here, D did not pay
        ]
    )
    out = as_dict(credit_revenue(sessions, revenue_frame([("P", 40.0)]), "shapley"))
    # s1 carries 10, s2 carries 30; each split 50/50
    assert out == pytest.approx({"P": 20.0, "A": 5.0, "B": 15.0})


def test_shapley_group_session_hand_computed():
    # partners A (36 s) and B (64 s), gamma 0.5: h(A) = 0.6, h(B) = 0.8, h(AB) = 1.
    # n = 3: phi_A = 1/6 * 0.6 + 1/3 * (1 - 0.8) = 1/6, phi_B = 1/6 * 0.8 + 1/3 * (1 - 0.6) = 4/15
    sessions = sessions_frame(
        [("g", "P", "A", 36, False, True), ("g", "P", "B", 64, False, True)]
    )
    out = as_dict(credit_revenue(sessions, revenue_frame([("P", 100.0)]), "shapley"))
    assert out["A"] == pytest.approx(100 / 6, rel=1e-12)
    assert out["B"] == pytest.approx(80 / 3, rel=1e-12)
    assert out["P"] == pytest.approx(100 - 100 / 6 - 80 / 3, rel=1e-12)


def test_shapley_payer_without_paid_sessions_keeps_revenue():
    sessions = sessions_frame(
        [("s1", "P", "A", 100, True, False), ("s2", "Q", "B", 0, True, True)]
    )
    revenue = revenue_frame([("P", 8.0), ("Q", 2.0), ("R", 1.0)])
    assert as_dict(credit_revenue(sessions, revenue, "shapley")) == {"P": 8.0, "Q": 2.0, "R": 1.0}


def _brute_force_shapley(weights, alpha, gamma):
    """Average marginal contribution over all orderings of payer (0) and partners."""
    k = len(weights)
    total = sum(weights)

    def value(coalition):
        if 0 not in coalition:
            return 0.0
        share = sum(weights[i - 1] for i in coalition if i) / total
        return alpha + (1 - alpha) * share**gamma

    phi = np.zeros(k + 1)
    for order in itertools.permutations(range(k + 1)):
        seen = set()
        for player in order:
            before = value(seen)
            seen.add(player)
            phi[player] += value(seen) - before
    return phi / factorial(k + 1)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_partner_shapley_equals_the_permutation_definition(k):
    rng = np.random.default_rng(k)
    weights = rng.uniform(0, 5, size=k)
    weights[0] = 0.0 if k > 2 else weights[0]  # a partner who contributed nothing
    got = partner_shapley(weights[None, :], alpha=0.3, gamma=0.6)[0]
    want = _brute_force_shapley(list(weights), alpha=0.3, gamma=0.6)
    np.testing.assert_allclose(got, want[1:], rtol=1e-12, atol=1e-15)
    assert 1 - got.sum() == pytest.approx(want[0], rel=1e-12)


def test_partner_shapley_additive_game_has_closed_form():
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.1, 10, size=(50, 9))
    got = partner_shapley(weights, alpha=0.25, gamma=1.0)
    want = 0.75 * weights / (2 * weights.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_shapley_wanted_partner_weighs_more_in_a_group():
    sessions = sessions_frame(
        [("g", "P", "A", 60, True, True), ("g", "P", "B", 60, False, True)]
    )
    out = as_dict(credit_revenue(sessions, revenue_frame([("P", 10.0)]), "shapley"))
    assert out["A"] > out["B"] > 0


def test_output_sorted_and_mixed_ids_keep_first_seen_order():
    sessions = sessions_frame([("s1", "b", 1, 60, True, True)])
    out = credit_revenue(sessions, revenue_frame([("b", 4.0)]), "shapley")
    assert list(out["user_id"]) == ["b", 1]
    sorted_out = credit_revenue(
        sessions_frame([("s1", "b", "a", 60, True, True)]), revenue_frame([("b", 4.0)]), "shapley"
    )
    assert list(sorted_out["user_id"]) == ["a", "b"]


def test_flags_may_be_zero_one_integers():
    sessions = sessions_frame([("s1", "P", "A", 100, True, True)])
    as_ints = sessions.assign(is_wanted=1, is_paid=np.int64(1))
    revenue = revenue_frame([("P", 10.0)])
    pd.testing.assert_frame_equal(
        credit_revenue(as_ints, revenue, "pagerank"), credit_revenue(sessions, revenue, "pagerank")
    )


def test_docs_worked_example():
    """The table in docs/behavior_credit.md."""
    sessions = sessions_frame(
        [
            ("s1", "ann", "bo", 600, True, True),
            ("s2", "ann", "cy", 300, False, False),
            ("s3", "cy", "ann", 600, True, True),
            ("s3", "cy", "bo", 200, False, True),
            ("s4", "bo", "dee", 300, False, False),
            ("s5", "hal", "dee", 120, True, True),
            ("s6", "fay", "gus", 120, False, False),
        ]
    )
    revenue = revenue_frame([("ann", 10.0), ("cy", 6.0), ("eve", 4.0), ("hal", -3.0)])
    table = {
        "direct": {"ann": 10.0, "cy": 6.0, "eve": 4.0, "hal": -3.0},
        "pagerank": {"ann": 6.9589, "bo": 3.5851, "cy": 4.5726, "dee": 0.6035, "eve": 4.0, "hal": -2.7202},
        "shapley": {"ann": 7.1699, "bo": 5.5263, "cy": 3.3038, "eve": 4.0, "hal": -3.0},
    }
    for method, want in table.items():
        got = as_dict(credit_revenue(sessions, revenue, method))
        assert set(got) == set(want), method
        assert {u: round(v, 4) for u, v in got.items()} == want, method

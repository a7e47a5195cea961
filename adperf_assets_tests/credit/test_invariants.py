"""Properties every credit method must keep, for any valid input (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adperf_assets.credit import METHODS, credit_revenue

from .frames import as_dict, revenue_frame, sessions_frame

USERS = st.integers(min_value=0, max_value=11)
DURATIONS = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.0, max_value=4 * 3600.0, allow_nan=False, allow_infinity=False),
)
# money: whole micro-dollars (a float like 5e-324 USD is no amount, and its credit shares underflow to 0)
AMOUNTS = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 6))
SIGNED_AMOUNTS = st.floats(min_value=-1e4, max_value=1e6, allow_nan=False, allow_infinity=False).map(
    lambda x: round(x, 6))
SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def match_day(draw, amounts=AMOUNTS, max_partners=4):
    """A day of sessions (1:1 and small groups) and of revenue over 12 users."""
    rows = []
    for number in range(draw(st.integers(min_value=0, max_value=14))):
        requester = draw(USERS)
        partners = draw(
            st.lists(
                USERS.filter(lambda u, r=requester: u != r),
                min_size=1,
                max_size=max_partners,
                unique=True,
            )
        )
        paid = draw(st.booleans())
        for partner in partners:
            rows.append((f"s{number}", requester, partner, draw(DURATIONS), draw(st.booleans()), paid))
    payments = draw(st.lists(st.tuples(USERS, amounts), max_size=8))
    return sessions_frame(rows), revenue_frame(payments)


def _gross(revenue: pd.DataFrame) -> float:
    return float(revenue["revenue_usd"].abs().sum())


def _session_users(sessions: pd.DataFrame) -> set:
    return set(sessions["user_id"]) | set(sessions["partner_id"])


@pytest.mark.parametrize("method", sorted(METHODS))
@SETTINGS
@given(day=match_day(amounts=SIGNED_AMOUNTS))
def test_credit_total_equals_revenue_total(method, day):
    sessions, revenue = day
    out = credit_revenue(sessions, revenue, method)
    assert out["credited_revenue"].dtype == np.float64
    assert out["user_id"].is_unique
    difference = abs(out["credited_revenue"].sum() - revenue["revenue_usd"].sum())
    # relative to gross revenue, so refunds that cancel purchases do not make it 0/0
    assert difference <= 1e-9 * _gross(revenue)


@pytest.mark.parametrize("method", sorted(METHODS))
@SETTINGS
@given(day=match_day())
def test_no_negative_credit_for_non_negative_revenue(method, day):
    sessions, revenue = day
    out = credit_revenue(sessions, revenue, method)
    assert (out["credited_revenue"] >= 0).all()


@pytest.mark.parametrize("method", sorted(METHODS))
@SETTINGS
@given(day=match_day(amounts=SIGNED_AMOUNTS), bystander=st.integers(100, 110))
def test_only_payers_and_session_users_get_credit(method, day, bystander):
    sessions, revenue = day
    out = credit_revenue(sessions, revenue, method)
    credited = set(out.loc[out["credited_revenue"] != 0, "user_id"])
    assert credited <= set(revenue["user_id"]) | _session_users(sessions)
    assert bystander not in set(out["user_id"])  # no sessions, no payment: absent
    assert set(revenue["user_id"]) <= set(out["user_id"])  # every payer has a row


@SETTINGS
@given(day=match_day(amounts=SIGNED_AMOUNTS))
def test_direct_equals_payments_exactly(day):
    sessions, revenue = day
    out = credit_revenue(sessions, revenue, "direct")
    want = revenue.groupby("user_id", sort=True)["revenue_usd"].sum()
    assert as_dict(out) == want.to_dict()


@SETTINGS
@given(day=match_day())
def test_pagerank_keeps_revenue_inside_each_connected_component(day):
    sessions, revenue = day
    out = as_dict(credit_revenue(sessions, revenue, "pagerank"))
    parent: dict = {}

    def find(u):
        parent.setdefault(u, u)
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    weighted = sessions[sessions["duration_s"] > 0]
    for a, b in zip(weighted["user_id"], weighted["partner_id"]):
        parent[find(a)] = find(b)
    paid_in, credited_in = {}, {}
    for user, amount in zip(revenue["user_id"], revenue["revenue_usd"]):
        paid_in[find(user)] = paid_in.get(find(user), 0.0) + amount
    for user, amount in out.items():
        credited_in[find(user)] = credited_in.get(find(user), 0.0) + amount
    assert set(credited_in) <= set(paid_in)
    for root, amount in paid_in.items():
        assert credited_in[root] == pytest.approx(amount, rel=1e-9, abs=1e-9)


@SETTINGS
@given(
    day=match_day(max_partners=3),
    twin_duration=DURATIONS,
    twin_wanted=st.booleans(),
    others=st.lists(st.tuples(DURATIONS, st.booleans()), max_size=5),
    amount=st.floats(min_value=0.01, max_value=1e6),
)
def test_shapley_symmetry_identical_partners_get_equal_credit(
    day, twin_duration, twin_wanted, others, amount
):
    """Two partners who play the same role (same time, same flag, no other sessions) are paid alike."""
    sessions, revenue = day
    group = [("twin-a", twin_duration, twin_wanted), ("twin-b", twin_duration, twin_wanted)]
    group += [(f"other-{i}", d, w) for i, (d, w) in enumerate(others)]
    extra = sessions_frame([("group", "payer", who, d, w, True) for who, d, w in group])
    sessions = pd.concat([sessions.astype({"user_id": object, "partner_id": object}), extra])
    revenue = pd.concat([revenue, revenue_frame([("payer", amount)])], ignore_index=True)
    out = as_dict(credit_revenue(sessions.reset_index(drop=True), revenue, "shapley"))
    a, b = out.get("twin-a", 0.0), out.get("twin-b", 0.0)
    assert a == pytest.approx(b, rel=1e-12, abs=1e-12 * amount)
    longest = max([twin_duration] + [d for d, _ in others])
    if twin_duration > 1e-6 * longest:  # else their share is below float resolution
        assert a > 0


@SETTINGS
@given(amount=st.floats(min_value=0.01, max_value=1e6), seconds=DURATIONS, wanted=st.booleans())
def test_shapley_symmetry_identical_payers_get_equal_credit(amount, seconds, wanted):
    sessions = sessions_frame(
        [("s1", "p1", "q1", seconds, wanted, True), ("s2", "p2", "q2", seconds, wanted, True)]
    )
    revenue = revenue_frame([("p1", amount), ("p2", amount)])
    out = as_dict(credit_revenue(sessions, revenue, "shapley"))
    assert out["p1"] == out["p2"]
    assert out.get("q1", 0.0) == out.get("q2", 0.0)


@pytest.mark.parametrize("method", sorted(METHODS))
@SETTINGS
@given(day=match_day(amounts=SIGNED_AMOUNTS), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(method, day, seed):
    sessions, revenue = day
    first = as_dict(credit_revenue(sessions, revenue, method))
    shuffled = sessions.sample(frac=1.0, random_state=np.random.RandomState(seed))
    second = as_dict(credit_revenue(shuffled, revenue.iloc[::-1], method))
    scale = max(_gross(revenue), 1.0)
    for user in set(first) | set(second):
        assert first.get(user, 0.0) == pytest.approx(second.get(user, 0.0), rel=1e-8, abs=1e-9 * scale)

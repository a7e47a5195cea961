"""Bad input stops with an error that names the column (and row)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adperf_assets.credit import (
    SESSION_COLUMNS,
    CreditInputError,
    PageRankNotConverged,
    credit_revenue,
)

from .frames import revenue_frame, sessions_frame


@pytest.fixture
def sessions():
    return sessions_frame(
        [
            ("s1", "P", "A", 100, True, True),
            ("s2", "P", "B", 300, False, False),
            ("s3", "A", "B", 50, False, True),
        ]
    )


@pytest.fixture
def revenue():
    return revenue_frame([("P", 10.0), ("A", 2.0)])


@pytest.mark.parametrize("column", SESSION_COLUMNS)
def test_missing_session_column_is_named(sessions, revenue, column):
    with pytest.raises(CreditInputError, match=f"sessions is missing column.*{column}"):
        credit_revenue(sessions.drop(columns=column), revenue, "direct")


@pytest.mark.parametrize("column", ["user_id", "revenue_usd"])
def test_missing_revenue_column_is_named(sessions, revenue, column):
    with pytest.raises(CreditInputError, match=f"revenue is missing column.*{column}"):
        credit_revenue(sessions, revenue.drop(columns=column), "pagerank")


@pytest.mark.parametrize("column", ["user_id", "partner_id", "session_id"])
def test_nan_id_in_sessions_names_column_and_row(sessions, revenue, column):
    sessions[column] = sessions[column].astype(object)
    sessions.loc[1, column] = np.nan
    with pytest.raises(CreditInputError, match=rf"sessions\.{column}: missing value.*row 1"):
        credit_revenue(sessions, revenue, "shapley")


def test_nan_user_id_in_revenue(sessions, revenue):
    revenue.loc[1, "user_id"] = None
    with pytest.raises(CreditInputError, match=r"revenue\.user_id: missing value.*row 1"):
        credit_revenue(sessions, revenue, "direct")


def test_nan_revenue_amount(sessions, revenue):
    revenue.loc[0, "revenue_usd"] = np.nan
    with pytest.raises(CreditInputError, match=r"revenue\.revenue_usd: missing or non-finite"):
        credit_revenue(sessions, revenue, "direct")


def test_non_numeric_revenue(sessions, revenue):
    revenue["revenue_usd"] = ["ten", "two"]
    with pytest.raises(CreditInputError, match=r"revenue\.revenue_usd: not numeric"):
        credit_revenue(sessions, revenue, "direct")


def test_negative_duration_names_column_and_session(sessions, revenue):
    sessions.loc[2, "duration_s"] = -1.0
    with pytest.raises(
        CreditInputError, match=r"sessions\.duration_s: negative duration.*row 2 \(session_id='s3'\)"
    ):
        credit_revenue(sessions, revenue, "pagerank")


def test_infinite_duration(sessions, revenue):
    sessions.loc[0, "duration_s"] = np.inf
    with pytest.raises(CreditInputError, match=r"sessions\.duration_s: missing or non-finite"):
        credit_revenue(sessions, revenue, "pagerank")


def test_unknown_method(sessions, revenue):
    with pytest.raises(ValueError, match="unknown credit method 'shapely'.*direct, pagerank, shapley"):
        credit_revenue(sessions, revenue, "shapely")


def test_unknown_option(sessions, revenue):
    with pytest.raises(TypeError, match="'pagerank' got unknown option.*alpha"):
        credit_revenue(sessions, revenue, "pagerank", alpha=0.3)
    with pytest.raises(TypeError, match="'direct' got unknown option.*damping"):
        credit_revenue(sessions, revenue, "direct", damping=0.5)


@pytest.mark.parametrize(
    "method, option, value",
    [
        ("pagerank", "damping", 1.0),
        ("pagerank", "damping", -0.1),
        ("pagerank", "wanted_bonus", -1.0),
        ("pagerank", "tol", 0.0),
        ("shapley", "alpha", 1.5),
        ("shapley", "gamma", 0.0),
        ("shapley", "max_players", 1),
    ],
)
def test_out_of_range_options(sessions, revenue, method, option, value):
    with pytest.raises(ValueError, match=option):
        credit_revenue(sessions, revenue, method, **{option: value})


def test_non_boolean_flag(sessions, revenue):
    sessions["is_wanted"] = ["yes", "no", "no"]
    with pytest.raises(CreditInputError, match=r"sessions\.is_wanted: not a boolean.*row 0"):
        credit_revenue(sessions, revenue, "pagerank")


def test_missing_flag(sessions, revenue):
    sessions["is_paid"] = pd.array([True, None, False], dtype="boolean")
    with pytest.raises(CreditInputError, match=r"sessions\.is_paid: missing value.*row 1"):
        credit_revenue(sessions, revenue, "pagerank")


def test_ended_before_started(sessions, revenue):
    sessions.loc[1, "ended_at"] = sessions.loc[1, "started_at"] - pd.Timedelta(seconds=1)
    with pytest.raises(CreditInputError, match=r"sessions\.ended_at: ended before started_at.*row 1"):
        credit_revenue(sessions, revenue, "direct")


def test_missing_timestamp(sessions, revenue):
    sessions.loc[0, "started_at"] = pd.NaT
    with pytest.raises(CreditInputError, match=r"sessions\.started_at: missing timestamp.*row 0"):
        credit_revenue(sessions, revenue, "direct")


def test_self_match(sessions, revenue):
    sessions.loc[2, "partner_id"] = "A"
    with pytest.raises(CreditInputError, match=r"sessions\.partner_id: partner_id equals user_id.*row 2"):
        credit_revenue(sessions, revenue, "pagerank")


def test_group_session_with_two_requesters(sessions, revenue):
    sessions.loc[2, "session_id"] = "s1"  # s1 now has requesters P and A
    with pytest.raises(CreditInputError, match=r"sessions\.user_id: differs.*row 2 \(session_id='s1'\)"):
        credit_revenue(sessions, revenue, "shapley")


def test_group_session_with_mixed_paid_flag(sessions, revenue):
    sessions.loc[1, "session_id"] = "s1"  # P's s1 paid, this row not
    with pytest.raises(CreditInputError, match=r"sessions\.is_paid: differs.*row 1"):
        credit_revenue(sessions, revenue, "shapley")


def test_partner_listed_twice_in_a_session(revenue):
    sessions = sessions_frame(
        [("g", "P", "A", 100, True, True), ("g", "P", "A", 30, True, True)]
    )
    with pytest.raises(CreditInputError, match=r"sessions\.partner_id: repeats a partner.*row 1"):
        credit_revenue(sessions, revenue, "shapley")


def test_group_too_large_for_exact_shapley(revenue):
    sessions = sessions_frame(
        [("big", "P", f"u{i}", 60, False, True) for i in range(5)]
    )
    with pytest.raises(ValueError, match=r"more than 4 players.*session_id='big' with 6"):
        credit_revenue(sessions, revenue, "shapley", max_players=4)
    # the same session is fine under the default cap
    credit_revenue(sessions, revenue, "shapley")


def test_not_a_dataframe(revenue):
    with pytest.raises(CreditInputError, match="sessions must be a pandas DataFrame"):
        credit_revenue([("s1", "P", "A")], revenue, "direct")


def test_pagerank_non_convergence_is_an_error(sessions, revenue):
    with pytest.raises(PageRankNotConverged, match="did not converge in 2 iterations"):
        credit_revenue(sessions, revenue, "pagerank", max_iter=2)

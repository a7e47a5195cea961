"""rfm_summary: the day-granularity, birth-at-install convention, equality with lifetimes, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import summary_data_from_transaction_data

from adperf_assets.ltv.rfm import rfm_summary

END = "2025-03-31"


def _rows(*rows):
    return pd.DataFrame(rows, columns=["user_id", "report_date", "revenue_usd"]).assign(
        report_date=lambda d: pd.to_datetime(d["report_date"])
    )


@pytest.fixture
def installs() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["pays", "once", "never", "refunded", "late"],
        "install_date": pd.to_datetime(["2025-03-01", "2025-03-10", "2025-03-20", "2025-03-05", "2025-04-02"]),
    })


def test_hand_worked_summary(installs):
    tx = _rows(
        ("pays", "2025-03-01", 4.99),   # install day: the birth, not a repeat purchase
        ("pays", "2025-03-04", 1.00),   # two payments on one day: one purchase day worth 3.00
        ("pays", "2025-03-04", 2.00),
        ("pays", "2025-03-11", 9.00),
        ("pays", "2025-04-05", 50.0),   # after observation_end: outside the window
        ("once", "2025-03-10", 0.99),
        ("refunded", "2025-03-08", 5.00),  # refunded the same day: nets to 0, no purchase
        ("refunded", "2025-03-08", -5.00),
        ("refunded", "2025-03-31", 2.50),  # on observation_end: inside the window
    )
    got = rfm_summary(tx, END, installs)
    assert list(got.index) == ["pays", "once", "never", "refunded"]  # "late" installed after the end
    assert got.index.name == "user_id"
    expected = pd.DataFrame(
        {
            "frequency": [2, 0, 0, 1],
            "recency": [10.0, 0.0, 0.0, 26.0],
            "T": [30.0, 21.0, 11.0, 26.0],
            "monetary_value": [6.0, 0.0, 0.0, 2.5],
        },
        index=pd.Index(["pays", "once", "never", "refunded"], name="user_id"),
    )
    pd.testing.assert_frame_equal(got, expected)


def test_without_installs_birth_is_first_purchase(installs):
    tx = _rows(
        ("a", "2025-03-02", 1.0),
        ("a", "2025-03-02", 1.0),
        ("a", "2025-03-12", 4.0),
        ("b", "2025-03-30", 3.0),
        ("c", "2025-03-03", 0.0),  # never a positive day: not a customer
    )
    got = rfm_summary(tx, END)
    assert list(got.index) == ["a", "b"]
    assert got.loc["a"].tolist() == [1, 10.0, 29.0, 4.0]
    assert got.loc["b"].tolist() == [0, 0.0, 1.0, 0.0]


@pytest.fixture(scope="module")
def random_rows():
    rng = np.random.default_rng(4)
    n = 3000
    installs = pd.DataFrame({
        "user_id": np.arange(n),
        "install_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 120, n), "D"),
    })
    owner = np.repeat(np.arange(n), rng.poisson(1.5, n))
    tx = pd.DataFrame({
        "user_id": owner,
        "report_date": installs["install_date"].to_numpy()[owner]
        + pd.to_timedelta(rng.integers(0, 100, len(owner)), "D").to_numpy(),
        "revenue_usd": rng.gamma(2.0, 3.0, len(owner)).round(2) + 0.01,
    })
    return installs, tx


def _assert_same(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    ref = ref.loc[ours.index]
    assert len(ours) == len(ref)
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col].to_numpy(dtype=float), ref[col].to_numpy(dtype=float), err_msg=col)


def test_equals_lifetimes_summary_without_installs(random_rows):
    _, tx = random_rows
    ours = rfm_summary(tx, "2025-04-15")
    ref = summary_data_from_transaction_data(tx, "user_id", "report_date", "revenue_usd", observation_period_end="2025-04-15")
    _assert_same(ours, ref)


def test_equals_lifetimes_summary_with_a_zero_purchase_at_install(random_rows):
    """Birth at install = lifetimes with a zero-value first transaction on the install day."""
    installs, tx = random_rows
    ours = rfm_summary(tx, "2025-04-15", installs)
    born = installs[installs["install_date"] <= "2025-04-15"]
    assert len(ours) == len(born)  # non-payers included
    births = born.rename(columns={"install_date": "report_date"}).assign(revenue_usd=0.0)
    ref = summary_data_from_transaction_data(
        pd.concat([births, tx]), "user_id", "report_date", "revenue_usd", observation_period_end="2025-04-15"
    )
    _assert_same(ours, ref)
    assert (ours["frequency"] == 0).mean() > 0.3


def test_time_zone_aware_dates_use_the_local_day():
    stamps = pd.to_datetime(["2025-03-01 23:30", "2025-03-05 00:10"]).tz_localize("Asia/Seoul")
    tx = pd.DataFrame({"user_id": ["a", "a"], "report_date": stamps, "revenue_usd": [1.0, 2.0]})
    got = rfm_summary(tx, "2025-03-10")
    assert got.loc["a"].tolist() == [1, 4.0, 9.0, 2.0]


@pytest.mark.parametrize(
    ("tx", "message"),
    [
        (_rows(("pays", "2025-03-04", -1.0)), "negative revenue"),
        (_rows(("pays", "2025-02-27", 1.0)), "before the user's install day"),
        (_rows(("late", "2025-03-30", 1.0)), "before the user's install day"),
        (_rows(("stranger", "2025-03-04", 1.0)), "not in installs"),
        (_rows(("pays", "2025-03-04", np.nan)), "revenue_usd is missing"),
        (_rows(("pays", None, 1.0)), "report_date is missing"),
        (_rows((None, "2025-03-04", 1.0)), "user_id is missing"),
        (_rows(("pays", "2025-03-04", 1.0)).drop(columns="revenue_usd"), "missing column"),
    ],
)
def test_bad_rows_raise_clear_errors(installs, tx, message):
    with pytest.raises(ValueError, match=message):
        rfm_summary(tx, END, installs)


def test_duplicate_installs_raise(installs):
    twice = pd.concat([installs, installs.iloc[[0]]])
    with pytest.raises(ValueError, match="more than one row.*pays"):
        rfm_summary(_rows(("pays", "2025-03-04", 1.0)), END, twice)


def test_dates_as_datetimes_of_any_unit_or_strings_give_the_same_summary(installs):
    tx = _rows(("pays", "2025-03-04", 2.0), ("pays", "2025-03-09", 3.0), ("once", "2025-03-12", 1.0))
    want = rfm_summary(tx, END, installs)
    assert want.loc["pays"].tolist() == [2, 8.0, 30.0, 2.5]
    for conv in (lambda s: s.astype("datetime64[s]"), lambda s: s.dt.strftime("%Y-%m-%d")):
        got = rfm_summary(tx.assign(report_date=conv(tx["report_date"])), END,
                          installs.assign(install_date=conv(installs["install_date"])))
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    missing = installs.assign(install_date=installs["install_date"].where(installs["user_id"] != "never"))
    with pytest.raises(ValueError, match=r"installs.install_date is missing at rows \[2\]"):
        rfm_summary(tx, END, missing)

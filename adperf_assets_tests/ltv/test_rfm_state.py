"""The running per-user state of ``user_rfm`` equals the full summary day after day on random data:
refunds that land on earlier days, re-pulled days, re-run days, a start without a day before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adperf_assets.ltv.btyd_rfm import RfmInputs, user_rfm_frame
from adperf_assets.ltv.btyd_rfm_state import RfmState, user_rfm_days
from adperf_assets.ltv.keys import SEGMENT_KEYS

DAY0 = pd.Timestamp("2026-01-01")


def world(seed: int, users: int = 300, days: int = 60):
    """Segments of ``users`` installed over ``days`` days, and their purchases (user, day, net)."""
    rng = np.random.default_rng(seed)
    install = DAY0 + pd.to_timedelta(rng.integers(0, days, users), "D")
    segments = pd.DataFrame({
        "user_id": rng.permutation(np.arange(1, users + 1)) * 7,  # ids not in install order
        "install_date": install,
        "platform": rng.choice(["ios", "android"], users),
        "attribution": rng.choice(["paid", "organic"], users),
        "network": rng.choice(["facebook", "google", "none"], users),
        "is_emulator": rng.random(users) < 0.05,
    })
    per_user = rng.poisson(1.5, users) * (rng.random(users) < 0.4)
    owner = np.repeat(np.arange(users), per_user)
    age = rng.geometric(0.08, len(owner)) - 1
    purchases = pd.DataFrame({
        "user_id": segments["user_id"].to_numpy()[owner],
        "report_date": install[owner] + pd.to_timedelta(age, "D"),
        "net_usd": rng.gamma(2.0, 3.0, len(owner)).round(2) + 0.01,
    })
    return segments, purchases[purchases["report_date"] < DAY0 + pd.Timedelta(days=days)].reset_index(drop=True)


def snapshot_as_known(purchases: pd.DataFrame, day: pd.Timestamp, seed: int) -> pd.DataFrame:
    """The payments rows as a snapshot taken after ``day`` holds them: purchases up to the day, with
    refunds that arrived later netted onto their purchase's day (some partial, some full: a 0 row),
    so each day's snapshot differs from the day before's on earlier days (a re-pulled day), and
    now and then a purchase's row missing (a late-settled receipt, not yet in the snapshot)."""
    rng = np.random.default_rng(seed)
    rows = purchases[purchases["report_date"] <= day].copy()
    lag = (day - rows["report_date"]).dt.days.to_numpy()
    refund_after = rng.integers(1, 20, len(rows))  # days after the purchase its refund arrives, if any
    refunded = (rng.random(len(rows)) < 0.3) & (refund_after <= lag)
    share = np.where(rng.random(len(rows)) < 0.5, 1.0, rng.uniform(0.1, 0.9, len(rows)))
    rows.loc[refunded, "net_usd"] = (rows.loc[refunded, "net_usd"] * (1 - share[refunded])).round(2)
    late = (rng.random(len(rows)) < 0.1) & (lag < 3)
    return rows[~late].sample(frac=1.0, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)


def by_user(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("user_id").reset_index(drop=True)


def assert_same(state_frame: pd.DataFrame, full: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(by_user(state_frame)[list(full.columns)], by_user(full), check_exact=True)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), window=st.sampled_from([7, 20, 365]))
def test_state_chained_over_days_equals_the_full_summary(seed, window):
    segments, purchases = world(seed)
    days = pd.date_range(DAY0 + pd.Timedelta(days=5), DAY0 + pd.Timedelta(days=59))
    state = None
    for k, day in enumerate(days):
        payments = snapshot_as_known(purchases, day, seed + k)  # refunds and re-pulls change earlier days
        state = (RfmState.of(segments, day, window_days=window) if state is None else state.advance(segments))
        got_info, want_info = RfmInputs(), RfmInputs()
        got = state.frame(payments, got_info)
        want = user_rfm_frame(payments, segments, day, window_days=window, info=want_info)
        assert_same(got, want)
        assert got_info == want_info
    assert state.users["install_date"].min() >= days[-1] - pd.Timedelta(days=window - 1)


def test_the_frames_see_refunds_and_re_pulls():
    """The random snapshots do take purchase days away and change earlier days (the property is not vacuous)."""
    segments, purchases = world(3)
    day = DAY0 + pd.Timedelta(days=40)
    before, after = snapshot_as_known(purchases, day, 1), snapshot_as_known(purchases, day + pd.Timedelta(days=1), 2)
    a = user_rfm_frame(before, segments, day)
    b = user_rfm_frame(after, segments, day)  # same day, summarised on the later snapshot
    assert (b["frequency"].to_numpy() != a["frequency"].to_numpy()).any()
    assert (b["revenue_usd"].to_numpy() != a["revenue_usd"].to_numpy()).any()
    assert ((after["net_usd"] == 0).any())


def test_re_running_a_past_day_from_its_stored_day_before_does_not_double_count():
    segments, purchases = world(11)
    days = pd.date_range(DAY0 + pd.Timedelta(days=10), DAY0 + pd.Timedelta(days=30))
    payments = snapshot_as_known(purchases, days[-1], 5)
    frames, _ = user_rfm_days(payments, segments, days, window_days=20)
    # the day before day 15, as stored, is the population of that day: re-run day 15 and the next ones from it
    stored = frames[4]
    state = RfmState(stored[["user_id", "install_date", *SEGMENT_KEYS]], days[4], window_days=20)
    again, _ = user_rfm_days(payments, segments, days[5:], state=state, window_days=20)
    for day, got in zip(days[5:], again):
        assert_same(got, user_rfm_frame(payments, segments, day, window_days=20))
    assert_same(again[0], frames[5])


def test_a_run_without_a_day_before_starts_from_the_segments():
    segments, purchases = world(2)
    days = pd.date_range(DAY0 + pd.Timedelta(days=30), periods=5)
    payments = snapshot_as_known(purchases, days[-1], 9)
    infos: list = []
    frames, state = user_rfm_days(payments, segments, days, infos=infos)
    assert state.as_of == days[-1] and len(frames) == len(infos) == 5
    for day, got in zip(days, frames):
        assert_same(got, user_rfm_frame(payments, segments, day))
        assert (got["report_date"] == day).all()


def test_non_consecutive_days_and_reinstalls_are_errors():
    segments, _ = world(4)
    state = RfmState.of(segments, DAY0 + pd.Timedelta(days=20))
    with pytest.raises(ValueError, match="consecutive"):
        user_rfm_days(segments.iloc[:0].assign(report_date=[], net_usd=[]), segments,
                      [DAY0 + pd.Timedelta(days=22)], state=state)
    again = segments[segments["install_date"] <= DAY0 + pd.Timedelta(days=20)].head(2).assign(
        install_date=DAY0 + pd.Timedelta(days=21))
    with pytest.raises(ValueError, match=f"already in the window.*{again['user_id'].iloc[0]}"):
        state.advance(again)
    with pytest.raises(ValueError, match="more than one row"):
        RfmState.of(pd.concat([segments, segments.head(1)]), DAY0 + pd.Timedelta(days=59))

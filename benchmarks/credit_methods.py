"""Time credit_revenue per method on a synthetic day of 100k and 1M match sessions.

Run: .venv/bin/python benchmarks/credit_methods.py [--string-ids] [n_sessions ...]
(--string-ids: user and session ids as strings, as from a log file, instead of ints)
One user per 4 sessions, 3% of users pay (log-normal, a few refunds), 30% of
sessions paid, 40% wanted, 0.5% group sessions with 2-9 partners.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from adperf_assets.credit import credit_revenue
from adperf_assets.credit.inputs import code_inputs


def synthetic_day(n_sessions: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_users = max(n_sessions // 4, 10)
    n_groups = n_sessions // 200
    group_size = rng.integers(2, 10, size=n_groups)
    n_single = max(n_sessions - int(group_size.sum()), 0)
    partners_per_session = np.concatenate([np.ones(n_single, dtype=np.int64), group_size])
    session = np.repeat(np.arange(partners_per_session.size), partners_per_session)
    requester = rng.integers(0, n_users, size=partners_per_session.size)[session]
    partner = rng.integers(0, n_users - 1, size=session.size)
    partner = partner + (partner >= requester)  # never the requester
    # a group may draw the same partner twice; keep the first so (session, partner) is unique
    keep = ~pd.DataFrame({"s": session, "p": partner}).duplicated().to_numpy()
    session, requester, partner = session[keep], requester[keep], partner[keep]
    duration = rng.exponential(180.0, size=session.size)
    duration[rng.random(session.size) < 0.2] = 0.0  # instant skips
    paid = (rng.random(partners_per_session.size) < 0.3)[session]
    started = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(
        rng.uniform(0, 86_400, size=session.size), unit="s"
    )
    sessions = pd.DataFrame(
        {
            "session_id": session,
            "user_id": requester,
            "partner_id": partner,
            "started_at": started,
            "ended_at": started + pd.to_timedelta(duration, unit="s"),
            "duration_s": duration,
            "is_wanted": rng.random(session.size) < 0.4,
            "is_paid": paid,
        }
    )
    payers = rng.choice(n_users, size=max(n_users * 3 // 100, 1), replace=False)
    amount = np.round(rng.lognormal(1.5, 1.0, size=payers.size), 2)
    amount[rng.random(payers.size) < 0.01] *= -1  # refunds above the day's purchases
    revenue = pd.DataFrame({"user_id": payers, "revenue_usd": amount})
    return sessions, revenue


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def as_strings(sessions: pd.DataFrame, revenue: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    sessions = sessions.assign(
        session_id="s" + sessions["session_id"].astype(str),
        user_id="u" + sessions["user_id"].astype(str),
        partner_id="u" + sessions["partner_id"].astype(str),
    )
    return sessions, revenue.assign(user_id="u" + revenue["user_id"].astype(str))


def main(sizes: list[int], string_ids: bool = False) -> None:
    print(f"ids: {'strings' if string_ids else 'int64'}")
    print(f"{'sessions':>10} {'rows':>9} {'users':>8} {'step':>10} {'seconds':>8}  moved away from payers")
    for n in sizes:
        sessions, revenue = synthetic_day(n)
        if string_ids:
            sessions, revenue = as_strings(sessions, revenue)
        total = revenue["revenue_usd"].sum()
        users = len(set(sessions["user_id"]) | set(sessions["partner_id"]) | set(revenue["user_id"]))
        head = f"{n:>10,} {len(sessions):>9,} {users:>8,}"
        seconds, _ = timed(lambda: code_inputs(sessions, revenue))
        print(f"{head} {'validate':>10} {seconds:>8.3f}")
        for method in ("direct", "pagerank", "shapley"):
            seconds, out = timed(lambda m=method: credit_revenue(sessions, revenue, m))
            credited = dict(zip(out["user_id"], out["credited_revenue"]))
            kept = sum(credited.get(u, 0.0) for u in revenue["user_id"])
            assert abs(out["credited_revenue"].sum() - total) <= 1e-9 * revenue["revenue_usd"].abs().sum()
            print(f"{head} {method:>10} {seconds:>8.3f}  {round(1 - kept / total, 6) + 0.0:6.1%}")


if __name__ == "__main__":
    args = sys.argv[1:]
    strings = "--string-ids" in args
    main([int(a) for a in args if a != "--string-ids"] or [100_000, 1_000_000], strings)

"""The sample world: deterministic, in the real formats, and consistent with its own truth."""

import filecmp
import gzip
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adperf_assets.sample import generate_world, layout
from adperf_assets.sample.config import WorldConfig


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_byte_identical_files(tmp_path, small_world):
    again = generate_world(tmp_path / "again", seed=7, days=75, installs_per_day=60)
    assert _files(again) == _files(small_world)
    _, mismatch, errors = filecmp.cmpfiles(small_world, again, _files(again), shallow=False)
    assert mismatch == [] and errors == []


def test_other_seed_gives_other_world(tmp_path, small_world):
    other = generate_world(tmp_path / "other", seed=8, days=75, installs_per_day=60)
    assert not filecmp.cmp(layout.app_db(other), layout.app_db(small_world), shallow=False)


def test_files_are_in_the_real_formats(small_world):
    m = json.loads(layout.manifest(small_world).read_text())
    first = pd.Timestamp(m["first_day"]).date()
    # Facebook insights rows as the Graph API returns them: numbers as strings, hourly breakdown
    acc = json.loads(layout.facebook_accounts(small_world).read_text())[0]
    fb_files = sorted(layout.facebook_insights(small_world, acc["account_id"], first).parent.iterdir())
    rows = json.loads(gzip.decompress(fb_files[0].read_bytes()))
    r = rows[0]
    assert {"account_id", "campaign_id", "adset_id", "ad_id", "objective", "spend", "impressions", "clicks",
            "hourly_stats_aggregated_by_advertiser_time_zone", "date_start", "date_stop"} <= set(r)
    assert isinstance(r["spend"], str) and float(r["spend"]) >= 0
    assert r["hourly_stats_aggregated_by_advertiser_time_zone"].endswith(":59:59")
    assert any(a["action_type"] == "mobile_app_install" for x in rows for a in x.get("actions", []))
    # Google Ads rows keyed by GAQL field path
    cust = json.loads(layout.google_customers(small_world).read_text())[0]
    g_files = sorted(layout.google_rows(small_world, cust["customer.id"], first).parent.iterdir())
    g = json.loads(gzip.decompress(g_files[0].read_bytes()))[0]
    assert isinstance(g["metrics.cost_micros"], int) and 0 <= g["segments.hour"] <= 23
    # ECB file: header with trailing comma, newest first, business days only
    lines = layout.fx_file(small_world).read_text().splitlines()
    assert lines[0].startswith("Date,USD,JPY,") and lines[0].endswith(",")
    days = [pd.Timestamp(x.split(",")[0]) for x in lines[1:]]
    assert days == sorted(days, reverse=True) and all(d.weekday() < 5 for d in days)
    assert "N/A" in lines[1]
    # AppsFlyer export with its column names; organic in its own report
    af_dir = small_world / "mmp" / "appsflyer" / "installs_report"
    af = pd.read_csv(next(af_dir.iterdir()), dtype=str)
    assert {"AppsFlyer ID", "Customer User ID", "Install Time", "Media Source", "Campaign ID", "Adset ID", "Ad ID",
            "Platform", "Is Reinstall"} <= set(af.columns)
    org = pd.read_csv(next((small_world / "mmp" / "appsflyer" / "organic_installs_report").iterdir()), dtype=str)
    assert set(org["Media Source"]) == {"organic"}
    # app database: payments with refunds that point at purchases and come later
    con = sqlite3.connect(layout.app_db(small_world))
    bad = con.execute("""select count(*) from payments r join payments p on r.refers_to_payment_id = p.id
                         where r.kind != 'purchase' and (r.created_at <= p.created_at or r.amount != -p.amount)""").fetchone()
    assert bad == (0,)
    assert con.execute("select count(*) from payments where kind='refund'").fetchone()[0] > 0
    # no purchase before its user's account exists
    assert con.execute("select count(*) from payments p join users u on p.user_id = u.id "
                       "where p.created_at < u.created_at").fetchone()[0] == 0
    # match logs: requested/started/ended with wanted vs given partner
    ev = pd.read_parquet(next(layout.events_dir(small_world, "matches").iterdir()))
    assert set(ev["event"]) == {"match_requested", "match_started", "match_ended"}


@pytest.fixture(scope="module")
def truth_world(tmp_path_factory):
    """Enough users for tight sampling-error bounds (~30k)."""
    return generate_world(tmp_path_factory.mktemp("truth") / "w", seed=11, days=120, installs_per_day=250)


def _activity(world: Path) -> pd.DataFrame:
    """Distinct (user, report day) logins."""
    logins = pd.concat(pd.read_parquet(p) for p in sorted(layout.events_dir(world, "logins").iterdir()))
    logins["day"] = logins["event_time"].dt.tz_convert("Asia/Seoul").dt.tz_localize(None).dt.normalize()
    return logins[["user_id", "day"]].drop_duplicates()


def test_empirical_retention_matches_truth_curve(truth_world):
    assert_retention_matches_truth(truth_world, min_users=2000, min_checked=8)


def assert_retention_matches_truth(world: Path, min_users: int, min_checked: int) -> None:
    """Per large segment, the share of users logging in on day t is the truth curve's (4 standard errors)."""
    users = pd.read_parquet(layout.truth(world, "users"))
    curve = pd.read_parquet(layout.truth(world, "retention_by_segment"))
    act = _activity(world).merge(users[["user_id", "cohort_date"]], on="user_id")
    act["t"] = (act["day"] - act["cohort_date"]).dt.days
    last = users["cohort_date"].max()
    keys = ["platform", "acquisition", "network", "is_emulator"]
    checked = 0
    for key, seg in users.groupby(keys):
        if len(seg) < min_users:
            continue
        sc = curve.set_index(keys).loc[key].set_index("day")["expected_access_rate"]
        for t in (1, 7, 14, 30):
            eligible = seg[seg["cohort_date"] <= last - pd.Timedelta(days=t)]
            n = len(eligible)
            active = act[(act["t"] == t) & act["user_id"].isin(eligible["user_id"])]["user_id"].nunique()
            p = sc.loc[t]
            se = np.sqrt(p * (1 - p) / n)
            assert abs(active / n - p) < 4 * se + 1e-3, (key, t, active / n, p)
            checked += 1
    assert checked >= min_checked


def test_realised_revenue_matches_truth_ltv(truth_world):
    assert_revenue_matches_truth(truth_world)
    # and refunds arrive at the configured rate (binomial bound)
    cfg = WorldConfig()
    con = sqlite3.connect(layout.app_db(truth_world))
    n_buy, n_back = con.execute("select sum(kind='purchase'), sum(kind!='purchase') from payments").fetchone()
    rate = cfg.refund_rate + cfg.chargeback_rate
    assert n_back <= n_buy * rate + 4 * np.sqrt(n_buy * rate * (1 - rate))


def assert_revenue_matches_truth(world: Path) -> None:
    """Realised 30-day revenue per user of the cohorts old enough is the truth's expected LTV (4 s.e.)."""
    users = pd.read_parquet(layout.truth(world, "users"))
    buys = pd.read_parquet(layout.truth(world, "purchases"))
    cfg = WorldConfig()
    net_share = 1 - cfg.refund_rate - cfg.chargeback_rate
    horizon = 30
    last = users["cohort_date"].max()
    eligible = users[users["cohort_date"] <= last - pd.Timedelta(days=horizon)]
    b = buys.merge(eligible[["user_id", "cohort_date"]], on="user_id")
    b = b[(b["report_date"] - b["cohort_date"]).dt.days < horizon]
    per_user = b.groupby("user_id")["gross_usd"].sum().reindex(eligible["user_id"], fill_value=0.0)
    expected = eligible[f"expected_ltv_usd_{horizon}"].to_numpy() / net_share
    diff = per_user.to_numpy() - expected
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * se, (per_user.mean(), expected.mean(), se)


def test_truth_spend_matches_the_network_rows(small_world):
    """Truth spend per account-local day equals the sum of the rows the APIs would return."""
    spend = pd.read_parquet(layout.truth(small_world, "spend"))
    fb_total = 0.0
    for acc in json.loads(layout.facebook_accounts(small_world).read_text()):
        for p in (small_world / "facebook" / "insights" / acc["account_id"]).iterdir():
            fb_total += sum(float(r["spend"]) for r in json.loads(gzip.decompress(p.read_bytes())))
    truth_local = spend[spend["network"] == "facebook"]["cost_local"].sum()
    # truth covers whole report days; the API files also hold the partial account days at the world's edges
    assert 0.97 * fb_total <= truth_local <= fb_total + 0.01


def test_weibull_world_and_bad_arguments(tmp_path):
    w = generate_world(tmp_path / "wb", seed=3, days=30, installs_per_day=40, churn_model="weibull")
    users = pd.read_parquet(layout.truth(w, "users"))
    assert users["weibull_scale"].notna().all() and users["churn_theta"].isna().all()
    with pytest.raises(ValueError, match="churn_model"):
        generate_world(tmp_path / "x", churn_model="exponential", days=30)
    with pytest.raises(ValueError, match="at least 14 days"):
        generate_world(tmp_path / "y", days=5)


def test_a_utc_day_without_events_is_an_empty_log_not_a_missing_one(tmp_path):
    """The log readers need a file per UTC day: quiet days (before the first event, between two) get empty files."""
    import pyarrow as pa

    from adperf_assets.sample import events

    day_ns = 86400 * 10**9
    first = 20239  # 2025-05-31 in days since 1970
    times = np.array([(first + 1) * day_ns + 5, (first + 3) * day_ns + 7], dtype=np.int64)
    table = pa.table({"event_time": pa.array(times, pa.timestamp("ns", tz="UTC")), "user_id": pa.array([1, 2])})
    events._write_days(tmp_path, "logins", times, lambda a, b: table.slice(a, b - a), first)
    files = sorted(p.name for p in (tmp_path / "events" / "logins").glob("*.parquet"))
    assert files == ["2025-05-31.parquet", "2025-06-01.parquet", "2025-06-02.parquet", "2025-06-03.parquet"]
    empty = pd.read_parquet(tmp_path / "events" / "logins" / "2025-06-02.parquet")
    assert empty.empty and list(empty.columns) == ["event_time", "user_id"]
    assert len(pd.read_parquet(tmp_path / "events" / "logins" / "2025-06-03.parquet")) == 1

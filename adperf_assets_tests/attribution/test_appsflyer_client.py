"""The AppsFlyer Pull API client against the loopback fake: auth, params, row-limit split, retry, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from adperf_assets.normalize.attribution import SOURCE_FILE, SOURCE_ROW
from adperf_assets.defs.attribution.mmp import APPSFLYER_ADDITIONAL_FIELDS, AppsFlyerPullApi, AppsFlyerPullClient, AppsFlyerPullError
from adperf_assets_tests.attribution.conftest import af_rows
from adperf_assets_tests.attribution.fake_appsflyer import TOKEN, Reply

APPS = ("com.matcha.app", "id1500000001")
REPORTS = ("installs_report", "organic_installs_report")


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, s: float) -> None:
        self.calls.append(s)


def serve_world(af, n: int = 40, start: str = "2025-06-01 00:00:00", step_s: int = 1800) -> pd.DataFrame:
    """Rows for every app x report; returns all of them (vendor columns)."""
    all_rows = []
    for k, (app, report) in enumerate((a, r) for a in APPS for r in REPORTS):
        rows = af_rows(n, start, step_s, first_user=100000 * (k + 1),
                       media_source="organic" if report.startswith("organic") else "Facebook Ads",
                       platform="android" if app.startswith("com.") else "ios")
        af.rows[(app, report)] = rows
        all_rows.append(rows)
    return pd.concat(all_rows, ignore_index=True)


def client(af, sleep=None, **kw) -> AppsFlyerPullClient:
    return AppsFlyerPullClient(api_token=TOKEN, app_ids=list(APPS), base_url=af.url, sleep=sleep or Sleeps(), **kw)


def in_range(rows: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    t = pd.to_datetime(rows["Install Time"])
    return rows[(t >= pd.Timestamp(a)) & (t < pd.Timestamp(b))]


def same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    cols = list(want.columns)
    g = got[cols].sort_values(["Customer User ID"]).reset_index(drop=True)
    w = want[cols].sort_values(["Customer User ID"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(g, w)


def test_auth_header_params_and_half_open_range(af):
    rows = serve_world(af)
    c = client(af)
    got = c.pull(pd.Timestamp("2025-06-01 05:00"), pd.Timestamp("2025-06-01 15:00"))
    # the fake includes `to` itself; the client keeps [from, to): 05:00 .. 14:30 = 20 rows per app x report
    same_rows(got, in_range(rows, "2025-06-01 05:00", "2025-06-01 15:00"))
    assert len(got) == 4 * 20
    assert len(af.requests) == 4
    paths = sorted(r["path"] for r in af.requests)
    assert paths == sorted(f"/api/raw-data/export/app/{a}/{r}/v5" for a in APPS for r in REPORTS)
    for r in af.requests:
        assert r["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert r["params"] == {"from": "2025-06-01 05:00:00", "to": "2025-06-01 15:00:00", "timezone": "UTC",
                               "maximum_rows": "1000000", "additional_fields": APPSFLYER_ADDITIONAL_FIELDS}
        assert TOKEN not in str(r["params"])
    # provenance: which request, which row of its CSV
    assert got[SOURCE_FILE].str.startswith("AppsFlyer ").all()
    assert not got[SOURCE_FILE].str.contains(TOKEN).any()
    first = got[got[SOURCE_FILE].str.startswith("AppsFlyer installs_report app com.matcha.app")].sort_values(SOURCE_ROW)
    assert first[SOURCE_ROW].tolist() == list(range(1, 21))


@pytest.mark.parametrize("mode", ["truncate", "400"])
def test_row_limit_splits_the_range_until_each_part_fits(af, mode):
    rows = serve_world(af, n=96, step_s=900)  # one row per 15 min for a day
    af.limit_mode = mode
    c = client(af, maximum_rows=10)
    got = c.pull(pd.Timestamp("2025-06-01 00:00"), pd.Timestamp("2025-06-02 00:00"))
    same_rows(got, rows)
    assert not got.duplicated(["Customer User ID"]).any()
    assert c.stats.splits > 0
    assert all(n < 10 for *_, n in c.stats.chunks)  # every kept response was below the limit
    # the kept chunks tile the day for each app and report
    for app in APPS:
        for report in REPORTS:
            parts = sorted((f, t) for a, r, f, t, _ in c.stats.chunks if (a, r) == (app, report))
            assert parts[0][0] == "2025-06-01 00:00:00" and parts[-1][1] == "2025-06-02 00:00:00"
            assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))


def test_row_limit_that_cannot_be_split_is_a_clear_error(af):
    many = af_rows(30, "2025-06-01 00:00:00", 0)  # 30 installs in the same second
    af.rows[("com.matcha.app", "installs_report")] = many
    c = AppsFlyerPullClient(api_token=TOKEN, app_ids=["com.matcha.app"], reports=("installs_report",),
                            base_url=af.url, maximum_rows=10, sleep=Sleeps())
    with pytest.raises(AppsFlyerPullError, match="more than maximum_rows=10 rows.*cannot split further"):
        c.pull(pd.Timestamp("2025-06-01 00:00"), pd.Timestamp("2025-06-01 01:00"))


def test_long_ranges_are_cut_into_max_days_per_call(af):
    rows = serve_world(af, n=10, step_s=86400)
    c = client(af, max_days_per_call=3)
    got = c.pull(pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-11"))
    same_rows(got, rows)
    froms = sorted({r["params"]["from"] for r in af.requests})
    assert froms == ["2025-06-01 00:00:00", "2025-06-04 00:00:00", "2025-06-07 00:00:00", "2025-06-10 00:00:00"]


def test_429_and_5xx_are_retried_with_backoff_and_retry_after(af):
    rows = serve_world(af, n=4)
    af.faults = [Reply(429, "Too many requests", {"Retry-After": "7"}), Reply(503, "<html>busy</html>"),
                 Reply(500, "oops")]
    sleeps = Sleeps()
    c = client(af, sleep=sleeps, base_backoff_s=1.0)
    got = c.pull(pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-02"))
    same_rows(got, rows)
    assert c.stats.retries == 3 and c.stats.requests == 4 + 3
    assert len(sleeps.calls) == 3
    assert sleeps.calls[0] >= 7.0  # Retry-After honoured
    assert 0.5 <= sleeps.calls[1] <= 2.0 and 1.0 <= sleeps.calls[2] <= 4.0  # exponential with jitter


def test_retries_are_bounded_then_a_clear_error_without_the_token(af):
    serve_world(af, n=4)
    af.faults = [Reply(503, f"down {TOKEN}")] * 10
    sleeps = Sleeps()
    c = client(af, sleep=sleeps, max_retries=2, base_backoff_s=1.0)
    with pytest.raises(AppsFlyerPullError) as e:
        c.pull(pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-02"))
    msg = str(e.value)
    assert "installs_report app com.matcha.app 2025-06-01 00:00:00..2025-06-02 00:00:00" in msg
    assert "gave up after 3 attempts" in msg and "HTTP 503" in msg
    assert TOKEN not in msg
    assert len(sleeps.calls) == 2


@pytest.mark.parametrize("reply, text", [
    (Reply(401, "Unauthorized"), "HTTP 401 (token rejected"),
    (Reply(403, "Forbidden"), "HTTP 403 (no raw-data access"),
    (Reply(404, "App not found"), "HTTP 404 (unknown app id or report)"),
    (Reply(400, "Your API calls limit has been reached for report type installs_report"), "daily Pull API quota"),
    (Reply(400, "Invalid date format"), "HTTP 400: Invalid date format"),
])
def test_other_errors_are_not_retried(af, reply, text):
    serve_world(af, n=4)
    af.faults = [reply]
    sleeps = Sleeps()
    c = client(af, sleep=sleeps)
    with pytest.raises(AppsFlyerPullError, match=r"AppsFlyer installs_report app com\.matcha\.app") as e:
        c.pull(pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-02"))
    assert text in str(e.value) and "after 1 attempt(s)" in str(e.value)
    assert sleeps.calls == [] and len(af.requests) == 1


def test_wrong_token_reaches_the_server_check(af):
    serve_world(af, n=4)
    c = AppsFlyerPullClient(api_token="wrong", app_ids=list(APPS), base_url=af.url, sleep=Sleeps())
    with pytest.raises(AppsFlyerPullError, match="HTTP 401"):
        c.pull(pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-02"))


def test_a_200_that_is_not_a_csv_report_is_an_error(af):
    serve_world(af, n=4)
    af.faults = [Reply(200, "<html><body>Maintenance</body></html>")]
    with pytest.raises(AppsFlyerPullError, match="not a raw installs CSV"):
        client(af).pull(pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-02"))


def test_connection_refused_is_retried_then_reported():
    sleeps = Sleeps()
    c = AppsFlyerPullClient(api_token=TOKEN, app_ids=["a"], base_url="http://127.0.0.1:9", max_retries=1,
                            sleep=sleeps, timeout_s=2)
    with pytest.raises(AppsFlyerPullError, match="gave up after 2 attempts: ConnectionError"):
        c.pull(pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-02"))
    assert len(sleeps.calls) == 1


def test_empty_day_and_missing_configuration(af):
    serve_world(af, n=4)
    assert len(client(af).pull(pd.Timestamp("2025-07-01"), pd.Timestamp("2025-07-02"))) == 0
    with pytest.raises(AppsFlyerPullError, match="token is empty"):
        AppsFlyerPullClient(api_token="", app_ids=["a"], base_url=af.url).pull(pd.Timestamp("2025-06-01"),
                                                                                pd.Timestamp("2025-06-02"))


def test_resource_splits_app_ids_on_commas_and_returns_vendor_rows(af):
    rows = serve_world(af, n=8)
    res = AppsFlyerPullApi(api_token=TOKEN, app_ids=[",".join(APPS)], base_url=af.url, base_backoff_s=0.0)
    got = res.raw_installs(pd.Timestamp("2025-06-01", tz="Asia/Seoul"), pd.Timestamp("2025-06-02 12:00", tz="UTC"))
    same_rows(got, in_range(rows, "2025-05-31 15:00", "2025-06-02 12:00"))
    assert {r["path"].split("/")[5] for r in af.requests} == set(APPS)

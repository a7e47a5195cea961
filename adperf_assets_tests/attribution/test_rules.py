"""The stated attribution rules on small hand-made exports (no Dagster)."""

from __future__ import annotations

import pandas as pd
import pytest

from adperf_assets.normalize.attribution import (
    INSTALL_COLUMNS,
    NETWORK_MAP,
    attribute_installs,
    parse_adjust,
    parse_appsflyer,
)
from adperf_assets_tests.attribution.conftest import AF_COLUMNS

TZ = "Asia/Seoul"
# report day 2025-06-10 in Seoul = 2025-06-09 15:00 .. 2025-06-10 15:00 UTC
D10 = (pd.Timestamp("2025-06-09 15:00"), pd.Timestamp("2025-06-10 15:00"))
D20 = (pd.Timestamp("2025-06-19 15:00"), pd.Timestamp("2025-06-20 15:00"))


def af(*rows) -> pd.DataFrame:
    """AppsFlyer rows from (user, 'YYYY-mm-dd HH:MM:SS', media source, ad id[, reinstall])."""
    out = []
    for r in rows:
        user, when, source, ad = r[:4]
        reinstall = r[4] if len(r) > 4 else False
        organic = source == "organic"
        out.append({
            "Attributed Touch Type": "" if organic else "click", "Attributed Touch Time": "", "Install Time": when,
            "Event Time": when, "Event Name": "install", "Media Source": source,
            "Campaign": "", "Campaign ID": "" if organic else f"c{ad}", "Adset": "",
            "Adset ID": "" if organic else f"g{ad}", "Ad": "", "Ad ID": "" if organic else ad,
            "Country Code": "kr", "AppsFlyer ID": "x", "Customer User ID": str(user), "Platform": "android",
            "App ID": "com.matcha.app", "Is Retargeting": "false", "Is Reinstall": "true" if reinstall else "false",
        })
    return pd.DataFrame(out, columns=AF_COLUMNS)


def users(*rows) -> pd.DataFrame:
    """App users from (user, created_at)."""
    return pd.DataFrame({"user_id": [r[0] for r in rows], "created_at": pd.to_datetime([r[1] for r in rows]),
                         "platform": "ios", "country": "JP"})


def run(raw, app, window=D10, **kw):
    return attribute_installs(parse_appsflyer(raw).events, app, *window, TZ, "appsflyer", **kw)


def test_first_install_counts_once_and_keeps_its_ad():
    raw = af((1, "2025-06-10 01:00:00", "Facebook Ads", "A"),
             (1, "2025-06-20 02:00:00", "googleadwords_int", "B", True),   # reinstall via another ad
             (2, "2025-06-10 03:00:00", "organic", ""),
             (2, "2025-06-20 04:00:00", "Facebook Ads", "C", True))        # organic user re-attributed
    app = users((1, "2025-06-10 01:02:00"), (2, "2025-06-10 03:01:00"))
    day10 = run(raw, app)
    t = day10.table.set_index("user_id")
    assert list(day10.table.columns) == INSTALL_COLUMNS
    assert t.loc[1, ["network", "ad_id", "campaign_id", "ad_group_id", "attribution"]].tolist() == [
        "facebook", "A", "cA", "gA", "paid"]
    assert t.loc[2, ["network", "ad_id", "attribution", "is_organic"]].tolist() == ["organic", "", "organic", True]
    assert t.loc[1, "install_time_utc"] == pd.Timestamp("2025-06-10 01:00:00")
    assert t.loc[1, "install_date"] == pd.Timestamp("2025-06-10")
    assert day10.report.later_rows == 2
    # on the reinstall day nobody is new
    day20 = run(raw, app, D20)
    assert day20.table.empty and day20.report.rows_of_earlier_users == 2


def test_reinstalls_are_not_new_users_even_when_the_first_install_is_outside_the_rows():
    """Only the reinstall row is read (look-back too short): the app DB's created_at says the user is old."""
    raw = af((1, "2025-06-20 02:00:00", "googleadwords_int", "B", True))
    app = users((1, "2025-05-01 10:00:00"))
    res = run(raw, app, D20)
    assert res.table.empty and res.report.unattributed == 0


def test_without_app_db_the_lookback_rows_decide():
    raw = af((1, "2025-06-10 01:00:00", "Facebook Ads", "A"), (1, "2025-06-20 02:00:00", "Facebook Ads", "B", True))
    assert run(raw, None, D20).table.empty
    first = run(raw, None, D10)
    assert first.table["ad_id"].tolist() == ["A"] and first.report.users_not_in_app_db == 1
    # rule 6: a user the app DB does not know, whose earlier row was not read, is counted from what was read
    only_late = run(af((1, "2025-06-20 02:00:00", "Facebook Ads", "B", True)), None, D20)
    assert only_late.table["is_reinstall"].tolist() == [True]


def test_reattribution_last_moves_the_ad_but_not_the_install_day():
    raw = af((1, "2025-06-10 01:00:00", "Facebook Ads", "A"),
             (1, "2025-06-14 02:00:00", "googleadwords_int", "B", True),
             (1, "2025-06-18 02:00:00", "organic", "", True),               # organic reinstall: no re-attribution
             (2, "2025-06-10 03:00:00", "organic", ""),
             (2, "2025-06-12 04:00:00", "Facebook Ads", "C", True),
             (3, "2025-06-10 05:00:00", "Facebook Ads", "D"))
    app = users((1, "2025-06-10 01:02:00"), (2, "2025-06-10 03:01:00"), (3, "2025-06-10 05:01:00"))
    first = run(raw, app).table.set_index("user_id")
    last = run(raw, app, reattribution="last")
    t = last.table.set_index("user_id")
    assert first["ad_id"].to_dict() == {1: "A", 2: "", 3: "D"}
    assert t["ad_id"].to_dict() == {1: "B", 2: "C", 3: "D"}
    assert t["network"].to_dict() == {1: "google_ads", 2: "facebook", 3: "facebook"}
    assert t["attribution"].to_dict() == {1: "paid", 2: "paid", 3: "paid"}
    assert t["is_reinstall"].to_dict() == {1: True, 2: True, 3: False}
    assert (t["install_time_utc"] == first["install_time_utc"]).all()
    assert last.report.reattributed_users == 2
    with pytest.raises(ValueError, match="reattribution"):
        run(raw, app, reattribution="newest")


def test_unattributed_users_are_counted_and_reported():
    raw = af((1, "2025-06-10 01:00:00", "Facebook Ads", "A"),
             (3, "2025-06-10 09:00:00", "Facebook Ads", "E"))  # user 3 signed up at 02:00, MMP saw them at 09:00
    app = users((1, "2025-06-10 01:02:00"), (2, "2025-06-10 05:00:00"), (3, "2025-06-10 02:00:00"),
                (4, "2025-06-11 05:00:00"))  # user 4: another day
    res = run(raw, app)
    t = res.table.set_index("user_id")
    assert sorted(t.index) == [1, 2, 3]
    assert res.report.unattributed == 2 and res.report.unattributed_user_ids == [2, 3]
    assert res.report.late_mmp_users == 1
    row = t.loc[2]
    assert row[["network", "attribution", "ad_id", "campaign_id", "platform", "country", "is_organic"]].tolist() == [
        "unattributed", "unattributed", "", "", "ios", "JP", False]
    assert row["install_time_utc"] == pd.Timestamp("2025-06-10 05:00:00")


def test_signup_tolerance_absorbs_clock_skew():
    raw = af((1, "2025-06-10 01:30:00", "Facebook Ads", "A"))
    app = users((1, "2025-06-10 01:00:00"))  # MMP install 30 min after sign-up
    assert run(raw, app).table["attribution"].tolist() == ["paid"]
    assert run(raw, app, signup_tolerance=pd.Timedelta(minutes=10)).table["attribution"].tolist() == ["unattributed"]


def test_report_day_boundaries_follow_the_report_time_zone():
    raw = af((1, "2025-06-09 14:59:59", "Facebook Ads", "A"),   # 23:59:59 KST on the 9th
             (2, "2025-06-09 15:00:00", "Facebook Ads", "A"),   # 00:00 KST on the 10th
             (3, "2025-06-10 14:59:59", "Facebook Ads", "A"),
             (4, "2025-06-10 15:00:00", "Facebook Ads", "A"))
    res = run(raw, None)
    assert res.table["user_id"].tolist() == [2, 3]
    assert (res.table["install_date"] == pd.Timestamp("2025-06-10")).all()


def test_rows_without_a_customer_user_id_are_kept_apart_not_dropped():
    raw = af((1, "2025-06-10 01:00:00", "Facebook Ads", "A"), (2, "2025-06-10 02:00:00", "Facebook Ads", "A"))
    raw.loc[1, "Customer User ID"] = ""
    p = parse_appsflyer(raw)
    assert len(p.events) == 1 and len(p.without_user_id) == 1
    assert p.without_user_id["source_row"].tolist() == [2]


def test_network_map_is_one_table_and_unknown_sources_keep_their_name():
    raw = af((1, "2025-06-10 01:00:00", "applovin_int", "A"), (2, "2025-06-10 01:00:00", "unityads_int", ""),
             (3, "2025-06-10 01:00:00", "Facebook Ads", "B"), (4, "2025-06-10 01:00:00", "googleadwords_int", "C"))
    assert run(raw, None).table["network"].tolist() == ["applovin_int", "unityads_int", "facebook", "google_ads"]
    assert NETWORK_MAP[("adjust", "Unity Ads")] == NETWORK_MAP[("appsflyer", "unityads_int")] == "unityads_int"
    assert {v for v in NETWORK_MAP.values()} == {"facebook", "google_ads", "organic", "unityads_int", "tiktok", "apple_ads"}


def adjust(*rows) -> pd.DataFrame:
    """Adjust rows from (user, unix seconds, network_name, campaign, adgroup, creative[, activity_kind])."""
    return pd.DataFrame([{
        "activity_kind": r[6] if len(r) > 6 else "install", "installed_at": str(r[1]), "created_at": str(r[1]),
        "adid": "x", "idfa": "", "gps_adid": "", "user_id": str(r[0]), "tracker": "abc123", "tracker_name": "",
        "network_name": r[2], "campaign_name": r[3], "adgroup_name": r[4], "creative_name": r[5],
        "country": "kr", "os_name": "ios", "device_type": "phone", "app_version": "1",
    } for r in rows])


def test_adjust_labels_kinds_and_networks():
    t0 = int(pd.Timestamp("2025-06-10 01:00:00").timestamp())
    raw = adjust((1, t0, "Facebook Installs", "UA (Lookalike) (2385)", "Broad KR (2386)", "Creative A (2387)"),
                 (2, t0 + 60, "Organic", "", "", ""),
                 (3, t0 + 120, "Unity Ads", "Matcha Global (uac_1)", "", ""),
                 (4, t0 + 180, "Some Network", "plain name", "", ""),
                 (1, t0 + 86400 * 3, "Google Ads UAC", "K (17)", "G (15)", "A (70)", "reattribution_reinstall"))
    p = parse_adjust(raw)
    e = p.events
    assert e["network"].tolist() == ["facebook", "organic", "unityads_int", "Some Network", "google_ads"]
    assert e["campaign_id"].tolist() == ["2385", "", "uac_1", "", "17"]
    assert e[["ad_group_id", "ad_id"]].iloc[0].tolist() == ["2386", "2387"]
    assert e["is_reinstall"].tolist() == [False, False, False, False, True]
    assert e["event_time_utc"].iloc[0] == pd.Timestamp("2025-06-10 01:00:00")
    assert e["country"].iloc[0] == "KR"
    res = attribute_installs(e, None, *D10, TZ, "adjust")
    assert res.table.set_index("user_id").loc[1, "ad_id"] == "2387"
    assert res.table["mmp"].unique().tolist() == ["adjust"]

"""The sample world's ATT consent and SKAN 4 postbacks (sample/skan.py) follow Apple's rules and the schema."""

import filecmp
import glob
import json

import numpy as np
import pandas as pd
import pytest

from adperf_assets.sample import generate_world, layout
from adperf_assets.sample.manifest import load_manifest, world_config
from adperf_assets.sample.skan import AF_SKAN_COLUMNS, SKAN_NETWORK_ID
from adperf_assets.skan import schema
from adperf_assets.skan.keys import LATER_UNKNOWN, NULL_KEY, install_keys
from adperf_assets.skan.postbacks import parse_appsflyer


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # a busier world than the small one, so that every tier occurs
    return generate_world(tmp_path_factory.mktemp("skan") / "w", seed=5, days=60, installs_per_day=400,
                          att_opt_in=0.3)


def _csvs(pattern):
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in sorted(glob.glob(pattern))],
                     ignore_index=True)


@pytest.fixture(scope="module")
def postbacks(world):
    return _csvs(str(world / "mmp/appsflyer/skad_postbacks/*.csv"))


def test_schema_round_trip():
    rev = np.array([0.0, 0.5, 9.99, 10.0, 150.0])
    cv = schema.fine_value(rev, [0, 1, 1, 2, 3], [False, True, False, True, True])
    assert cv.tolist() == [0, 1 + 16, 5, 6 + 16 + 32, 15 + 16 + 32]
    lo, hi = schema.revenue_range(cv)
    assert np.all((lo <= rev) & (rev < hi))
    assert schema.coarse_value([0, 3, 10], 0).tolist() == ["low", "medium", "high"]
    assert schema.coarse_value([10], 2).tolist() == ["medium"]
    assert schema.tier([0, 2, 3, 7, 8, 24, 25, 1000]).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_users_who_deny_tracking_are_restricted_in_appsflyer_and_organic_in_adjust(world):
    users = pd.read_parquet(layout.truth(world, "users"))
    af = _csvs(str(world / "mmp/appsflyer/installs_report/*.csv"))
    af = af[af["Is Reinstall"] == "false"].merge(users.assign(uid=users["user_id"].astype(str)),
                                                 left_on="Customer User ID", right_on="uid")
    paid_ios = af[(af["acquisition"] == "paid") & (af["platform"] == "ios")
                  & ~af["network"].isin(schema.ATT_EXEMPT_NETWORKS)]  # Apple Ads: AdServices, no ATT
    restricted = paid_ios["Media Source"] == "restricted"
    assert (af.loc[af["network"].isin(schema.ATT_EXEMPT_NETWORKS), "Media Source"] != "restricted").all()
    assert restricted.mean() == pytest.approx(0.7, abs=0.03)
    rows = paid_ios[restricted]
    assert (rows[["Campaign ID", "Adset ID", "Ad ID", "Attributed Touch Time", "IDFA"]] == "").all().all()
    assert (af.loc[af["platform"] == "android", "Media Source"] != "restricted").all()
    adj = _csvs(str(world / "mmp/adjust/installs/*.csv"))
    adj = adj[adj["activity_kind"] == "install"].set_index("user_id")
    assert (adj.loc[rows["Customer User ID"], "network_name"] == "Organic").all()


def test_postbacks_follow_skan_4(postbacks, world):
    assert list(postbacks.columns) == AF_SKAN_COLUMNS
    pb = postbacks[postbacks["skad_version"] == "4.0"]
    seq = pb["skad_postback_sequence_index"].astype(int)
    fine, coarse = pb["skad_conversion_value"] != "", pb["skad_coarse_conversion_value"] != ""
    assert not (fine & coarse).any()  # never both
    assert (seq[fine] == 0).all()  # fine only in the first postback
    assert pb.loc[fine, "skad_conversion_value"].astype(int).between(0, 63).all()
    digits = pb["skad_source_identifier"].str.len()
    assert digits.between(2, 4).all() and (digits[seq > 0] == 2).all()
    assert set(digits[fine]) >= {2, 4} and (digits[coarse & (seq == 0)] == 2).all()  # tier 1: 2 digits
    assert ((~fine & ~coarse) & (seq == 0)).any()  # tier 0 and non-winning: no value
    # a postback shows the identifier's last digits: one campaign's winning postbacks all end in the same two,
    # and its 2-digit ones are those (a prefix would be the wrong end)
    won = pb[pb["skad_did_win"] == "true"]
    last2 = won.groupby("ad_network_campaign_id")["skad_source_identifier"].agg(lambda s: set(s.str[-2:]))
    assert (last2.map(len) == 1).all() and len(last2) > 1
    short = won[won["skad_source_identifier"].str.len() == 2]
    assert (short["skad_source_identifier"] == short["ad_network_campaign_id"].map(lambda c: next(iter(last2[c])))).all()
    four = won["skad_source_identifier"][won["skad_source_identifier"].str.len() == 4]
    assert len(four) and four.str[0].ne("0").all()  # a 4-digit number (shorter ones may start with 0: "012")
    lost = pb["skad_did_win"] == "false"
    assert lost.any() and (seq[lost] == 0).all() and not (fine | coarse)[lost].any()
    # one postback per (transaction, index); redownloads flagged
    assert not pb.duplicated(["skad_transaction_id", "skad_postback_sequence_index"]).any()
    assert set(pb["skad_redownload"]) == {"true", "false"}
    assert set(pb["skad_fidelity_type"]) == {"0", "1"}
    # arrival after the window's end plus Apple's minimum delay, and within its maximum
    est = pd.to_datetime(pb["install_date"])
    arrival = pd.to_datetime(pb["timestamp"])
    assert (arrival > est).all()


def test_values_follow_the_users_first_days(world, postbacks):
    """Fine values of winning first postbacks have the revenue buckets of the campaign's users' revenue."""
    won = postbacks[(postbacks["skad_did_win"] == "true") & (postbacks["skad_redownload"] == "false")]
    first = won[won["skad_postback_sequence_index"].isin(["0", ""])]  # "": SKAN 3.0, the only postback
    truth = pd.read_parquet(layout.truth(world, "skan"))
    # every winning first postback is an install of the truth (its campaign), and no more of them than installs
    per_camp = first.groupby("ad_network_campaign_id").size()
    true_camp = truth.groupby("campaign_id")["installs"].sum()
    assert set(per_camp.index) <= set(true_camp.index)
    assert (per_camp <= true_camp.reindex(per_camp.index)).all()
    assert per_camp.sum() > 0.9 * true_camp.sum() * 50 / 60  # installs whose first postback arrived
    cv = first.loc[first["skad_conversion_value"] != "", "skad_conversion_value"].astype(int)
    # the share of first-days payers among the fine values is that of the paid iOS users (truth purchases)
    users = pd.read_parquet(layout.truth(world, "users"))
    ios = users[(users["acquisition"] == "paid") & (users["platform"] == "ios")].set_index("user_id")
    buys = pd.read_parquet(layout.truth(world, "purchases"))
    buys = buys[buys["user_id"].isin(ios.index)]
    early = (buys["report_date"] - ios.loc[buys["user_id"], "cohort_date"].to_numpy()).dt.days <= 2
    payers = buys.loc[early.to_numpy(), "user_id"].nunique() / len(ios)
    assert 0.01 < payers < 0.5
    assert (cv % 16 > 0).mean() == pytest.approx(payers, rel=0.25)
    assert (cv & schema.BIT_RETURNED).any()


def test_a_later_postback_only_from_users_who_opened_the_app_in_its_window(world, postbacks):
    """The app updates its values at each launch, and Apple sends a later window's postback only after an
    update in it: the share of first postbacks (tier >= 1) followed by a third is the share of the users
    active on days 8-35, well below all of them."""
    won = postbacks[(postbacks["skad_did_win"] == "true") & (postbacks["skad_redownload"] == "false")
                    & (postbacks["skad_version"] == "4.0")]
    seq = won["skad_postback_sequence_index"].astype(int)
    first = won[(seq == 0) & ((won["skad_conversion_value"] != "") | (won["skad_coarse_conversion_value"] != ""))]
    m = load_manifest(world)
    cutoff = pd.Timestamp(m["last_day"]) - pd.Timedelta(days=45)  # every later postback of these has arrived
    first = first[pd.to_datetime(first["install_date"]) <= cutoff]
    followed = first["skad_transaction_id"].isin(won.loc[seq == 2, "skad_transaction_id"]).mean()
    users = pd.read_parquet(layout.truth(world, "users"))
    paid = users[(users["acquisition"] == "paid") & (users["platform"] == "ios") & users["network"].isin(list(SKAN_NETWORK_ID))
                 & (users["cohort_date"] <= cutoff)].set_index("user_id")
    logins = pd.concat([pd.read_parquet(f, columns=["event_time", "user_id"])
                        for f in sorted(glob.glob(str(layout.events_dir(world, "logins") / "*.parquet")))])
    logins = logins[logins["user_id"].isin(paid.index)]
    day = logins["event_time"].dt.tz_convert(m["report_timezone"]).dt.tz_localize(None).dt.normalize()
    age = (day - paid.loc[logins["user_id"], "cohort_date"].to_numpy()).dt.days
    active = logins.loc[((age >= 8) & (age <= 35)).to_numpy(), "user_id"].nunique() / len(paid)
    assert len(first) > 300 and 0.05 < active < 0.8
    assert followed == pytest.approx(active, abs=0.05)


def test_devices_below_ios_16_1_send_one_skan_3_postback(postbacks, world):
    """A share ``skan3_share`` of installs come as SKAdNetwork 3.0: one postback (no later windows), a fine value
    or none, the campaign as a 2-digit campaign-id and no source identifier; the pipeline reads them as first
    postbacks whose later windows are unknown."""
    old = postbacks["skad_version"] == "3.0"
    assert set(postbacks["skad_version"]) == {"3.0", "4.0"}
    won = postbacks[postbacks["skad_did_win"] == "true"]
    installs = won.drop_duplicates("skad_transaction_id")
    assert (installs["skad_version"] == "3.0").mean() == pytest.approx(0.04, abs=0.01)
    v3 = postbacks[old]
    assert (v3[["skad_source_identifier", "skad_postback_sequence_index", "skad_coarse_conversion_value"]] == "").all().all()
    assert not v3["skad_transaction_id"].duplicated().any()  # one postback per install and network
    assert v3["skad_campaign_id"].astype(int).between(1, 100).all() and (postbacks.loc[~old, "skad_campaign_id"] == "").all()
    fine = v3["skad_conversion_value"] != ""
    assert 0.2 < fine.mean() < 1  # the fine value above the privacy threshold, else none
    # the campaign-id is the last two digits of the campaign's identifier, as its 4.0 postbacks show them
    last2 = postbacks[~old & (postbacks["skad_did_win"] == "true")].groupby("ad_network_campaign_id")[
        "skad_source_identifier"].first().str[-2:]
    w3 = v3[v3["skad_did_win"] == "true"]
    assert (w3["skad_campaign_id"].astype(int) == w3["ad_network_campaign_id"].map(last2).astype(int).replace(0, 100)).all()
    assert (w3["ad_network_adset_id"] == "").all()  # a campaign-id names no ad group
    parsed = parse_appsflyer(postbacks.assign(_source_file="pb.csv", _source_row=range(1, len(postbacks) + 1)))
    keys = install_keys(parsed).set_index("transaction_id")
    is3 = keys.index.isin(w3.loc[w3["skad_redownload"] == "false", "skad_transaction_id"])
    assert is3.sum() > 50 and (keys.loc[is3 & (keys["key"] != NULL_KEY), "later"] == LATER_UNKNOWN).all()
    assert not (keys.loc[~is3, "later"] == LATER_UNKNOWN).any()


def test_truth_and_google_rows(world):
    truth = pd.read_parquet(layout.truth(world, "skan"))
    users = pd.read_parquet(layout.truth(world, "users"))
    paid_ios = users[(users["acquisition"] == "paid") & (users["platform"] == "ios")
                     & users["network"].isin(list(SKAN_NETWORK_ID))]
    assert truth["installs"].sum() == len(paid_ios)
    assert truth["expected_ltv_usd_180"].sum() == pytest.approx(
        pd.read_parquet(layout.truth(world, "user_value")).set_index("user_id")
        .loc[paid_ios["user_id"], "expected_ltv_usd_180"].sum())
    assert truth["consenting_installs"].sum() / truth["installs"].sum() == pytest.approx(0.3, abs=0.03)
    rows = pd.concat([pd.read_json(f) for f in sorted(glob.glob(str(world / "google_ads/skan/*/*.json.gz")))])
    assert set(rows["campaign.id"].astype(str)) <= set(truth.loc[truth["network"] == "google_ads", "campaign_id"])
    won_first = rows[(rows["segments.sk_ad_network_attribution_credit"] == "WON")
                     & (rows["segments.sk_ad_network_postback_sequence_index"] == 0)]
    assert won_first["metrics.sk_ad_network_installs"].sum() == won_first["metrics.sk_ad_network_total_conversions"].sum() > 0


def test_consent_changes_only_the_mmp_view_and_full_consent_writes_no_postbacks(tmp_path):
    full = generate_world(tmp_path / "full", seed=7, days=20, installs_per_day=40, preset_name="no_att")
    assert not (full / "mmp/appsflyer/skad_postbacks").exists() and not layout.truth(full, "skan").exists()
    assert "att_opt_in" not in json.loads(layout.manifest(full).read_text())["config"]
    att = generate_world(tmp_path / "att", seed=7, days=20, installs_per_day=40, preset_name="att")
    assert world_config(att).att_opt_in == 0.3 and world_config(full).att_opt_in == 1.0
    # its own generators: the same users, payments and truth as with everyone tracked
    assert filecmp.cmp(layout.app_db(att), layout.app_db(full), shallow=False)
    assert filecmp.cmp(layout.truth(att, "users"), layout.truth(full, "users"), shallow=False)
    assert layout.truth(att, "skan").exists()

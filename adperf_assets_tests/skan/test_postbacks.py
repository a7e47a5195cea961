"""skan_postbacks: parsing AppsFlyer's SKAN export, the sample and Data Locker sources, the asset and its checks."""

import gzip
import json
import shutil
from datetime import datetime

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from adperf_assets.defs.common.io_manager import AdperfDuckDBIOManager
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.skan import checks
from adperf_assets.defs.skan.assets import postbacks_table, skan_postbacks
from adperf_assets.defs.skan.resources import (AppsFlyerDataLockerSkan, PostbackCopyFolder, SampleSkanCopies,
                                               SampleSkanPostbacks, arrival_times)
from adperf_assets.settings import current_settings
from adperf_assets.normalize.attribution import AttributionInputError
from adperf_assets.sample import layout
from adperf_assets.sample.skan import SKAN_NETWORK_ID
from adperf_assets.skan import apple_copies, apple_signatures
from adperf_assets.skan.postbacks import inferred_tier, parse_appsflyer

WORLD = {"seed": 7, "start": "2025-06-01", "days": 40, "installs_per_day": 300, "preset": "att"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = SampleWorld(path=str(tmp_path_factory.mktemp("skan") / "w"), **WORLD)
    w.root()
    return w


def _raw(world, start="2025-06-01", end="2025-07-11"):
    return SampleSkanPostbacks(world=world).raw_postbacks(datetime.fromisoformat(start), datetime.fromisoformat(end))


def test_parse_the_worlds_export(world):
    raw = _raw(world)
    t = parse_appsflyer(raw)
    assert len(t) == len(raw) > 1000
    assert set(t["network"]) == set(SKAN_NETWORK_ID)  # every network but Apple Ads (AdServices) sends postbacks
    assert t["fine_conversion_value"].dropna().between(0, 63).all()
    assert (t.loc[t["fine_conversion_value"].notna(), "postback_sequence_index"] == 0).all()
    # ad group / ad ids exactly where the identifier has 3 / 4 digits
    digits = t["source_identifier"].str.len()
    assert ((t["ad_group_id"] != "") == (digits >= 3)).all() and ((t["ad_id"] != "") == (digits == 4)).all()
    tier = inferred_tier(t)
    assert set(tier.dropna()) == {0, 1, 2, 3}
    assert tier[(t["postback_sequence_index"] > 0) | ~t["did_win"]].isna().all()


@pytest.mark.parametrize("field,value,problem", [
    ("skad_source_identifier", "12345", "not 2-4 digits"),
    ("skad_postback_sequence_index", "3", "not 0, 1 or 2"),
    ("skad_did_win", "yes", "not true/false"),
    ("skad_conversion_value", "64", "not an integer 0-63"),
    ("skad_coarse_conversion_value", "huge", "not low/medium/high"),
    ("timestamp", "2025-06-10T01:02:03Z", "not a 'YYYY-MM-DD HH:MM:SS' time"),
])
def test_bad_rows_name_file_row_and_field(world, field, value, problem):
    raw = _raw(world, "2025-06-10", "2025-06-11")
    raw.loc[3, field] = value
    with pytest.raises(AttributionInputError, match=problem) as e:
        parse_appsflyer(raw)
    assert e.value.field == field and e.value.row == raw.loc[3, "_source_row"] and e.value.file.endswith(".csv")


def _older(raw, rows, version, campaign="42"):
    """Rows of the export as a postback before SKAN 4 shows them: a campaign id, the 4.0 fields empty."""
    raw = raw.copy()
    raw.loc[rows, "skad_version"] = version
    raw.loc[rows, "skad_campaign_id"] = campaign
    raw.loc[rows, ["skad_source_identifier", "skad_postback_sequence_index", "skad_coarse_conversion_value"]] = ""
    if version < "3.0":
        raw.loc[rows, "skad_did_win"] = ""
    if version < "2.2":
        raw.loc[rows, "skad_fidelity_type"] = ""
    return raw


def test_postbacks_before_skan_4_are_first_postbacks_of_their_campaign(world):
    raw = _raw(world, "2025-06-10", "2025-06-11")
    first = raw.index[raw["skad_postback_sequence_index"] == "0"]
    v3, v21 = list(first[:3]), list(first[3:5])
    raw = _older(_older(raw, v3, "3.0"), v21, "2.1", "100")
    raw.loc[v3[0], "skad_did_win"] = "false"  # 3.0 says whether it won
    t = parse_appsflyer(raw)
    assert len(t) == len(raw)
    assert t.loc[v3, "source_identifier"].tolist() == ["42"] * 3 and t.loc[v21, "source_identifier"].tolist() == ["00"] * 2
    assert (t.loc[v3 + v21, "postback_sequence_index"] == 0).all() and (t.loc[v3 + v21, "coarse_conversion_value"] == "").all()
    assert t.loc[v3, "did_win"].tolist() == [False, True, True] and t.loc[v21, "did_win"].all()
    assert (t.loc[v21, "fidelity_type"] == 1).all()
    rest = t.index.difference(v3 + v21)  # the 4.0 rows as before
    assert t.loc[rest].equals(parse_appsflyer(_raw(world, "2025-06-10", "2025-06-11")).loc[rest])
    # what such a row cannot be: no campaign id, or a coarse value (SKAN 4's)
    bad = raw.copy()
    bad.loc[v3[1], "skad_campaign_id"] = ""
    with pytest.raises(AttributionInputError, match="campaign id 1-100") as e:
        parse_appsflyer(bad)
    assert e.value.field == "skad_campaign_id" and e.value.row == raw.loc[v3[1], "_source_row"]
    bad = raw.copy()
    bad.loc[v3[2], "skad_coarse_conversion_value"] = "low"
    with pytest.raises(AttributionInputError, match="came with SKAdNetwork 4.0"):
        parse_appsflyer(bad)
    with pytest.raises(AttributionInputError, match="skad_campaign_id"):
        parse_appsflyer(raw.drop(columns="skad_campaign_id"))


def test_a_value_where_skan_allows_none_is_an_error(world):
    raw = _raw(world, "2025-06-10", "2025-06-20")
    later = raw.index[(raw["skad_postback_sequence_index"] == "1")][0]
    raw.loc[later, "skad_coarse_conversion_value"] = ""
    raw.loc[later, "skad_conversion_value"] = "5"
    with pytest.raises(AttributionInputError, match="only the first may carry one"):
        parse_appsflyer(raw)
    both = raw.index[raw["skad_coarse_conversion_value"] == "low"][0]
    raw.loc[both, "skad_conversion_value"] = "5"
    with pytest.raises(AttributionInputError, match="never both"):
        parse_appsflyer(raw)


def test_data_locker_folder_reads_like_the_sample(world, tmp_path):
    days = ["2025-06-10", "2025-06-11"]
    for d in days:
        src = layout.appsflyer_skad_postbacks(world.root(), datetime.fromisoformat(d).date())
        part = tmp_path / "t=skad_postbacks" / f"dt={d}" / "h=23" / "part-00000.gz"
        part.parent.mkdir(parents=True)
        with open(src, "rb") as f, gzip.open(part, "wb") as g:
            shutil.copyfileobj(f, g)
    real = AppsFlyerDataLockerSkan(directory=str(tmp_path))
    a = real.raw_postbacks(datetime(2025, 6, 10, 15), datetime(2025, 6, 11, 15))
    b = _raw(world, "2025-06-10T15:00:00", "2025-06-11T15:00:00")
    cols = [c for c in a.columns if c != "_source_file"]
    assert len(a) > 0 and a[cols].reset_index(drop=True).equals(b[cols].reset_index(drop=True))
    with pytest.raises(FileNotFoundError, match="no skad_postbacks part files for arrival day 2025-06-12"):
        real.raw_postbacks(datetime(2025, 6, 11), datetime(2025, 6, 13))


def test_asset_and_checks(world, tmp_path):
    defs = [skan_postbacks, checks.skan_null_value_share, checks.skan_tier_distribution,
            checks.skan_transaction_ids_unique]
    res = {"skan_postback_source": SampleSkanPostbacks(world=world), "skan_copy_source": SampleSkanCopies(world=world),
           "io_manager": AdperfDuckDBIOManager(database=str(tmp_path / "t.duckdb"))}
    with dg.instance_for_test() as inst:
        r = dg.materialize(defs, partition_key="2025-06-25", instance=inst, resources=res)
        assert r.success
        table = r.output_for_node("skan_postbacks", "skan_postbacks")
        evals = {e.check_name: e for e in r.get_asset_check_evaluations()}
        meta = r.asset_materializations_for_node("skan_postbacks")[0].metadata
    assert (table["arrival_date"] == pd.Timestamp("2025-06-25")).all() and len(table) > 50
    versions = table["version"].value_counts()
    assert set(versions.index) <= {"3.0", "4.0", apple_copies.AAK_VERSION} and versions["4.0"] > versions.get("3.0", 0)
    shown = [[c.strip() for c in line.strip("|").split("|")] for line in meta["postbacks_by_version"].value.splitlines()[2:]]
    assert {v: int(n) for v, n in shown} == {f"SKAdNetwork {v}" if v[0].isdigit() else v: n for v, n in versions.items()}
    assert evals["skan_transaction_ids_unique"].passed
    assert evals["skan_null_value_share"].metadata["first_postbacks"].value > 0
    assert 0 < evals["skan_tier_distribution"].metadata["fine_share"].value < 1


def test_checks_flag_duplicates_nulls_and_unknown_campaigns(world):
    t = postbacks_table(_raw(world, "2025-06-20", "2025-06-22"), "Asia/Seoul")
    dup = pd.concat([t, t.iloc[:2]], ignore_index=True)
    assert not checks.skan_transaction_ids_unique(dup).passed
    first = (t["postback_sequence_index"] == 0) & t["did_win"]
    nulls = t.copy()
    nulls.loc[first, "fine_conversion_value"] = np.nan
    nulls.loc[first, "coarse_conversion_value"] = ""
    assert checks.skan_null_value_share(t).passed and not checks.skan_null_value_share(nulls).passed
    assert not checks.skan_tier_distribution(nulls).passed
    # a dozen value-less first postbacks cannot tell 0% fine values from 10%: no warning on chance
    few = nulls[first].head(12)
    assert len(few) == 12 and checks.skan_tier_distribution(few).passed
    assert not checks.skan_null_value_share(few).passed  # 12 of 12 null is far above 50%
    spend = pd.DataFrame({"network": sorted(set(t["network"])), "campaign_id": "1"})
    bad = checks.skan_postbacks_campaigns_known(t, spend)
    assert not bad.passed and bad.metadata["unknown"].value == int(t["did_win"].sum())
    known = t[["network", "campaign_id"]].drop_duplicates()
    assert checks.skan_postbacks_campaigns_known(t, known).passed


def test_a_world_without_att_gives_empty_typed_tables(tmp_path):
    from adperf_assets.defs.skan.assets import google_ads_skan
    from adperf_assets.defs.skan.google_ads_skan import SampleGoogleAdsSkan

    w = SampleWorld(path=str(tmp_path / "w"), seed=7, start="2025-06-01", days=20, installs_per_day=40,
                    preset="no_att")
    defs = [skan_postbacks, google_ads_skan, checks.skan_null_value_share, checks.skan_tier_distribution,
            checks.skan_transaction_ids_unique]
    with dg.instance_for_test() as inst:
        r = dg.materialize(defs, partition_key="2025-06-10", instance=inst, resources={
            "skan_postback_source": SampleSkanPostbacks(world=w), "skan_copy_source": SampleSkanCopies(world=w),
            "google_ads_skan_source": SampleGoogleAdsSkan(world=w),
            "io_manager": AdperfDuckDBIOManager(database=str(tmp_path / "t.duckdb"))})
        assert r.success and all(e.passed for e in r.get_asset_check_evaluations())
        assert r.output_for_node("skan_postbacks", "skan_postbacks").empty and r.output_for_node("google_ads_skan").empty


# -- Apple's postback copies (skan.apple_copies) ---------------------------------------------------

SIGNED = ["network", "transaction_id", "postback_sequence_index", "source_identifier", "did_win", "redownload",
          "fidelity_type", "source_app_id"]


def _copies(world, start="2025-06-01", end="2025-07-11"):
    return SampleSkanCopies(world=world).copies(datetime.fromisoformat(start), datetime.fromisoformat(end))


def test_the_worlds_copies_verify_and_match_its_winning_postbacks(world):
    copies, rejected = _copies(world)
    assert rejected.empty and len(copies) > 1000
    kinds = pd.Series([json.loads(t)["body"] for _, _, t in SampleSkanCopies(world=world).copy_lines(
        datetime(2025, 6, 1), datetime(2025, 7, 11)) if t.strip()]).map(lambda b: "jws-string" in b)
    assert 0.1 < kinds.mean() < 0.3  # both kinds: about a fifth of the installs' copies are AdAttributionKit
    mmp = parse_appsflyer(_raw(world))
    won = mmp[mmp["did_win"]]
    # every winning postback, once, with the same signed fields and values (copies arrive up to 15 min earlier)
    key = lambda t: t[SIGNED + ["fine_conversion_value", "coarse_conversion_value"]].sort_values(  # noqa: E731
        SIGNED[:3], ignore_index=True).fillna({"fine_conversion_value": -1})
    assert len(copies) == len(won) and key(copies).equals(key(won))
    # devices below iOS 16.1 sign SKAN 3.0 (a campaign-id), the MMP shows the same version
    assert set(copies["version"]) == {"3.0", "4.0", apple_copies.AAK_VERSION}
    assert set(copies.loc[copies["version"] == "3.0", "transaction_id"]) == set(won.loc[won["version"] == "3.0", "transaction_id"])
    lag = (won.set_index(SIGNED[:3])["arrival_time_utc"]
           - copies.set_index(SIGNED[:3])["arrival_time_utc"]).dt.total_seconds()
    assert lag.between(0, 900).all()
    # per network and postback index, the same counts of installs (first) and redownloads
    count = lambda t: t.groupby(["network", "postback_sequence_index", "redownload"]).size()  # noqa: E731
    assert count(copies).equals(count(won))


def test_copies_fill_what_the_mmp_export_lacks_without_double_counting(world, tmp_path):
    class Lossy(SampleSkanPostbacks):
        """The MMP's export missing about a third of the winning postbacks."""

        def raw_postbacks(self, start, end, required=None):
            raw = super().raw_postbacks(start, end, required)
            # not in a report day's first 15 minutes: a copy arrives up to 15 min before its MMP row, so there
            # the copy belongs to the day before
            local = arrival_times(raw).dt.tz_localize("UTC").dt.tz_convert(current_settings().report_timezone)
            early = (local - local.dt.normalize()) < pd.Timedelta(minutes=15)
            drop = (raw["skad_did_win"] == "true") & raw["skad_transaction_id"].str[-1].isin(list("01234")) & ~early
            return raw[~drop].reset_index(drop=True)

    def run(source, copy_source):
        res = {"skan_postback_source": source, "skan_copy_source": copy_source,
               "io_manager": AdperfDuckDBIOManager(database=str(tmp_path / f"{len(list(tmp_path.iterdir()))}.duckdb"))}
        with dg.instance_for_test() as inst:
            r = dg.materialize([skan_postbacks], partition_key="2025-06-25", instance=inst, resources=res)
            out = r.output_for_node("skan_postbacks", "skan_postbacks")
            mat = r.asset_materializations_for_node("skan_postbacks")[0].metadata
            ev = r.get_asset_check_evaluations()[0]
        return out, mat, ev

    full, m_full, ev = run(SampleSkanPostbacks(world=world), SampleSkanCopies(world=world))
    assert ev.passed and m_full["apple_copies_verified"].value > 50
    assert (full["mmp"] == "appsflyer").all()  # every copy has its MMP twin: the MMP's rows, nothing added
    assert m_full["apple_copies_with_mmp_twin"].value == m_full["apple_copies_verified"].value
    lossy, m, _ = run(Lossy(world=world), SampleSkanCopies(world=world))
    added = lossy[lossy["mmp"] == apple_copies.COPY_SOURCE]
    assert len(added) == m["apple_copies_added"].value > 10
    # the same postbacks as the full export, once each, with the network's campaign mapping
    cols = ["network", "transaction_id", "postback_sequence_index", "campaign_id", "ad_group_id", "ad_id",
            "source_identifier", "fine_conversion_value", "coarse_conversion_value", "arrival_date"]
    k = lambda t: t[cols].fillna({"fine_conversion_value": -1}).sort_values(cols[:3], ignore_index=True)  # noqa: E731
    assert len(lossy) == len(full) and k(lossy).equals(k(full))
    assert checks.skan_transaction_ids_unique(lossy).passed


def test_the_receivers_folder_rejects_forged_lines_and_names_them(world, tmp_path):
    from adperf_assets.sample.skan import COPY_KID

    day = datetime(2025, 6, 25).date()
    lines = layout.apple_postback_copies(world.root(), day).read_text().splitlines()
    assert len(lines) > 20
    forged = json.loads(lines[4])
    body = forged["body"]
    if "jws-string" in body:  # swap the payload: the signature no longer covers it
        h, p, s = body["jws-string"].split(".")
        payload = json.loads(apple_signatures.unb64url(p)) | {"source-identifier": "99"}
        body["jws-string"] = ".".join([h, apple_signatures.b64url(json.dumps(payload).encode()), s])
        field = "jws-string"
    else:
        body["source-identifier"], field = "99", "attribution-signature"
    lines[4] = json.dumps(forged)
    (tmp_path / "2025-06-25.jsonl").write_text("\n".join(lines) + "\n")
    keys = json.loads(layout.apple_postback_keys(world.root()).read_text())
    nets = {v: k for k, v in SKAN_NETWORK_ID.items()}
    folder = PostbackCopyFolder(directory=str(tmp_path), verification_keys=keys, skan_key_id=COPY_KID, ad_networks=nets)
    rows, rejected = folder.copies(datetime(2025, 6, 25), datetime(2025, 6, 26))
    assert rejected[["line", "field"]].values.tolist() == [[5, field]]
    assert rejected["file"].iloc[0].endswith("2025-06-25.jsonl") and len(rows) == len(lines) - 1
    # Apple's keys (the default) verify none of the world's copies: every line rejected, none counted
    rows, rejected = PostbackCopyFolder(directory=str(tmp_path), ad_networks=nets).copies(
        datetime(2025, 6, 25), datetime(2025, 6, 26))
    assert rows.empty and len(rejected) == len(lines)
    assert PostbackCopyFolder().copy_lines(datetime(2025, 6, 25), datetime(2025, 6, 26)) == []  # no endpoint


def test_without_the_mmp_copies_count_once_across_days_and_stay_unmapped(world, tmp_path):
    """Copies alone (no MMP row): each counted on its day, a device's retry days later not again."""
    from adperf_assets.sample.skan import COPY_KID

    class NoMmp(SampleSkanPostbacks):
        def raw_postbacks(self, start, end, required=None):
            return super().raw_postbacks(start, end, required).iloc[:0]

    src = layout.apple_postback_copies(world.root(), datetime(2025, 6, 25).date()).parent
    for f in src.glob("*.jsonl"):
        shutil.copy(f, tmp_path / f.name)
    # a copy of 2025-06-20 sent again on 2025-06-25 (the receiver did not answer 200)
    retry = json.loads((tmp_path / "2025-06-20.jsonl").read_text().splitlines()[0])
    retry["received_at"] = "2025-06-25T06:00:00Z"
    with open(tmp_path / "2025-06-25.jsonl", "a") as f:
        f.write(json.dumps(retry) + "\n")
    folder = PostbackCopyFolder(directory=str(tmp_path), skan_key_id=COPY_KID, ad_networks={
        v: k for k, v in SKAN_NETWORK_ID.items()}, verification_keys=json.loads(
            layout.apple_postback_keys(world.root()).read_text()))
    res = {"skan_postback_source": NoMmp(world=world), "skan_copy_source": folder,
           "io_manager": AdperfDuckDBIOManager(database=str(tmp_path / "t.duckdb"))}
    with dg.instance_for_test() as inst:
        r = dg.materialize([skan_postbacks], partition_key="2025-06-25", instance=inst, resources=res)
        out = r.output_for_node("skan_postbacks", "skan_postbacks")
        meta = r.asset_materializations_for_node("skan_postbacks")[0].metadata
    assert meta["apple_copies_seen_on_an_earlier_day"].value == 1
    assert len(out) == meta["apple_copies_added"].value == meta["apple_copies_verified"].value - 1 > 50
    assert (out["mmp"] == apple_copies.COPY_SOURCE).all() and (out["campaign_id"] == "").all()  # nothing maps them
    assert out["did_win"].all() and checks.skan_transaction_ids_unique(out).passed


# -- whose postbacks (skan.apps) ------------------------------------------------------------------

def test_a_sister_apps_postbacks_are_left_out_and_without_an_app_the_day_fails(world, tmp_path, monkeypatch):
    """One Data Locker bucket and one receiver for two apps: the sister app's rows in both are not counted
    as ours; with no app configured the day fails naming both apps instead of mixing them."""
    import dataclasses

    from adperf_assets.defs.skan import assets as skan_assets
    from adperf_assets.sample.skan import APP_ID
    from adperf_assets.skan.apps import SkanAppError

    def sister(t: pd.DataFrame, app_col: str, app: str, tid: str) -> pd.DataFrame:
        twin = t.iloc[::3].assign(**{app_col: app, tid: t[tid].iloc[::3] + "-sister"})
        return pd.concat([t, twin], ignore_index=True)

    class TwoAppsExport(SampleSkanPostbacks):
        def raw_postbacks(self, start, end, required=None):
            return sister(super().raw_postbacks(start, end, required), "app_id", "id999", "skad_transaction_id")

    class TwoAppsCopies(SampleSkanCopies):
        def copies(self, start, end):
            rows, rejected = super().copies(start, end)
            return sister(rows, apple_copies.APP_ID, "999", "transaction_id"), rejected

    def run(export, copies, apps):
        settings = dataclasses.replace(current_settings(), ios_app_ids=apps)
        monkeypatch.setattr(skan_assets, "current_settings", lambda: settings)
        res = {"skan_postback_source": export, "skan_copy_source": copies,
               "io_manager": AdperfDuckDBIOManager(database=str(tmp_path / f"{len(list(tmp_path.iterdir()))}.duckdb"))}
        with dg.instance_for_test() as inst:
            return dg.materialize([skan_postbacks], partition_key="2025-06-25", instance=inst, resources=res,
                                  raise_on_error=False)

    one = run(SampleSkanPostbacks(world=world), SampleSkanCopies(world=world), ())
    two = run(TwoAppsExport(world=world), TwoAppsCopies(world=world), (str(APP_ID),))
    assert one.success and two.success
    want, got = (r.output_for_node("skan_postbacks", "skan_postbacks") for r in (one, two))
    pd.testing.assert_frame_equal(got, want)
    mmp = TwoAppsExport(world=world).raw_postbacks(datetime(2025, 6, 24, 15), datetime(2025, 6, 25, 15))
    copies, _ = TwoAppsCopies(world=world).copies(datetime(2025, 6, 24, 15), datetime(2025, 6, 25, 15))
    left_out = int((mmp["app_id"] == "id999").sum() + (copies[apple_copies.APP_ID] == "999").sum())
    assert left_out > 20
    assert two.asset_materializations_for_node("skan_postbacks")[0].metadata[
        "other_apps_postbacks_left_out"].value == left_out
    mixed = run(TwoAppsExport(world=world), SampleSkanCopies(world=world), ())
    assert not mixed.success
    error = mixed.get_step_failure_events()[0].step_failure_data.error.cause
    assert error.cls_name == SkanAppError.__name__
    assert f"2 apps ({APP_ID}: " in error.message and "999: " in error.message and "ADPERF_IOS_APP_IDS" in error.message


def test_re_engagement_copies_are_counted_apart_not_as_installs(world, tmp_path):
    """AdAttributionKit re-engagements (opens of an installed app) verify like any copy: they are counted
    in the metadata, neither read as installs nor listed as rejected lines (the check stays green)."""

    class WithReengagements(SampleSkanCopies):
        def copies(self, start, end):
            rows, rejected = super().copies(start, end)
            again = rows.iloc[::4].assign(**{"transaction_id": rows["transaction_id"].iloc[::4] + "-re",
                                             apple_copies.REENGAGEMENT: True})
            return pd.concat([rows, again], ignore_index=True), rejected

    def run(copies):
        res = {"skan_postback_source": SampleSkanPostbacks(world=world), "skan_copy_source": copies,
               "io_manager": AdperfDuckDBIOManager(database=str(tmp_path / f"{len(list(tmp_path.iterdir()))}.duckdb"))}
        with dg.instance_for_test() as inst:
            return dg.materialize([skan_postbacks], partition_key="2025-06-25", instance=inst, resources=res)

    plain, more = run(SampleSkanCopies(world=world)), run(WithReengagements(world=world))
    pd.testing.assert_frame_equal(more.output_for_node("skan_postbacks", "skan_postbacks"),
                                  plain.output_for_node("skan_postbacks", "skan_postbacks"))
    meta = more.asset_materializations_for_node("skan_postbacks")[0].metadata
    added = len(WithReengagements(world=world).copies(datetime(2025, 6, 24, 15), datetime(2025, 6, 25, 15))[0]) - len(
        SampleSkanCopies(world=world).copies(datetime(2025, 6, 24, 15), datetime(2025, 6, 25, 15))[0])
    assert added > 5 and meta["apple_reengagement_copies"].value == added
    assert meta["apple_copies_verified"].value == plain.asset_materializations_for_node("skan_postbacks")[0].metadata[
        "apple_copies_verified"].value
    assert all(e.passed for e in more.get_asset_check_evaluations())

"""Apple's postback copies: signature verification (Apple's own examples and keys), parsing, dedup with the MMP."""

import json

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from adperf_assets.skan import apple_copies as ac
from adperf_assets.skan import apple_signatures as sig
from adperf_assets.skan.postbacks import COLUMNS
from adperf_assets.skan.schema import campaign_sid

APPLE = sig.public_keys(sig.APPLE_KEYS)

# Apple's two SKAN 4 examples ("Verifying an install-validation postback"), verbatim
SKAN_HIGH = {
    "version": "4.0", "ad-network-id": "com.example", "source-identifier": "5239", "app-id": 525463029,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e30", "redownload": False, "source-domain": "example.com",
    "fidelity-type": 1, "did-win": True, "conversion-value": 63, "postback-sequence-index": 0,
    "attribution-signature": "MEUCIGRmSMrqedNu6uaHyhVcifs118R5z/AB6cvRaKrRRHWRAiEAv96ne3dKQ5kJpbsfk4eYiePmrZUU6sQmo+7zfP/1Bxo=",
}
SKAN_LOW = {
    "version": "4.0", "ad-network-id": "com.example", "source-identifier": "39", "app-id": 525463029,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e31", "redownload": False, "source-domain": "example.com",
    "fidelity-type": 1, "did-win": True, "coarse-conversion-value": "high", "postback-sequence-index": 0,
    "attribution-signature": "MEUCIQD4rX6eh38qEhuUKHdap345UbmlzA7KEZ1bhWZuYM8MJwIgMnyiiZe6heabDkGwOaKBYrUXQhKtF3P/ERHqkR/XpuA=",
}
# Apple's examples of the versions before 4 (its pages' earlier revisions, copied in public verifiers), verbatim
SKAN_OLD = {
    "2.1": {"version": "2.1", "ad-network-id": "com.example", "campaign-id": 42, "app-id": 525463029,
            "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28", "redownload": True, "source-app-id": 1234567891,
            "conversion-value": 20, "attribution-signature":
            "MEUCID6rbq3qt4GvFaAaynh5/LAcvn1d8CQTRhrZhLIxLKntAiEAo7IrvoMw6u2qDg6Tr5vIsEHXjlLkPlCOL0ojJcEh3Qw="},
    "2.2": {"version": "2.2", "ad-network-id": "com.example", "campaign-id": 42, "app-id": 525463029,
            "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28", "redownload": True, "source-app-id": 1234567891,
            "fidelity-type": 1, "conversion-value": 20, "attribution-signature":
            "MEYCIQDTuQ1Z4Tpy9D3aEKbxLl5J5iKiTumcqZikuY/AOD2U7QIhAJAaiAv89AoquHXJffcieEQXdWHpcV8ZgbKN0EwV9/sY"},
    "3.0": {"version": "3.0", "ad-network-id": "example123.skadnetwork", "campaign-id": 42, "app-id": 525463029,
            "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28", "redownload": True, "source-app-id": 1234567891,
            "fidelity-type": 1, "conversion-value": 20, "did-win": True, "attribution-signature":
            "MEYCIQD5eq3AUlamORiGovqFiHWI4RZT/PrM3VEiXUrsC+M51wIhAPMANZA9c07raZJ64gVaXhB9+9yZj/X6DcNxONdccQij"},
    "3.0 lost": {"version": "3.0", "ad-network-id": "example123.skadnetwork", "campaign-id": 42, "app-id": 525463029,
                 "transaction-id": "f9ac267a-a889-44ce-b5f7-0166d11461f0", "redownload": True, "fidelity-type": 1,
                 "did-win": False, "attribution-signature":
                 "MEUCIQDDetUtkyc/MiQvVJ5I6HIO1E7l598572Wljot2Onzd4wIgVJLzVcyAV+TXksGNoa0DTMXEPgNPeHCmD4fw1ABXX0g="},
}
# Apple's AdAttributionKit example ("Identifying the parameters in a postback", development key 1), verbatim
AAK_DEV = {
    "jws-string": "eyJraWQiOiJhcHBsZS1kZXZlbG9wbWVudC1pZGVudGlmaWVyXC8xIiwiYWxnIjoiRVMyNTYifQ.eyJwb3N0YmFjay1pZGVudGlmaWVyIjoiODU1NDZFQjctRkQzOS00NEJDLTg5OTAtQzk4QTRBQzM2QTQ5IiwicHVibGlzaGVyLWl0ZW0taWRlbnRpZmllciI6MCwibWFya2V0cGxhY2UtaWRlbnRpZmllciI6ImNvbS5hcHBsZS5BcHBTdG9yZSIsImltcHJlc3Npb24tdHlwZSI6ImFwcC1pbXByZXNzaW9uIiwiYWQtbmV0d29yay1pZGVudGlmaWVyIjoiZGV2ZWxvcG1lbnQuYWRhdHRyaWJ1dGlvbmtpdCIsImRpZC13aW4iOnRydWUsInBvc3RiYWNrLXNlcXVlbmNlLWluZGV4IjowLCJjb252ZXJzaW9uLXR5cGUiOiJyZS1lbmdhZ2VtZW50Iiwic291cmNlLWlkZW50aWZpZXIiOiIxMjM0IiwiYWR2ZXJ0aXNlZC1pdGVtLWlkZW50aWZpZXIiOjEwNzM4MDI3NzU2fQ.bAdNwKd6OfHK9tofvjjua4X_JPcFTxXPQSspD9gZkinw97pY7R1aI-LSjl-oxZZF3_K2H5JK5TSEBee4_1U4oQ",  # noqa: E501
    "conversion-value": 24, "ad-interaction-type": "click", "country-code": "US",
}


@pytest.mark.parametrize("name", list(SKAN_OLD))
def test_apples_examples_before_skan_4_verify_as_a_2_digit_campaign(name):
    body = SKAN_OLD[name]
    r = ac.parse_body(body, APPLE, _fail)
    assert (r.kind, r.source_identifier, r.postback_sequence_index, r.redownload, r.fidelity_type) == ("skan", "42", 0, True, 1)
    assert r.did_win == (name != "3.0 lost") and r.coarse == ""
    assert (r.fine == 20.0) if "conversion-value" in body else np.isnan(r.fine)
    assert r.source_app_id == ("1234567891" if "source-app-id" in body else "")
    for field, value in [("campaign-id", 43), ("transaction-id", "6aafb7a5-0170-41b5-bbe4-fe71dedf1e29"),
                         ("redownload", False), ("app-id", 525463028)] + ([("version", "2.1")] if name == "2.2" else []):
        _rejects({**body, field: value}, field="attribution-signature", match="does not verify")
    if "did-win" in body:
        _rejects({**body, "did-win": not body["did-win"]}, field="attribution-signature")
    # the fields of their time: a coarse value is SKAN 4's; a campaign-id runs 1-100
    _rejects({**body, "coarse-conversion-value": "low"}, field="coarse-conversion-value", match="4.0")
    _rejects({**body, "campaign-id": 0}, field="campaign-id")


def test_campaign_ids_are_the_identifiers_last_two_digits():
    assert [campaign_sid(c) for c in (1, 42, 99, 100)] == ["01", "42", "99", "00"]


def _fail(field, problem, value=None):
    raise ac.PostbackCopyError("f", 1, field, problem, value)


def _rejects(body, keys=APPLE, field=None, match=""):
    with pytest.raises(ac.PostbackCopyError, match=match) as e:
        ac.parse_body(body, keys, _fail)
    if field is not None:
        assert e.value.field == field
    return e.value


def test_apples_skan_examples_verify_and_a_changed_field_fails():
    hi, lo = ac.parse_body(SKAN_HIGH, APPLE, _fail), ac.parse_body(SKAN_LOW, APPLE, _fail)
    assert (hi.source_identifier, hi.fine, hi.coarse, hi.did_win, hi.fidelity_type) == ("5239", 63.0, "", True, 1)
    assert (lo.source_identifier, np.isnan(lo.fine), lo.coarse) == ("39", True, "high")
    assert hi.source_app_id == "" and hi.app_id == "525463029"  # a web ad: source-domain, no source app
    for field, value in [("source-identifier", "5238"), ("transaction-id", "6aafb7a5-0170-41b5-bbe4-fe71dedf1e32"),
                         ("redownload", True), ("did-win", False), ("fidelity-type", 0), ("app-id", 525463028),
                         ("source-domain", "example.org")]:
        _rejects({**SKAN_HIGH, field: value}, field="attribution-signature", match="does not verify")
    # the values are outside the signature: Apple's example still verifies with another value
    assert ac.parse_body({**SKAN_HIGH, "conversion-value": 12}, APPLE, _fail).fine == 12.0


def test_skan_needs_apples_key_not_the_development_ones():
    dev_only = {k: v for k, v in APPLE.items() if k != sig.SKAN_KEY_ID}
    _rejects(SKAN_HIGH, dev_only, "attribution-signature", "no SKAdNetwork verification key")
    wrong = {sig.SKAN_KEY_ID: APPLE["apple-development-identifier/0"]}
    _rejects(SKAN_HIGH, wrong, "attribution-signature", "does not verify")


def test_apples_aak_example_verifies_with_the_key_its_kid_names():
    # Apple's example is a re-engagement: verified and read, flagged as not an install
    r = ac.parse_body(AAK_DEV, APPLE, _fail)
    assert (r.kind, r.reengagement, r.source_identifier, r.fine, r.fidelity_type) == ("aak", True, "1234", 24.0, 1)
    # with another key under its kid, the signature fails first
    wrong = {**APPLE, "apple-development-identifier/1": APPLE["apple-development-identifier/0"]}
    _rejects(AAK_DEV, wrong, "jws-string", "does not verify with key 'apple-development-identifier/1'")
    # production keys only: the development kid is unknown
    prod = {k: APPLE[k] for k in sig.PRODUCTION_KEY_IDS}
    _rejects(AAK_DEV, prod, "jws-string.kid", "no verification key for this kid")
    # a changed payload byte breaks it
    h, p, s = AAK_DEV["jws-string"].split(".")
    payload = json.loads(sig.unb64url(p))
    tampered = sig.b64url(json.dumps({**payload, "source-identifier": "1235"}).encode())
    _rejects({**AAK_DEV, "jws-string": f"{h}.{tampered}.{s}"}, APPLE, "jws-string", "does not verify")


@pytest.fixture(scope="module")
def key():
    return ec.derive_private_key(424242, ec.SECP256R1())


def _skan(key, **kw):
    body = {"version": "4.0", "ad-network-id": "v9wttpbfk9.skadnetwork", "source-identifier": "1234",
            "app-id": 1500000001, "transaction-id": "t-1", "redownload": False, "source-app-id": 284882215,
            "fidelity-type": 0, "did-win": True, "postback-sequence-index": 0, "conversion-value": 17}
    body.update(kw)
    return sig.sign_skan({k: v for k, v in body.items() if v is not None}, key)


def _aak(key, kid="test/0", outside=None, **kw):
    payload = {"postback-identifier": "p-1", "ad-network-identifier": "cstr6suwn9.skadnetwork",
               "source-identifier": "21", "postback-sequence-index": 1, "did-win": True,
               "advertised-item-identifier": 1500000001, "conversion-type": "redownload",
               "impression-type": "app-impression", "marketplace-identifier": "com.apple.AppStore", **kw}
    return {"jws-string": sig.sign_jws(payload, key, kid), "ad-interaction-type": "view",
            "coarse-conversion-value": "medium", **(outside or {})}


def test_own_keys_sign_and_verify_both_kinds_and_tampering_fails(key):
    keys = sig.public_keys({sig.SKAN_KEY_ID: sig.public_key_text(key), "test/0": sig.public_key_text(key)})
    r = ac.parse_body(_skan(key), keys, _fail)
    assert (r.kind, r.source_app_id, r.fidelity_type, r.fine) == ("skan", "284882215", 0, 17.0)
    a = ac.parse_body(_aak(key), keys, _fail)
    assert (a.kind, a.transaction_id, a.redownload, a.fidelity_type, a.coarse, a.postback_sequence_index) == \
        ("aak", "p-1", True, 0, "medium", 1)
    other = ec.derive_private_key(77, ec.SECP256R1())
    _rejects(_skan(other), keys, "attribution-signature", "does not verify")  # wrong key
    _rejects(_aak(other), keys, "jws-string", "does not verify")
    _rejects(_aak(key, kid="test/9"), keys, "jws-string.kid")  # wrong kid
    _rejects({**_skan(key), "source-identifier": "1239"}, keys, "attribution-signature")  # tampered
    # the rules of the values (outside the signature) still hold
    _rejects(_skan(key, **{"coarse-conversion-value": "low"}), keys, "coarse-conversion-value", "never both")
    _rejects(_skan(key, **{"postback-sequence-index": 1}), keys, "conversion-value", "later postback")
    _rejects(_skan(key, **{"conversion-value": 64}), keys, "conversion-value", "not one of")
    _rejects(_skan(key, **{"source-identifier": "12345"}), keys, "source-identifier", "2-4 digits")
    _rejects({**_skan(key), "version": "2.0"}, keys, "version", "2.1, 2.2, 3.0, 4.0")  # another key and order
    _rejects(_aak(key, outside={"ad-interaction-type": "swipe"}), keys, "ad-interaction-type")
    _rejects({"conversion-value": 3}, keys, "body", "neither")


def test_read_lines_rows_rejects_and_retries(key):
    keys = sig.public_keys({sig.SKAN_KEY_ID: sig.public_key_text(key), "test/0": sig.public_key_text(key)})
    nets = {"v9wttpbfk9.skadnetwork": "facebook", "cstr6suwn9.skadnetwork": "google_ads"}
    line = lambda body, t="2025-06-10T23:59:30Z": json.dumps({"received_at": t, "body": body})  # noqa: E731
    forged = {**_skan(key, **{"transaction-id": "t-2"}), "did-win": False}
    lines = [line(_skan(key)), line(_aak(key)), "{oops", line(forged), line(_skan(key)),  # a retry of line 1
             json.dumps({"body": _skan(key)}), line(_skan(key, **{"ad-network-id": "x.skadnetwork"})), "",
             line(_aak(key, **{"postback-identifier": "p-2", "conversion-type": "re-engagement"}))]
    rows, rejected = ac.read_lines([("d.jsonl", i + 1, t) for i, t in enumerate(lines)], keys, nets)
    assert list(rows.columns) == [*COLUMNS, ac.APP_ID, ac.REENGAGEMENT] and len(rows) == 3
    assert rows[ac.APP_ID].tolist() == ["1500000001"] * 3  # SKAN's app-id, AdAttributionKit's advertised item
    assert rows[ac.REENGAGEMENT].tolist() == [False, False, True]  # verified, flagged: not an install, not rejected
    assert rows["network"].tolist() == ["facebook", "google_ads", "google_ads"]
    assert rows["transaction_id"].tolist() == ["t-1", "p-1", "p-2"] and rows["source_row"].tolist() == [1, 2, 9]
    assert rows["arrival_time_utc"].iloc[0] == pd.Timestamp("2025-06-10 23:59:30")
    assert rows["mmp"].eq(ac.COPY_SOURCE).all() and rows["campaign_id"].eq("").all()
    assert np.isnan(rows["fine_conversion_value"].iloc[1]) and rows["coarse_conversion_value"].iloc[1] == "medium"
    assert rejected[["line", "field"]].values.tolist() == [
        [3, "(line)"], [4, "attribution-signature"], [6, "received_at"], [7, "ad-network-id"]]
    assert (rejected["file"] == "d.jsonl").all() and rejected["problem"].str.len().gt(0).all()


def _mmp(rows):
    t = pd.DataFrame(rows, columns=["network", "transaction_id", "postback_sequence_index", "did_win", "source_identifier",
                                    "campaign_id"])
    t["arrival_time_utc"] = pd.Timestamp("2025-06-10 12:00")
    t["ad_group_id"], t["ad_id"] = "", ""
    for c, v in {"redownload": False, "fidelity_type": 1, "fine_conversion_value": np.nan, "coarse_conversion_value": "low",
                 "source_app_id": "", "version": "4.0", "mmp": "appsflyer", "source_file": "af.csv", "source_row": 1}.items():
        t[c] = v
    return t[COLUMNS]


def test_combine_keeps_the_mmp_row_and_adds_the_copies_it_lacks():
    mmp = _mmp([("facebook", "t-1", 0, True, "12", "c12"), ("facebook", "t-9", 0, False, "13", "c13"),
                ("google_ads", "t-5", 1, True, "21", "g21")])
    copies = _mmp([("facebook", "t-1", 0, True, "12", ""), ("facebook", "t-1", 1, True, "12", ""),
                   ("facebook", "t-2", 0, True, "14", ""), ("google_ads", "t-5", 1, True, "21", "")])
    copies["mmp"] = ac.COPY_SOURCE
    out, stats = ac.combine(mmp, copies)
    assert len(out) == 5  # 3 MMP rows + t-1's second postback + t-2 (its identifier unknown to the MMP)
    added = out[out["mmp"] == ac.COPY_SOURCE].set_index("transaction_id")
    assert added.loc["t-1", "campaign_id"] == "c12" and added.loc["t-2", "campaign_id"] == ""
    assert stats == {"copies": 4, "copies_with_mmp_twin": 2, "copies_added": 2, "copies_added_unmapped": 1,
                     "mmp_winning_rows_without_copy": 0}
    # a twin outside the day (the MMP's row of the day before) still dedups
    only_copies, s2 = ac.combine(mmp.iloc[:0], copies, mmp_keys=mmp)
    assert len(only_copies) == 2 and s2["copies_with_mmp_twin"] == 2


def test_map_campaigns_by_the_identifiers_last_digits():
    """A postback carries an identifier's last 2-4 digits (Apple's examples: "5239" and "39"), so the
    campaign is in the last two; a prefix match would give the wrong campaign to each of these copies."""
    mmp = _mmp([("facebook", "a", 0, True, "4312", "c12"), ("facebook", "b", 0, True, "19", "c19"),
                ("facebook", "d", 0, True, "1243", "c43"), ("tiktok", "c", 0, True, "12", "t12")])
    mmp.loc[0, ["ad_group_id", "ad_id"]] = ["g312", "ad4312"]
    copies = _mmp([("facebook", "x", 0, True, sid, "") for sid in ("4312", "5312", "3412", "12", "19", "77", "43")])
    got = ac.map_campaigns(copies, mmp)[["source_identifier", "campaign_id", "ad_group_id", "ad_id"]]
    assert got.values.tolist() == [
        ["4312", "c12", "g312", "ad4312"],  # the ad itself
        ["5312", "c12", "g312", ""],  # another ad of the same group
        ["3412", "c12", "", ""],  # another group of the campaign
        ["12", "c12", "", ""], ["19", "c19", "", ""],
        ["77", "", "", ""],  # no MMP row shows the campaign: left empty (the campaigns-known check warns)
        ["43", "c43", "", ""],  # "1243" ends in 43: not campaign 12
    ]

"""skan.apps: App Store ids, and which postbacks are the measured app's."""

import pandas as pd
import pytest

from adperf_assets.skan.apps import SkanAppError, app_store_id, ours, parse_app_ids


def test_app_store_ids_are_their_digits():
    assert [app_store_id(v) for v in ("id1500000001", "1500000001", 1500000001, " id42 ")] == ["1500000001"] * 3 + ["42"]
    assert parse_app_ids("id1, 2,,") == ("1", "2") and parse_app_ids("") == ()
    with pytest.raises(SkanAppError, match="not an App Store id.*'com.example.game'"):
        parse_app_ids("id1,com.example.game")


def test_only_the_configured_apps_are_kept_and_the_others_counted():
    ids = pd.Series(["id1", "1", "id2", "3", "id2", None])
    keep, others = ours(ids, ("1",), "export")
    assert keep.tolist() == [True, True, False, False, False, False]
    assert others == {"2": 2, "3": 1, "": 1}


def test_without_a_configured_app_one_app_passes_and_several_fail():
    keep, others = ours(pd.Series(["id7", "7"]), (), "export")
    assert keep.all() and others == {}
    with pytest.raises(SkanAppError, match=r"export: postbacks of 2 apps \(7: 2, 8: 1\); set ADPERF_IOS_APP_IDS"):
        ours(pd.Series(["id7", "7", "8"]), (), "export")

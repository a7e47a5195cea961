"""The ad_spend / fx_rates checks: each fails on the rows it is about and names them; and a
currency without a rate blocks the day through the assets."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from adperf_assets.defs.spend.checks import (
    AD_SPEND_CHECKS,
    ad_spend_currency_known,
    ad_spend_fx_present,
    ad_spend_installs_within_clicks,
    ad_spend_no_negative_values,
    ad_spend_schema,
    ad_spend_unique_ads,
)
from adperf_assets.normalize.fx import read_ecb_history
from adperf_assets.normalize.spend import unified_columns
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.fx.resources import FxRatesSource
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout
from adperf_assets_tests.spend.world_fakes import SPEND, SPEND_CHECKS, run, table


def spend_rows(n: int = 3, **columns) -> pd.DataFrame:
    base = {
        "report_date": pd.to_datetime(["2025-07-10"] * n), "network": ["facebook"] * n,
        "account_id": ["1"] * n, "account_name": ["US"] * n, "account_timezone": ["America/Los_Angeles"] * n,
        "account_currency": ["USD"] * n, "objective": ["OUTCOME_APP_PROMOTION"] * n,
        "campaign_id": ["10"] * n, "campaign_name": ["c"] * n, "ad_group_id": ["100"] * n,
        "ad_group_name": ["g"] * n, "ad_id": [str(1000 + i) for i in range(n)], "ad_name": ["a"] * n,
        "impressions": np.array([100] * n, dtype="int64"), "clicks": np.array([5] * n, dtype="int64"),
        "installs": np.array([1.0] * n), "cost_local": np.array([2.5] * n), "cost_usd": np.array([2.5] * n),
    }
    base.update(columns)
    return pd.DataFrame(base)[unified_columns("USD")]


FX = pd.DataFrame({"report_date": pd.to_datetime(["2025-07-10"] * 2), "currency": ["USD", "KRW"],
                   "eur_rate": [1.1, 1500.0], "rate_to_report": [1.0, 1.1 / 1500], "rate_date": pd.to_datetime(["2025-07-10"] * 2),
                   "is_carried_forward": [False, False]})


def test_a_clean_table_passes_every_check():
    df = spend_rows()
    results = [ad_spend_schema(df, "USD"), ad_spend_no_negative_values(df, "cost_usd"), ad_spend_currency_known(df, FX),
               ad_spend_fx_present(df, "USD"), ad_spend_unique_ads(df), ad_spend_installs_within_clicks(df)]
    assert all(r.passed for r in results)
    assert [r.check_name for r in results] == [name for name, _, _ in AD_SPEND_CHECKS]


def test_schema_names_wrong_types_and_columns():
    df = spend_rows()
    df["ad_id"] = [1001, 1002, 1003]  # ids must be strings
    r = ad_spend_schema(df, "USD")
    assert not r.passed and "ad_id: dtype int64 is not str" in r.description
    r = ad_spend_schema(spend_rows().drop(columns=["objective"]), "USD")
    assert not r.passed and "missing ['objective']" in r.description


def test_negative_values_are_named():
    r = ad_spend_no_negative_values(spend_rows(cost_local=np.array([2.5, -1.0, 2.5]),
                                               impressions=np.array([100, 100, -3])), "cost_usd")
    assert not r.passed and r.severity == dg.AssetCheckSeverity.ERROR
    assert r.metadata["failing_rows"].value == 2 and r.metadata["failing_ad_ids"].value == "1001, 1002"


def test_unknown_currency_and_missing_rate_name_the_currency():
    df = spend_rows(account_currency=["USD", "AED", "AED"], cost_usd=np.array([2.5, np.nan, np.nan]),
                    account_id=["1", "7", "7"])
    known = ad_spend_currency_known(df, FX)
    assert not known.passed and known.description.startswith("currency AED is not published by the FX source")
    assert "facebook 7" in known.description
    fx = ad_spend_fx_present(df, "USD")
    assert not fx.passed and fx.description == "no FX rate for AED -> USD on 2025-07-10"
    assert fx.metadata["failing_ad_ids"].value == "1001, 1002"


def test_duplicate_ads_fail_and_installs_above_clicks_only_warn():
    dup = spend_rows(ad_id=["1000", "1000", "1002"])
    r = ad_spend_unique_ads(dup)
    assert not r.passed and r.metadata["failing_rows"].value == 2 and "1 (network, ad_id, report_date)" in r.description
    assert ad_spend_unique_ads(spend_rows(ad_id=["1000", "1000", "1002"], network=["facebook", "google_ads", "facebook"])).passed
    w = ad_spend_installs_within_clicks(spend_rows(installs=np.array([1.0, 9.0, 1.0])))
    assert not w.passed and w.severity == dg.AssetCheckSeverity.WARN and w.metadata["failing_ad_ids"].value == "1001"


def test_only_the_warning_is_not_blocking():
    blocking = {spec.name: spec.blocking for c in SPEND_CHECKS for spec in c.check_specs}
    assert blocking == {"ad_spend_schema": True, "ad_spend_no_negative_values": True, "ad_spend_currency_known": True,
                        "ad_spend_fx_present": True, "ad_spend_unique_ads": True,
                        "ad_spend_installs_within_clicks": False, "fx_rates_cover_ad_accounts": False,
                        "facebook_spend_rows_unique": True, "google_ads_spend_rows_unique": True,
                        "tiktok_spend_rows_unique": True, "apple_ads_spend_rows_unique": True,
                        "cost_import_spend_rows_unique": True}


class FxWithoutKrw(FxRatesSource):
    """The world's ECB file with the won taken out (as if the ECB stopped publishing it)."""

    world: SampleWorld

    def history(self) -> pd.DataFrame:
        h = read_ecb_history(layout.fx_file(self.world.root()))
        return h[h["currency"] != "KRW"].reset_index(drop=True)


def test_a_currency_without_rate_is_stored_as_nan_and_blocks_the_day(fresh_home):
    res = build_resources(fresh_home)
    res["fx"] = FxWithoutKrw(world=res["world"])
    result = run(res, "2025-07-10", assets=[*SPEND, *SPEND_CHECKS], raise_on_error=False)
    assert not result.success  # the blocking check fails the run, downstream of ad_spend would not run
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["ad_spend_fx_present"].passed
    assert checks["ad_spend_fx_present"].description == "no FX rate for KRW -> USD on 2025-07-10"
    assert not checks["ad_spend_currency_known"].passed and "KRW" in checks["ad_spend_currency_known"].description
    assert not checks["fx_rates_cover_ad_accounts"].passed
    assert "KRW (accounts google_ads 1234567890)" in checks["fx_rates_cover_ad_accounts"].description
    assert checks["ad_spend_unique_ads"].passed
    got = table(fresh_home)
    assert got.loc[got.account_currency == "KRW", "cost_usd"].isna().all()
    assert got.loc[got.account_currency != "KRW", "cost_usd"].notna().all()

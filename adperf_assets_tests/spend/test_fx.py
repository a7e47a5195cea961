"""ECB file parsing and per-day conversion rates (carry-forward, cross rates, unknown currencies)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pandas as pd
import pytest

from adperf_assets.normalize.fx import (
    FxRateError,
    conversion_rates,
    convert,
    missing_rates,
    parse_ecb_csv,
    rate_on,
    read_ecb_history,
)

# Newest first, business days only, trailing comma, N/A for a missing value -- as the ECB writes it.
# 2025-12-25/26 are TARGET holidays; 2025-12-27/28 and 2026-01-03/04 are weekends.
ECB = """Date,USD,JPY,KRW,GBP,ISK,
2026-01-05,1.1700,183.50,1690.10,0.8650,N/A,
2026-01-02,1.1720,184.10,1689.00,0.8700,145.0,
2025-12-31,1.1750,184.00,1693.50,0.8730,146.0,
2025-12-30,1.1760,183.90,1695.20,0.8740,N/A,
2025-12-29,1.1770,183.80,1696.00,0.8750,147.0,
2025-12-24,1.1780,183.70,1697.00,0.8760,148.0,
2025-12-23,1.1790,183.60,1698.00,0.8770,149.0,
"""


@pytest.fixture
def fx() -> pd.DataFrame:
    return parse_ecb_csv(ECB)


def test_parse_is_tidy_and_skips_na_and_trailing_column(fx):
    assert list(fx.columns) == ["rate_date", "currency", "eur_rate"]
    assert set(fx["currency"]) == {"USD", "JPY", "KRW", "GBP", "ISK"}
    assert len(fx) == 7 * 5 - 2  # two N/A values dropped
    usd = fx[fx["currency"] == "USD"]
    assert usd["rate_date"].is_monotonic_increasing
    assert usd.iloc[-1]["rate_date"] == pd.Timestamp("2026-01-05") and usd.iloc[-1]["eur_rate"] == 1.17
    assert fx["rate_date"].dtype == "datetime64[ns]"


def test_weekend_uses_friday_rate_and_says_so(fx):
    r = conversion_rates(["2026-01-03", "2026-01-04", "2026-01-05"], ["EUR", "EUR", "EUR"], fx, "USD")
    assert list(r["rate"]) == [1.172, 1.172, 1.17]
    assert list(r["is_carried_forward"]) == [True, True, False]
    assert list(r["rate_date"]) == [pd.Timestamp("2026-01-02")] * 2 + [pd.Timestamp("2026-01-05")]


def test_christmas_holidays_carry_the_24th(fx):
    r = conversion_rates(["2025-12-25", "2025-12-26", "2025-12-27", "2025-12-28"], ["JPY"] * 4, fx, "USD")
    assert (r["rate_date"] == pd.Timestamp("2025-12-24")).all()
    assert r["is_carried_forward"].all()
    assert r["rate"].iloc[0] == pytest.approx(1.178 / 183.70)


def test_one_currency_missing_on_a_business_day_is_carried_for_that_currency_only(fx):
    r = conversion_rates(["2025-12-30", "2025-12-30"], ["ISK", "GBP"], fx, "USD")
    assert list(r["is_carried_forward"]) == [True, False]
    assert r["rate_date"].iloc[0] == pd.Timestamp("2025-12-29")
    assert r["rate"].iloc[0] == pytest.approx(1.176 / 147.0)  # USD of the day, ISK of the day before


def test_cross_rates_via_eur(fx):
    day = date(2026, 1, 2)
    assert rate_on(day, "KRW", fx, "USD") == pytest.approx(1.172 / 1689.0)
    assert rate_on(day, "JPY", fx, "KRW") == pytest.approx(1689.0 / 184.10)
    assert rate_on(day, "USD", fx, "EUR") == pytest.approx(1 / 1.172)
    assert rate_on(day, "EUR", fx, "GBP") == pytest.approx(0.87)
    assert rate_on(day, "USD", fx, "USD") == 1.0
    assert rate_on(day, "EUR", fx, "EUR") == 1.0
    # Round trip through two cross rates is the identity.
    assert rate_on(day, "KRW", fx, "JPY") * rate_on(day, "JPY", fx, "KRW") == pytest.approx(1.0)


def test_rate_changes_with_the_day_never_constant(fx):
    r = conversion_rates(["2025-12-23", "2025-12-29", "2026-01-05"], ["KRW"] * 3, fx, "USD")
    assert r["rate"].nunique() == 3


def test_unknown_currency_error_names_it(fx):
    with pytest.raises(FxRateError, match=r"no FX rate for XYZ -> USD on 2026-01-02: currency never published") as err:
        conversion_rates(["2026-01-02", "2026-01-02"], ["GBP", "XYZ"], fx, "USD")
    assert err.value.currencies == ["XYZ"]
    with pytest.raises(FxRateError, match=r"BRL -> USD"):
        convert([1.0], ["2026-01-02"], ["BRL"], fx, "USD")


def test_unknown_report_currency_is_named(fx):
    with pytest.raises(FxRateError, match=r"CHF: currency never published"):
        conversion_rates(["2026-01-02"], ["USD"], fx, "CHF")


def test_before_first_rate_and_stale_rate_are_errors(fx):
    with pytest.raises(FxRateError, match=r"on 2025-12-01: no rate published on or before"):
        conversion_rates(["2025-12-01"], ["USD"], fx, "EUR")
    with pytest.raises(FxRateError, match=r"last rate published 2026-01-05, more than 10 days before"):
        conversion_rates(["2026-01-20"], ["JPY"], fx, "EUR")
    assert conversion_rates(["2026-01-20"], ["JPY"], fx, "EUR", max_carry_days=None)["is_carried_forward"].all()


def test_nan_mode_and_missing_rates_for_asset_checks(fx):
    r = conversion_rates(["2026-01-02", "2026-01-02"], ["USD", "XYZ"], fx, "EUR", on_missing="nan")
    assert r["rate"].iloc[0] == pytest.approx(1 / 1.172) and pd.isna(r["rate"].iloc[1])
    missing = missing_rates(["2026-01-02", "2026-01-03"], ["XYZ", "USD"], fx, "EUR")
    assert missing[["currency", "reason"]].values.tolist() == [["XYZ", "currency never published in the FX source"]]
    assert missing_rates(["2026-01-02"], ["USD"], fx, "EUR").empty


def test_convert_rounds_to_the_report_currency_minor_unit(fx):
    usd = convert([100.0, 0.0], ["2026-01-02", "2026-01-02"], ["EUR", "EUR"], fx, "USD")
    assert list(usd) == [117.2, 0.0]
    krw = convert([10.0], ["2026-01-02"], ["USD"], fx, "KRW")
    assert list(krw) == [round(10 / 1.172 * 1689.0)]


def test_read_zip_and_bad_files(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("eurofxref-hist.csv", ECB)
    (tmp_path / "eurofxref-hist.zip").write_bytes(buf.getvalue())
    assert len(read_ecb_history(tmp_path / "eurofxref-hist.zip")) == 33
    assert len(read_ecb_history(ECB.encode())) == 33

    with pytest.raises(ValueError, match=r"row 3 field 'Date' is not YYYY-MM-DD: '2026/01/02'"):
        parse_ecb_csv("Date,USD,\n2026-01-05,1.1,\n2026/01/02,1.2,\n")
    with pytest.raises(ValueError, match=r"row 2 field 'USD' is not a positive rate: 'abc'"):
        parse_ecb_csv("Date,USD,\n2026-01-05,abc,\n")
    with pytest.raises(ValueError, match=r"row 3 repeats date 2026-01-05"):
        parse_ecb_csv("Date,USD,\n2026-01-05,1.1,\n2026-01-05,1.2,\n")
    with pytest.raises(ValueError, match=r"first column must be 'Date'"):
        parse_ecb_csv("Day,USD,\n2026-01-05,1.1,\n")

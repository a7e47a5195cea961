"""snapshot_payments on hand-made rows: report-day bucketing, netting, FX, bad input."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from adperf_assets.normalize.payments import SNAPSHOT_COLUMNS, report_day_bounds, snapshot_payments

AT = datetime(2025, 7, 20)


def _purchases(rows):
    df = pd.DataFrame(rows, columns=["payment_id", "user_id", "store", "currency", "amount", "created_at"])
    df["created_at"] = pd.to_datetime(df["created_at"]).astype("datetime64[ns]")
    return df


def _reversals(rows):
    df = pd.DataFrame(rows, columns=["payment_id", "kind", "refers_to_payment_id", "amount", "created_at"])
    df["created_at"] = pd.to_datetime(df["created_at"]).astype("datetime64[ns]")
    df["refers_to_payment_id"] = df["refers_to_payment_id"].astype("Int64")
    return df


FX = pd.DataFrame({
    "report_date": pd.to_datetime(["2025-07-14", "2025-07-14", "2025-07-15", "2025-07-15", "2025-07-15"]),
    "currency": ["KRW", "USD", "KRW", "USD", "EUR"],
    "rate_to_report": [1 / 1400, 1.0, 1 / 1380, 1.0, 1.1],
})


def test_purchases_bucket_by_report_day_and_refunds_net_onto_the_purchase_day():
    p = _purchases([
        (1, 7, "app_store", "KRW", 14000, "2025-07-14 14:59:59"),  # 23:59:59 Seoul, the 14th
        (2, 7, "app_store", "KRW", 2800, "2025-07-14 15:00:00"),   # 00:00 Seoul, the 15th
        (3, 7, "app_store", "KRW", 1380, "2025-07-15 01:00:00"),
        (4, 8, "google_play", "USD", 9.99, "2025-07-15 02:00:00"),
    ])
    r = _reversals([
        (10, "refund", 2, -2800, "2025-07-19 09:00:00"),       # arrives days later: lands on the 15th
        (11, "chargeback", 4, -9.99, "2025-07-18 00:00:00"),
    ])
    out = snapshot_payments(p, r, FX, "Asia/Seoul", AT)
    assert list(out.columns) == SNAPSHOT_COLUMNS
    rows = {(str(d.date()), u): row for d, u, row in zip(out["report_date"], out["user_id"], out.itertuples())}
    assert set(rows) == {("2025-07-14", 7), ("2025-07-15", 7), ("2025-07-15", 8)}
    a = rows[("2025-07-14", 7)]
    assert (a.purchases, a.refunds, a.gross_local, a.net_usd) == (1, 0, 14000.0, pytest.approx(10.0))
    b = rows[("2025-07-15", 7)]
    assert (b.purchases, b.refunds, b.chargebacks) == (2, 1, 0)
    assert (b.gross_local, b.refunded_local, b.net_local) == (4180.0, 2800.0, 1380.0)
    assert b.net_usd == pytest.approx(1.0) and b.gross_usd == pytest.approx(4180 / 1380)
    c = rows[("2025-07-15", 8)]
    assert (c.refunds, c.chargebacks, c.net_local, c.net_usd) == (1, 1, 0.0, 0.0)
    assert (out["snapshot_at"] == pd.Timestamp(AT)).all()


def test_a_currency_without_a_rate_keeps_its_rows_with_nan_usd():
    p = _purchases([(1, 7, "app_store", "XTS", 5, "2025-07-15 01:00:00"),
                    (2, 8, "app_store", "USD", 5, "2025-07-15 01:00:00")])
    out = snapshot_payments(p, _reversals([]), FX, "Asia/Seoul", AT)
    assert len(out) == 2
    xts = out[out["currency"] == "XTS"].iloc[0]
    assert np.isnan(xts["fx_rate"]) and np.isnan(xts["net_usd"]) and xts["net_local"] == 5


def test_a_reversal_of_a_purchase_outside_the_rows_is_an_error_naming_it():
    p = _purchases([(1, 7, "app_store", "USD", 5, "2025-07-15 01:00:00")])
    r = _reversals([(10, "refund", 99, -5, "2025-07-16 00:00:00")])
    with pytest.raises(ValueError, match="payment_id=10 refers_to_payment_id=99"):
        snapshot_payments(p, r, FX, "Asia/Seoul", AT)


def test_no_rows_give_an_empty_frame_of_the_right_types():
    out = snapshot_payments(_purchases([]), _reversals([]), FX, "Asia/Seoul", AT)
    assert out.empty and list(out.columns) == SNAPSHOT_COLUMNS
    assert out["report_date"].dtype == "datetime64[ns]" and out["net_usd"].dtype == "float64"


def test_report_day_bounds_follow_the_zone_including_dst():
    b = report_day_bounds(["2025-03-09", "2025-03-10"], "America/New_York")  # DST starts on the 9th
    assert (b["end_utc"] - b["start_utc"]).dt.total_seconds().tolist() == [23 * 3600, 24 * 3600]
    assert str(b["start_utc"][0]) == "2025-03-09 05:00:00"

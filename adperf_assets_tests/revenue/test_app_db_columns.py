"""AppDatabase.columns: a payments table whose columns are named differently reads the same."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from datetime import datetime

import pandas as pd
import pytest

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.app_db import AppDatabase, AppDatabaseError
from adperf_assets.defs.revenue.assets import payments_snapshot
from adperf_assets_tests.revenue.runs import materialize, table

#: our name -> the name the "real" database uses
RENAMED = {
    "id": "payment_no",
    "user_id": "account_id",
    "kind": "payment_type",
    "refers_to_payment_id": "original_payment_no",
    "store": "platform",
    "store_transaction_id": "receipt_id",
    "amount": "gross_amount",
    "currency": "currency_code",
    "created_at": "paid_at",
}
WINDOW = (datetime(2025, 6, 10), datetime(2025, 6, 20), datetime(2025, 7, 1))
DAYS = ("2025-06-06", "2025-06-16")  # holds a purchase refunded before the snapshot (the small world)


class PinnedAppDatabase(AppDatabase):
    """A live database whose snapshot is taken at a fixed instant (not now), so two runs compare."""

    def snapshot_instant(self, window_end_utc: datetime) -> datetime:
        return WINDOW[2]


def _copy(small_world, tmp_path, name: str, renames: dict[str, str]) -> str:
    """A copy of the world's app.db (one purchase of the window made negative, so a check finds
    something), its payments columns renamed; returns its URL."""
    path = tmp_path / f"{name}.db"
    shutil.copyfile(small_world / "app.db", path)
    con = sqlite3.connect(path)
    try:
        con.execute("UPDATE payments SET amount = -amount WHERE id = (SELECT min(id) FROM payments "
                    "WHERE kind = 'purchase' AND created_at >= '2025-06-12' AND created_at < '2025-06-13')")
        for ours, theirs in renames.items():
            con.execute(f"ALTER TABLE payments RENAME COLUMN {ours} TO {theirs}")
        con.commit()
    finally:
        con.close()
    return f"sqlite:///{path}"


@pytest.fixture
def dbs(small_world, tmp_path) -> tuple[AppDatabase, AppDatabase]:
    plain = PinnedAppDatabase(url=_copy(small_world, tmp_path, "plain", {}))
    mapped = PinnedAppDatabase(url=_copy(small_world, tmp_path, "renamed", RENAMED), columns=RENAMED)
    return plain, mapped


def test_mapped_columns_read_the_same_rows(dbs):
    plain, mapped = dbs
    exp_p, exp_r = plain.purchases_and_reversals(*WINDOW)
    got_p, got_r = mapped.purchases_and_reversals(*WINDOW)
    assert len(exp_p) > 10 and len(exp_r) > 0
    pd.testing.assert_frame_equal(got_p, exp_p)
    pd.testing.assert_frame_equal(got_r, exp_r)

    exp, got = plain.payment_problems(*WINDOW), mapped.payment_problems(*WINDOW)
    assert list(got) == list(exp) and len(exp["sign"]) == 1
    for name in exp:
        pd.testing.assert_frame_equal(got[name], exp[name], check_dtype=False, obj=name)
    assert list(got["sign"].columns) == ["id", "kind", "user_id", "store", "amount", "currency", "created_at"]


def test_mapped_snapshot_equals_the_unmapped_one(dbs, small_settings, tmp_path):
    tables = []
    for db in dbs:
        s = dataclasses.replace(small_settings, home=tmp_path / f"home_{len(tables)}",
                                world_dir=small_settings.world_path)
        res = build_resources(s)
        res["app_db"] = db
        assert materialize(res, [fx_rates, payments_snapshot], *DAYS).success
        tables.append(table(s, "payments_snapshot", "order by all"))
    assert len(tables[0]) > 10 and (tables[0]["gross_usd"] != tables[0]["net_usd"]).any()
    pd.testing.assert_frame_equal(tables[1], tables[0])


def test_unknown_or_missing_columns_are_named(dbs, small_world, tmp_path):
    plain, mapped = dbs
    with pytest.raises(AppDatabaseError, match=r"unknown payments column\(s\) \['paid'\]"):
        AppDatabase(url=plain.url, columns={"paid": "paid_at"}).purchases_and_reversals(*WINDOW)
    # the renamed table without the mapping: the first missing column is named, ours and theirs
    with pytest.raises(AppDatabaseError, match=r"has no column 'id', 'user_id'.*paid_at"):
        AppDatabase(url=mapped.url).purchases_and_reversals(*WINDOW)
    # a mapping to a column the table does not have
    wrong = {**RENAMED, "created_at": "created"}
    with pytest.raises(AppDatabaseError, match=r"has no column created_at \(database column 'created'\)"):
        AppDatabase(url=mapped.url, columns=wrong).payment_problems(*WINDOW)

"""Payments checks fail on bad rows injected into a copy of the app database, name them, and (when
blocking) stop the day's downstream asset."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.app_db import AppDatabase
from adperf_assets_tests.revenue.runs import CHAIN, PAYMENT_CHECKS, checks_by_name, materialize, materialized

DAY = "2025-07-15"  # Asia/Seoul: UTC 2025-07-14 15:00 .. 2025-07-15 15:00
IN_DAY = "2025-07-15 03:00:00"
ALL_CHECKS = {"payments_no_duplicates", "payments_amount_signs", "payments_currency_known",
              "payments_reversals_match_purchase", "payments_reversals_reference_purchases"}


def _without_constraints(con: sqlite3.Connection) -> None:
    """Rebuild ``payments`` without its primary key and unique index, as a careless export would."""
    con.executescript("CREATE TABLE p2 AS SELECT * FROM payments; DROP TABLE payments; "
                      "ALTER TABLE p2 RENAME TO payments;")


def _a_purchase_of_the_day(con: sqlite3.Connection) -> tuple:
    return con.execute("SELECT id, user_id, store, currency, amount FROM payments WHERE kind = 'purchase' "
                       "AND created_at >= '2025-07-14 15:00:00' AND created_at < '2025-07-15 15:00:00' "
                       "ORDER BY id LIMIT 1").fetchone()


def duplicate_id(con):
    pid, *_ = _a_purchase_of_the_day(con)
    _without_constraints(con)
    con.execute("INSERT INTO payments SELECT * FROM payments WHERE id = ?", (pid,))
    return str(pid)


def duplicate_store_transaction(con):
    pid, *_ = _a_purchase_of_the_day(con)
    _without_constraints(con)
    new = con.execute("SELECT max(id) + 1 FROM payments").fetchone()[0]
    con.execute("INSERT INTO payments (id, user_id, kind, refers_to_payment_id, store, store_transaction_id, product_id,"
                " amount, currency, created_at) SELECT ?, user_id, kind, refers_to_payment_id, store, store_transaction_id,"
                " product_id, amount, currency, ? FROM payments WHERE id = ?", (new, IN_DAY, pid))
    return con.execute("SELECT store_transaction_id FROM payments WHERE id = ?", (pid,)).fetchone()[0]


def negative_purchase(con):
    pid, *_ = _a_purchase_of_the_day(con)
    con.execute("UPDATE payments SET amount = -amount WHERE id = ?", (pid,))
    return str(pid)


def unknown_currency(con):
    pid, *_ = _a_purchase_of_the_day(con)
    con.execute("UPDATE payments SET currency = 'XTS' WHERE id = ?", (pid,))
    return "XTS"


def _insert_refund(con, refers_to, user_id, store, currency, amount) -> int:
    new = con.execute("SELECT max(id) + 1 FROM payments").fetchone()[0]
    con.execute("INSERT INTO payments (id, user_id, kind, refers_to_payment_id, store, store_transaction_id, product_id,"
                " amount, currency, created_at) VALUES (?, ?, 'refund', ?, ?, ?, 'gems_small', ?, ?, ?)",
                (new, user_id, refers_to, store, f"TEST-{new}", amount, currency, IN_DAY))
    return new


def orphan_refund(con):
    _, user_id, store, currency, amount = _a_purchase_of_the_day(con)
    return str(_insert_refund(con, 987654321, user_id, store, currency, -amount))


def mismatched_refund(con):
    pid, user_id, store, currency, amount = _a_purchase_of_the_day(con)
    other = "JPY" if currency != "JPY" else "KRW"
    return str(_insert_refund(con, pid, user_id, store, other, -amount))


CASES = [
    # fault, the check that must fail, blocking?
    (duplicate_id, "payments_no_duplicates", True),
    (duplicate_store_transaction, "payments_no_duplicates", True),
    (negative_purchase, "payments_amount_signs", True),
    (unknown_currency, "payments_currency_known", True),
    (mismatched_refund, "payments_reversals_match_purchase", True),
    (orphan_refund, "payments_reversals_reference_purchases", False),
]


@pytest.mark.parametrize("fault, check, blocking", CASES, ids=[c[0].__name__ for c in CASES])
def test_check_fails_on_injected_rows_and_names_them(fresh_home, tmp_path, fault, check, blocking):
    db = tmp_path / "app_copy.db"
    shutil.copy(fresh_home.world_path / "app.db", db)
    con = sqlite3.connect(db)
    named = fault(con)
    con.commit()
    con.close()
    res = build_resources(fresh_home)
    res["app_db"] = AppDatabase(url=f"sqlite:///{db}")

    result = materialize(res, [*CHAIN, *PAYMENT_CHECKS], DAY, raise_on_error=False)

    evals = checks_by_name(result)
    assert set(evals) == ALL_CHECKS
    failed = {name for name, e in evals.items() if not e.passed}
    assert failed == {check}
    e = evals[check]
    listed = " ".join(str(v.value) for v in e.metadata.values())
    assert named in listed, (named, e.metadata)
    assert e.metadata["failing_rows"].value >= 1
    assert e.blocking is blocking
    done = materialized(result)
    assert "payments_snapshot" in done and "match_sessions" in done
    if blocking:
        assert "behavior_value" not in done  # the bad day is not published
        assert not result.success
    else:
        assert "behavior_value" in done and result.success

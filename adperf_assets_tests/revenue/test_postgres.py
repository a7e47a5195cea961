"""The same payments asset and checks against a real PostgreSQL server give what SQLite gives."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from datetime import datetime

import dagster as dg
import pandas as pd
import psycopg2
import pytest
from dagster._serdes import serialize_value
from pydantic import Field

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.revenue.assets import payments_snapshot
from adperf_assets.defs.resources import build_resources
from adperf_assets.defs.revenue.app_db import AppDatabase
from adperf_assets_tests.revenue import pg_server
from adperf_assets_tests.revenue.runs import PAYMENT_CHECKS, checks_by_name, materialize, table

pytestmark = pytest.mark.postgres

FIRST, LAST = "2025-06-20", "2025-07-20"


class FixedClockAppDatabase(AppDatabase):
    """A live database read as of a given instant, to line it up with the sample's clock."""

    as_of: str = Field(description="ISO instant, naive UTC")

    def snapshot_instant(self, window_end_utc: datetime) -> datetime:
        return datetime.fromisoformat(self.as_of)


def _all_event_text(instance, run_id: str) -> str:
    return "\n".join(serialize_value(e) for e in instance.all_logs(run_id))


def test_snapshot_from_postgres_equals_the_sqlite_run(fresh_home, tmp_path, postgres_app_db):
    # SQLite: the sample resource, snapshot 6 h after the window
    sqlite_res = build_resources(fresh_home)
    lite = materialize(sqlite_res, [fx_rates, payments_snapshot], FIRST, LAST)
    as_of = lite.asset_materializations_for_node("payments_snapshot")[0].metadata["snapshot_at_utc"].value
    expected = table(fresh_home, "payments_snapshot", "order by all")
    assert expected["refunds"].sum() > 0  # the window has refunds to net

    # PostgreSQL: the same rows loaded with timestamptz/numeric, server time zone not UTC, same instant
    pg_home = dataclasses.replace(fresh_home, home=tmp_path / "pg_home")
    pg_res = build_resources(pg_home)
    pg_res["app_db"] = FixedClockAppDatabase(url=postgres_app_db.url(), as_of=as_of)
    with dg.instance_for_test() as instance:
        result = materialize(pg_res, [fx_rates, payments_snapshot, *PAYMENT_CHECKS], FIRST, LAST, instance=instance)
        text = _all_event_text(instance, result.run_id)
    got = table(pg_home, "payments_snapshot", "order by all")
    pd.testing.assert_frame_equal(got, expected)
    assert all(e.passed for e in checks_by_name(result).values())
    source = result.asset_materializations_for_node("payments_snapshot")[0].metadata["source"].value
    assert source == f"postgresql+psycopg2://{pg_server.USER}:***@127.0.0.1:{postgres_app_db.port}/app"
    assert pg_server.PASSWORD not in text


def test_problem_queries_agree_between_postgres_and_sqlite(tmp_path, small_world, postgres_app_db):
    """The check queries (sign, orphan and mismatched refunds) find the same rows on both engines."""
    copy = tmp_path / "app.db"
    shutil.copy(small_world / "app.db", copy)
    pg_server.load_app_db(postgres_app_db, copy, database="app_bad")
    lite = sqlite3.connect(copy)
    pg = psycopg2.connect(**postgres_app_db.dsn("app_bad"))
    pid, user, store, cur_, amount = lite.execute(
        "SELECT id, user_id, store, currency, amount FROM payments WHERE kind = 'purchase' "
        "AND created_at >= '2025-07-14 15:00:00' ORDER BY id LIMIT 1").fetchone()
    top = lite.execute("SELECT max(id) FROM payments").fetchone()[0]
    statements = [
        ("UPDATE payments SET amount = -amount WHERE id = %s", (pid,)),
        ("INSERT INTO payments VALUES (%s, %s, 'refund', 987654321, %s, 'T-1', 'gems_small', %s, %s, %s)",
         (top + 1, user, store, -amount, cur_, "2025-07-15 03:00:00")),
        ("INSERT INTO payments VALUES (%s, %s, 'chargeback', %s, %s, 'T-2', 'gems_small', %s, 'XTS', %s)",
         (top + 2, user, pid, store, amount, "2025-07-15 04:00:00")),
    ]
    with pg, pg.cursor() as c:
        c.execute("SET TIME ZONE 'UTC'")
        for sql, args in statements:
            c.execute(sql, args)
    for sql, args in statements:
        lite.execute(sql.replace("%s", "?"), args)
    lite.commit()
    lite.close()
    pg.close()
    window = (datetime(2025, 7, 14, 15), datetime(2025, 7, 15, 15), datetime(2025, 8, 1))
    on_lite = AppDatabase(url=f"sqlite:///{copy}").payment_problems(*window)
    on_pg = AppDatabase(url=postgres_app_db.url("app_bad")).payment_problems(*window)
    assert set(on_lite) == set(on_pg)
    for name in on_lite:
        a, b = on_lite[name].reset_index(drop=True), on_pg[name].reset_index(drop=True)
        for df in (a, b):
            for c in df.columns:
                if c == "created_at":
                    df[c] = pd.to_datetime(df[c])
                elif c in ("currency", "purchase_currency"):
                    df[c] = df[c].str.strip()
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)
    assert on_pg["sign"]["id"].tolist() == [pid, top + 2]  # negative purchase, positive chargeback
    assert on_pg["orphan_reversals"]["id"].tolist() == [top + 1]
    assert on_pg["mismatched_reversals"]["id"].tolist() == [top + 2]
    assert on_pg["duplicate_ids"].empty


def test_a_wrong_password_fails_clearly_without_showing_it(fresh_home, postgres_app_db):
    wrong = "not-the-password-91c2"
    res = build_resources(fresh_home)
    res["app_db"] = AppDatabase(url=postgres_app_db.url(password=wrong), connect_timeout_s=5)
    with dg.instance_for_test() as instance:
        result = materialize(res, [fx_rates, payments_snapshot], "2025-07-15", instance=instance, raise_on_error=False)
        text = _all_event_text(instance, result.run_id)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.to_string()
    assert "password authentication failed" in message and "***" in message
    for secret in (wrong, pg_server.PASSWORD):
        assert secret not in text and secret not in message


def test_missing_server_binaries_skip_locally_but_fail_in_ci():
    from adperf_assets_tests.revenue.conftest import require_postgres_binaries

    missing = lambda: None  # noqa: E731
    with pytest.raises(pytest.skip.Exception, match="install Debian's 'postgresql'"):
        require_postgres_binaries(missing, {})
    with pytest.raises(pytest.fail.Exception, match="CI=true but PostgreSQL server binaries not found"):
        require_postgres_binaries(missing, {"CI": "true"})

"""The per-user BTYD checks read their rows with SQL: they must still find the rows they exist to find."""

from types import SimpleNamespace

import dagster as dg
import duckdb
import pandas as pd

from adperf_assets.defs.ltv.btyd_checks import user_ltv_has_a_fit, user_ltv_is_ordered, user_rfm_is_a_valid_summary
from adperf_assets.defs.common.table_store import TableStore
from adperf_assets.defs.resources import DUCKDB_SCHEMA


def _run(check, path, first: str, last: str) -> dg.AssetCheckResult:
    window = SimpleNamespace(start=pd.Timestamp(first), end=pd.Timestamp(last) + pd.Timedelta(days=1))
    fn = check.node_def.compute_fn.decorated_fn
    return fn(SimpleNamespace(partition_time_window=window), TableStore(store="duckdb", duckdb_path=str(path)))


def _db(tmp_path, table: str, frame: pd.DataFrame):
    path = tmp_path / "t.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"create schema if not exists {DUCKDB_SCHEMA}")
    con.register("f", frame)
    con.execute(f"create table {DUCKDB_SCHEMA}.{table} as select * from f")
    con.close()
    return path


def test_user_rfm_check_finds_duplicates_and_broken_convention_only_in_its_days(tmp_path):
    d1, d2 = pd.Timestamp("2026-05-01"), pd.Timestamp("2026-05-02")
    rfm = pd.DataFrame({
        "report_date": [d1, d1, d1, d2, d2],
        "user_id": [1, 1, 2, 3, 4],
        "install_date": [d1] * 5,
        "frequency": [1, 1, 0, 0, 2],
        "recency": [3.0, 3.0, 2.0, 0.0, 5.0],  # user 2: recency without repeat purchase; user 4: recency > T
        "T": [5.0, 5.0, 5.0, 5.0, 4.0],
        "monetary_value_usd": [1.0, 1.0, 0.0, 0.0, 2.0],
        "revenue_usd": [0.0] * 5,
    })
    path = _db(tmp_path, "user_rfm", rfm)
    res = _run(user_rfm_is_a_valid_summary, path, "2026-05-01", "2026-05-02")
    assert not res.passed
    assert res.metadata["rows_checked"].value == 5
    assert res.metadata["duplicated_rows"].value == 2
    assert res.metadata["invalid_rows"].value == 2
    ok = _run(user_rfm_is_a_valid_summary, path, "2026-05-03", "2026-05-03")
    assert ok.passed and ok.metadata["rows_checked"].value == 0


def test_user_ltv_checks_skip_unfitted_users_and_count_missing_fits(tmp_path):
    d = pd.Timestamp("2026-05-01")
    ltv = pd.DataFrame({"report_date": [d] * 3, "user_id": [1, 2, 3], "model": ["pooled", "none", "pooled"]})
    for h, v in zip((30, 90, 180, 365), (1.0, 2.0, 3.0, 4.0)):
        ltv[f"expected_{h}d_usd"] = [v, float("nan"), v]
        ltv[f"ltv_{h}d_usd"] = [v, float("nan"), v]
    ltv.loc[2, "ltv_90d_usd"] = 0.5  # user 3: 90-day LTV below 30-day and below its expected part
    path = _db(tmp_path, "user_ltv", ltv)
    ordered = _run(user_ltv_is_ordered, path, "2026-05-01", "2026-05-01")
    assert not ordered.passed
    assert ordered.metadata["users_checked"].value == 2  # the unfitted user's NaN is not a failure
    assert ordered.metadata["unordered"].value == 1 and ordered.metadata["not_finite"].value == 0
    fit = _run(user_ltv_has_a_fit, path, "2026-05-01", "2026-05-01")
    assert not fit.passed and fit.metadata["users_without_fit"].value == 1

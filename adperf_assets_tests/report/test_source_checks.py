"""The gap-filling source checks pass on the small world's tables and name the rows they fail on.

(They also run, and must pass, in the session's source backfill: see ``conftest.report_sources``.)
"""

import duckdb
import pytest

from adperf_assets.defs.attribution.checks import user_segments_cover_installs
from adperf_assets.defs.revenue.checks import behavior_value_credit_equals_revenue, match_sessions_well_formed
from adperf_assets.defs.spend.checks import facebook_spend_rows_unique, google_ads_spend_rows_unique
from adperf_assets.defs.resources import DUCKDB_SCHEMA
from adperf_assets_tests.report import runs
from adperf_assets_tests.report.conftest import REPORT_DAYS

DAY = REPORT_DAYS[-1]


def evaluate(settings) -> dict:
    """Each check called directly on the stored day's rows."""
    day = lambda table, col="report_date": runs.table(settings, table, f"where {col} = '{DAY}'")  # noqa: E731
    return {
        "behavior_value_credit_equals_revenue": behavior_value_credit_equals_revenue(day("behavior_value")),
        "match_sessions_well_formed": match_sessions_well_formed(day("match_sessions")),
        "user_segments_cover_installs": user_segments_cover_installs(
            user_segments=day("user_segments", "install_date"), installs=day("installs", "install_date")),
        "facebook_spend_rows_unique": facebook_spend_rows_unique(day("facebook_spend")),
        "google_ads_spend_rows_unique": google_ads_spend_rows_unique(day("google_ads_spend")),
    }


def sql(settings, statement: str) -> None:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.execute(statement)
    finally:
        con.close()


def test_source_checks_pass_on_the_stored_day(report_home):
    results = evaluate(report_home)
    assert all(r.passed for r in results.values()), {k: r.metadata for k, r in results.items() if not r.passed}


@pytest.mark.parametrize("check,statement,needle", [
    ("behavior_value_credit_equals_revenue",
     f"update {DUCKDB_SCHEMA}.behavior_value set credited_usd = credited_usd + 5 where user_id = "
     f"(select min(user_id) from {DUCKDB_SCHEMA}.behavior_value where report_date = '{DAY}') and report_date = '{DAY}'",
     "credit != revenue"),
    ("match_sessions_well_formed",
     f"insert into {DUCKDB_SCHEMA}.match_sessions select * from {DUCKDB_SCHEMA}.match_sessions "
     f"where report_date = '{DAY}' limit 1", "duplicate session_id"),
    ("match_sessions_well_formed",
     f"update {DUCKDB_SCHEMA}.match_sessions set duration_s = duration_s + 60 where session_id = "
     f"(select min(session_id) from {DUCKDB_SCHEMA}.match_sessions where report_date = '{DAY}')",
     "duration_s != ended_at - started_at"),
    ("user_segments_cover_installs",
     f"delete from {DUCKDB_SCHEMA}.user_segments where user_id = (select min(user_id) from "
     f"{DUCKDB_SCHEMA}.user_segments where install_date = '{DAY}')", "installed user without segment"),
    ("facebook_spend_rows_unique",
     f"insert into {DUCKDB_SCHEMA}.facebook_spend select * from {DUCKDB_SCHEMA}.facebook_spend "
     f"where report_date = '{DAY}' limit 1", "duplicate day/account/ad"),
    ("google_ads_spend_rows_unique",
     f"update {DUCKDB_SCHEMA}.google_ads_spend set cost_local = -1 where ad_id = (select min(ad_id) from "
     f"{DUCKDB_SCHEMA}.google_ads_spend where report_date = '{DAY}') and report_date = '{DAY}'", "negative cost"),
])
def test_a_broken_row_fails_its_check_and_is_named(report_home, check, statement, needle):
    sql(report_home, statement)
    result = evaluate(report_home)[check]
    assert not result.passed and result.metadata["failing_rows"].value >= 1
    assert needle in result.metadata["rows"].value

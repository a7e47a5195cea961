"""Checks on ``ad_spend`` (and on ``raw/fx_rates`` for the currencies the ad accounts use).

More: docs/dagster_layer.md."""

import dagster as dg
import pandas as pd
from pandas.api import types as ptypes

from adperf_assets.defs.fx.assets import fx_rates
from adperf_assets.defs.spend.assets import ad_spend
from adperf_assets.normalize.spend import unified_columns
from adperf_assets.partitions import daily_partitions
from adperf_assets.defs.spend.network import Network
from adperf_assets.defs.spend.registry import NETWORKS
from adperf_assets.defs.common.money import CANONICAL_CURRENCY
from adperf_assets.defs.spend.schemas import COST_COLUMN
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.metadata import MAX_LISTED, rows_check_result, table_md
from adperf_assets.defs.spend.assets import network_spend_assets

KEY = ["report_date", "network", "account_id", "ad_id"]
FX_IN = {"fx_rates": dg.AssetIn(key=["raw", "fx_rates"])}
STRING_COLUMNS = ["network", "account_id", "account_name", "account_timezone", "account_currency", "objective",
                  "campaign_id", "campaign_name", "ad_group_id", "ad_group_name", "ad_id", "ad_name"]


def _failing(rows: pd.DataFrame, columns: list[str]) -> dict:
    return {
        "failing_rows": len(rows),
        "failing_ad_ids": ", ".join(rows["ad_id"].astype(str).head(MAX_LISTED)) or "none",
        "rows": table_md(rows[[c for c in columns if c in rows.columns]]),
    }


def _known_currencies(fx: pd.DataFrame) -> set[str]:
    return set(fx["currency"].astype(str)) | {"EUR"}


# -- ad_spend ----------------------------------------------------------------------------
def _kind_ok(series: pd.Series, kind: str) -> bool:
    if kind == "date":
        return ptypes.is_datetime64_dtype(series)
    if kind == "int":
        return ptypes.is_integer_dtype(series)
    if kind == "float":
        return ptypes.is_float_dtype(series)
    return (ptypes.is_object_dtype(series) or ptypes.is_string_dtype(series)) and bool(
        series.map(lambda v: isinstance(v, str)).all())


def expected_kinds(report_currency: str) -> dict[str, str]:
    kinds = {c: "str" for c in STRING_COLUMNS}
    kinds.update(report_date="date", impressions="int", clicks="int", installs="float", cost_local="float")
    kinds[unified_columns(report_currency)[-1]] = "float"
    return {c: kinds[c] for c in unified_columns(report_currency)}


def ad_spend_schema(ad_spend: pd.DataFrame, report_currency: str) -> dg.AssetCheckResult:
    want = expected_kinds(report_currency)
    problems = []
    if list(ad_spend.columns) != list(want):
        missing = [c for c in want if c not in ad_spend.columns]
        extra = [c for c in ad_spend.columns if c not in want]
        problems.append(f"columns differ (missing {missing}, unexpected {extra}, or out of order)")
    for col, kind in want.items():
        if col in ad_spend.columns and not _kind_ok(ad_spend[col], kind):
            problems.append(f"{col}: dtype {ad_spend[col].dtype} is not {kind}")
    return dg.AssetCheckResult(
        check_name="ad_spend_schema", passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or None,
        metadata={"columns": dg.MetadataValue.md(pd.DataFrame({
            "column": list(ad_spend.columns), "dtype": [str(t) for t in ad_spend.dtypes],
            "expected": [want.get(c, "-") for c in ad_spend.columns]}).to_markdown(index=False)),
            "problems": "; ".join(problems) or "none"})


def ad_spend_no_negative_values(ad_spend: pd.DataFrame, cost_col: str) -> dg.AssetCheckResult:
    values = ["cost_local", cost_col, "impressions", "clicks", "installs"]
    bad = ad_spend[(ad_spend[values] < 0).any(axis=1)]
    return dg.AssetCheckResult(
        check_name="ad_spend_no_negative_values", passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if bad.empty else f"{len(bad)} row(s) with a negative value",
        metadata=_failing(bad, [*KEY, *values]))


def ad_spend_currency_known(ad_spend: pd.DataFrame, fx_rates: pd.DataFrame) -> dg.AssetCheckResult:
    known = _known_currencies(fx_rates)
    bad = ad_spend[~ad_spend["account_currency"].isin(known)]
    unknown = sorted(bad["account_currency"].astype(str).unique())
    accounts = bad[["network", "account_id", "account_currency"]].drop_duplicates()
    return dg.AssetCheckResult(
        check_name="ad_spend_currency_known", passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if bad.empty else (
            f"currency {', '.join(unknown)} is not published by the FX source: accounts "
            + ", ".join(f"{r.network} {r.account_id}" for r in accounts.itertuples()) + " cannot be converted"),
        metadata={"unknown_currencies": ", ".join(unknown) or "none",
                  "known_currencies": len(known), **_failing(bad, [*KEY, "account_currency"])})


def ad_spend_fx_present(ad_spend: pd.DataFrame, report_currency: str) -> dg.AssetCheckResult:
    cost_col = COST_COLUMN
    bad = ad_spend[ad_spend[cost_col].isna()]
    missing = (bad.groupby(["account_currency"], sort=True)["report_date"]
               .agg(lambda d: ", ".join(sorted(d.dt.strftime("%Y-%m-%d").unique()))))
    text = "; ".join(f"{cur} -> {report_currency} on {days}" for cur, days in missing.items())
    return dg.AssetCheckResult(
        check_name="ad_spend_fx_present", passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if bad.empty else f"no FX rate for {text}",
        metadata={"currencies_without_rate": ", ".join(missing.index) or "none", "missing": text or "none",
                  **_failing(bad, [*KEY, "account_currency", "cost_local", cost_col])})


def ad_spend_unique_ads(ad_spend: pd.DataFrame) -> dg.AssetCheckResult:
    dup = ad_spend[ad_spend.duplicated(["network", "ad_id", "report_date"], keep=False)]
    dup = dup.sort_values(["report_date", "network", "ad_id"])
    return dg.AssetCheckResult(
        check_name="ad_spend_unique_ads", passed=dup.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if dup.empty else f"{dup[['network', 'ad_id', 'report_date']].drop_duplicates().shape[0]}"
                                           " (network, ad_id, report_date) key(s) on more than one row",
        metadata=_failing(dup, [*KEY, "account_name", "ad_name", "cost_local"]))


def ad_spend_installs_within_clicks(ad_spend: pd.DataFrame) -> dg.AssetCheckResult:
    bad = ad_spend[ad_spend["installs"] > ad_spend["clicks"]]
    return dg.AssetCheckResult(
        check_name="ad_spend_installs_within_clicks", passed=bad.empty, severity=dg.AssetCheckSeverity.WARN,
        description=None if bad.empty else f"{len(bad)} ad-day(s) with installs > clicks",
        metadata=_failing(bad, [*KEY, "clicks", "installs"]))

#: (name, blocking, description) of every ad_spend check, in the order they run.
AD_SPEND_CHECKS = [
    ("ad_spend_schema", True, "The contract's columns in order, with their types (ids and names are strings)."),
    ("ad_spend_no_negative_values", True, "No negative cost, impressions, clicks or installs."),
    ("ad_spend_currency_known", True, "Every account currency is one the FX source publishes (or EUR)."),
    ("ad_spend_fx_present", True, "Cost in the report currency is present (an FX rate existed for each day and currency)."),
    ("ad_spend_unique_ads", True, "One row per (network, ad_id, report_date)."),
    ("ad_spend_installs_within_clicks", False, "Warn when an ad reports more installs than clicks (view-through "
                                               "installs, or a wrong mapping of the install action)."),
]


@dg.multi_asset_check(
    name="ad_spend_checks",
    specs=[dg.AssetCheckSpec(name, asset=ad_spend, blocking=blocking, description=text, partitions_def=daily_partitions,
                             additional_deps=[fx_rates.key] if name == "ad_spend_currency_known" else None)
           for name, blocking, text in AD_SPEND_CHECKS],
    ins={"ad_spend": dg.AssetIn(key=ad_spend.key), **FX_IN},
)
def ad_spend_checks(ad_spend: pd.DataFrame, fx_rates: pd.DataFrame):
    """All ad_spend checks on one load of the run's days (one step instead of six)."""
    # ad_spend as loaded: money columns as the math names them (defs/common/money.py)
    yield ad_spend_schema(ad_spend, CANONICAL_CURRENCY)
    yield ad_spend_no_negative_values(ad_spend, COST_COLUMN)
    yield ad_spend_currency_known(ad_spend, fx_rates)
    yield ad_spend_fx_present(ad_spend, current_settings().report_currency)
    yield ad_spend_unique_ads(ad_spend)
    yield ad_spend_installs_within_clicks(ad_spend)


# -- fx_rates ----------------------------------------------------------------------------
def fx_coverage_check(networks: tuple[Network, ...]) -> dg.AssetChecksDefinition:
    """``fx_rates_cover_ad_accounts`` over the accounts of the given networks."""

    @dg.asset_check(asset=fx_rates, partitions_def=daily_partitions, name="fx_rates_cover_ad_accounts",
                    required_resource_keys={n.resource_key for n in networks},
                    description="Every currency an ad account is billed in (and the report currency) has a rate each day.")
    def _check(context: dg.AssetCheckExecutionContext, fx_rates: pd.DataFrame) -> dg.AssetCheckResult:
        accounts = [(n.name, a) for n in networks for a in getattr(context.resources, n.resource_key).accounts()]
        return fx_rates_cover(fx_rates, accounts)

    return _check


def fx_rates_cover(fx_rates: pd.DataFrame, accounts: list[tuple[str, dict]]) -> dg.AssetCheckResult:
    report_currency = current_settings().report_currency
    needed = {str(a["currency"]).upper() for _, a in accounts} | {report_currency}
    days = sorted(pd.to_datetime(fx_rates["report_date"]).unique())
    have = set(zip(pd.to_datetime(fx_rates["report_date"]), fx_rates["currency"].astype(str)))
    missing = pd.DataFrame([(d, c) for d in days for c in sorted(needed) if c != "EUR" and (d, c) not in have],
                           columns=["report_date", "currency"])
    if not days:  # no rates at all for the window
        missing = pd.DataFrame({"report_date": pd.NaT, "currency": sorted(needed - {"EUR"})})
    users = {c: [f"{net} {a['account_id']}" for net, a in accounts if str(a["currency"]).upper() == c]
             for c in sorted(set(missing["currency"]))}
    return dg.AssetCheckResult(
        passed=missing.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=None if missing.empty else "no rate for " + "; ".join(
            f"{c} (accounts {', '.join(u) or 'report currency'})" for c, u in users.items()),
        metadata={"currencies_needed": ", ".join(sorted(needed)), "days": len(days),
                  "missing": table_md(missing)})


def _unique_spend_rows(frame: pd.DataFrame) -> dg.AssetCheckResult:
    cost_col = COST_COLUMN
    key = ["report_date", "account_id", "ad_id"]
    dup = frame[frame.duplicated(key, keep=False)].assign(problem="duplicate day/account/ad")
    neg = frame[(frame[["cost_local", cost_col]] < 0).any(axis=1)].assign(problem="negative cost")
    bad = pd.concat([dup, neg], ignore_index=True)
    cols = [c for c in [*key, "network", "cost_local", cost_col, "problem"] if c in bad.columns]
    return rows_check_result(bad[cols], "row(s) duplicated or with negative cost")


def rows_unique_check(network: Network, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """``<network>_spend_rows_unique`` on the network's raw table."""

    @dg.asset_check(asset=asset, partitions_def=daily_partitions, blocking=True, name=f"{network.asset_name}_rows_unique",
                    description="One row per report day, account and ad; no negative cost.")
    def _check(table: pd.DataFrame) -> dg.AssetCheckResult:
        return _unique_spend_rows(table)

    return _check


fx_rates_cover_ad_accounts = fx_coverage_check(NETWORKS)
network_rows_unique_checks = [rows_unique_check(n, a) for n, a in zip(NETWORKS, network_spend_assets)]
_by_name = {next(iter(c.check_keys)).name: c for c in network_rows_unique_checks}
#: the names these two checks had when they were functions (imported elsewhere)
facebook_spend_rows_unique = _by_name["facebook_spend_rows_unique"]
google_ads_spend_rows_unique = _by_name["google_ads_spend_rows_unique"]

"""Spend: hourly ad rows from each network, re-bucketed into report days, in one table.

More: docs/dagster_layer.md."""

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import dagster as dg
import pandas as pd

from adperf_assets.normalize.spend import unified_columns, unify_daily, unify_hourly
from adperf_assets.normalize.timezones import account_day_range_for_report_days
from adperf_assets.partitions import window_days
from adperf_assets.defs.spend.network import Network, SpendSource
from adperf_assets.defs.spend.registry import NETWORKS
from adperf_assets.defs.common.throttle import AdsPull, AdsPullError
from adperf_assets.defs.common.money import CANONICAL_CURRENCY, stored_name, to_canonical
from adperf_assets.defs.spend.schemas import COST_COLUMN, AdSpendFrame, NetworkSpendFrame
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.metadata import table_md
from adperf_assets.defs.common.tables import daily_table

FX_IN = {"fx_rates": dg.AssetIn(key=["raw", "fx_rates"])}
SORT_KEYS = ["report_date", "network", "account_id", "campaign_id", "ad_group_id", "ad_id"]


@dataclass
class NetworkPull:
    """Every account's complete pull for a window, with the figures the metadata reports."""

    accounts: list[dict]
    rows: list[dict] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def retries_made(self) -> int:
        return sum(p["retries"] for p in self.log)

    @property
    def requests_made(self) -> int:
        return sum(p["requests"] for p in self.log)

    @property
    def throttle_wait_s(self) -> float:
        return sum(p["throttle_wait_s"] for p in self.log)


def pull_accounts(
    context: dg.AssetExecutionContext,
    network: str,
    accounts: list[dict],
    pull: Callable[[str, date, date], AdsPull],
    report_tz: str,
    days: list[pd.Timestamp],
) -> NetworkPull:
    """Pull the local days covering ``days`` for every account (an account without a time zone: the
    report days themselves); any failure fails the run."""
    out = NetworkPull(accounts=accounts)
    first, last = days[0].date(), days[-1].date()
    for acc in accounts:
        since, until = (first, last) if acc["timezone_name"] is None else \
            account_day_range_for_report_days(first, last, report_tz, acc["timezone_name"])
        t0 = time.perf_counter()
        try:
            result = pull(acc["account_id"], since, until)
        except AdsPullError as exc:
            raise dg.Failure(
                description=f"{exc} — nothing of report days {first}..{last} was written",
                metadata={"network": network, "account_id": acc["account_id"], "local_days": f"{since}..{until}",
                          "attempts": exc.attempts, "error": exc.error},
            ) from exc
        seconds = time.perf_counter() - t0
        out.rows.extend(result.rows)
        out.notes.extend(result.notes)
        out.log.append({"account_id": acc["account_id"], "account_name": acc["name"], "currency": acc["currency"],
                        "timezone": acc["timezone_name"], "local_days": f"{since}..{until}", "rows": len(result.rows),
                        "requests": result.requests_made, "retries": result.retries_made,
                        "throttle_wait_s": round(result.throttle_wait_s, 1), "seconds": round(seconds, 2)})
        context.log.info(f"{network} account {acc['account_id']} ({acc['timezone_name']}): local days {since}..{until},"
                         f" {len(result.rows)} hourly rows, {result.requests_made} request(s),"
                         f" {result.retries_made} retr{'y' if result.retries_made == 1 else 'ies'}, {seconds:.2f} s")
    return out


def fx_history(fx_rates: pd.DataFrame) -> pd.DataFrame:
    """``raw/fx_rates`` as the ECB-style history the conversion reads: each report day's valid rate
    stands on that day, so the conversion uses exactly the stored rate of the day."""
    hist = fx_rates[["report_date", "currency", "eur_rate"]].rename(columns={"report_date": "rate_date"})
    hist["rate_date"] = pd.to_datetime(hist["rate_date"]).astype("datetime64[ns]")
    return hist.dropna().drop_duplicates(["rate_date", "currency"]).reset_index(drop=True)


def carried_forward(table: pd.DataFrame, fx_rates: pd.DataFrame) -> list[str]:
    """'<day> <currencies> at the <rate day> rate' for every report day whose rate was carried forward."""
    if table.empty:
        return []
    used = table[["report_date", "account_currency"]].drop_duplicates()
    used = used.assign(report_date=pd.to_datetime(used["report_date"]).astype("datetime64[ns]"))
    fx = fx_rates.assign(report_date=pd.to_datetime(fx_rates["report_date"]).astype("datetime64[ns]"),
                         rate_date=pd.to_datetime(fx_rates["rate_date"]))
    m = used.merge(fx, left_on=["report_date", "account_currency"], right_on=["report_date", "currency"])
    m = m[m["is_carried_forward"]]
    out = []
    for (day, rate_day), g in m.groupby(["report_date", "rate_date"], sort=True):
        out.append(f"{day.date()} {','.join(sorted(g['currency']))} at the {rate_day.date()} rate")
    return out


def _per_group_costs(table: pd.DataFrame, by: str, cost_col: str) -> dict:
    if table.empty:
        return {}
    g = table.groupby(by, sort=True).agg(rows=("ad_id", "size"), cost_local=("cost_local", "sum"),
                                         cost=(cost_col, "sum"))
    return {str(k): {"rows": int(r.rows), "cost_local": round(float(r.cost_local), 2), stored_name(cost_col): round(float(r.cost), 2)}
            for k, r in g.iterrows()}


def network_table(network: Network, rows: list[dict], accounts: list[dict], fx_rates: pd.DataFrame,
                  days: list[pd.Timestamp]) -> pd.DataFrame:
    """A network's pulled rows as its ``raw/<network>_spend`` table (the run's report days only)."""
    s = current_settings()
    frame = network.to_frame(rows, accounts)
    options = dict(fx=fx_history(fx_rates), report_currency=s.report_currency,
                   report_dates=[d.date() for d in days], missing_fx="nan")
    if network.granularity == "daily":
        result = unify_daily(frame, **options)
    else:
        result = unify_hourly(frame, report_tz=s.report_timezone, **options)
    return to_canonical(result.table)


def pull_network(context: dg.AssetExecutionContext, network: Network, source: SpendSource,
                 days: list[pd.Timestamp]) -> NetworkPull:
    """Every account's rows (hourly networks: the account-local days covering ``days``; daily ones:
    one pull of the report days for all accounts)."""
    accounts = source.accounts() if network.granularity == "hourly" else [
        {"account_id": None, "name": f"every {network.label} account", "currency": None, "timezone_name": None}]
    return pull_accounts(context, network.name, accounts, source.pull_rows, current_settings().report_timezone, days)


def network_spend(
    context: dg.AssetExecutionContext,
    network: Network,
    source: SpendSource,
    fx_rates: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    s = current_settings()
    days = window_days(context)
    pulled = pull_network(context, network, source, days)
    table = network_table(network, pulled.rows, pulled.accounts, fx_rates, days)
    cost_col = COST_COLUMN
    net = network.name
    no_rate = table[table[cost_col].isna()][["report_date", "account_currency"]].drop_duplicates()
    if len(no_rate):
        context.log.warning(f"{net}: no FX rate for {sorted(set(no_rate['account_currency']))} on some days;"
                            f" {cost_col} is NaN there (the ad_spend FX check blocks publishing)")
    carried = carried_forward(table, fx_rates)
    label = f"{days[0].date()}..{days[-1].date()}" if len(days) > 1 else str(days[0].date())
    context.log.info(f"{net} {label}: {len(table)} rows from {len(pulled.rows)} hourly rows,"
                     f" {table[cost_col].sum():.2f} {s.report_currency}")
    return dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "report_days": label,
        "accounts_pulled": len(pulled.accounts) if network.granularity == "hourly" else table["account_id"].nunique(),
        "pulls": table_md(pd.DataFrame(pulled.log), 50),
        "hourly_rows": len(pulled.rows),
        "requests_made": pulled.requests_made,
        "retries_made": pulled.retries_made,
        "throttle_wait_s": round(pulled.throttle_wait_s, 1),
        f"total_{stored_name(cost_col)}": round(float(table[cost_col].sum()), 2),
        "cost_per_account": dg.MetadataValue.json(_per_group_costs(table, "account_id", cost_col)),
        "fx_carried_forward": "; ".join(carried) or "none",
        **({"notes": "; ".join(pulled.notes)} if pulled.notes else {}),
        "fx_missing": ", ".join(sorted(set(no_rate["account_currency"]))) or "none",
        "preview": table_md(table),
    })


def network_spend_asset(network: Network) -> dg.AssetsDefinition:
    """``raw/<network>_spend``: the network's rows of the run's report days, through its resource."""

    @daily_table(group_name="spend", dagster_type=NetworkSpendFrame, key_prefix=["raw"], ins=FX_IN,
                 name=network.asset_name, description=network.description,
                 required_resource_keys={network.resource_key})
    def _spend(context: dg.AssetExecutionContext, fx_rates: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        return network_spend(context, network, getattr(context.resources, network.resource_key), fx_rates)

    return _spend


def _this_run_pull_stats(context: dg.AssetExecutionContext, key: dg.AssetKey) -> dict | None:
    """The upstream pull's figures if it was materialized in this same run."""
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.run_id != context.run.run_id or event.asset_materialization is None:
        return None
    md = event.asset_materialization.metadata
    return {k: md[k].value for k in ("accounts_pulled", "requests_made", "retries_made", "throttle_wait_s") if k in md}


def _normalized(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A stored network table as loaded (any timestamp unit; empty without columns if never written)."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return frame[columns]


def ad_spend_asset(networks: tuple[Network, ...]) -> dg.AssetsDefinition:
    """``ad_spend`` over the given networks' raw tables."""

    @daily_table(group_name="spend", dagster_type=AdSpendFrame, name="ad_spend", description=AD_SPEND_DOC,
                 ins={**{n.asset_name: dg.AssetIn(key=n.asset_key) for n in networks}, **FX_IN})
    def _ad_spend(context: dg.AssetExecutionContext, fx_rates: pd.DataFrame,
                  **network_tables: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        return unified_ad_spend(context, networks, [network_tables[n.asset_name] for n in networks], fx_rates)

    return _ad_spend


AD_SPEND_DOC = """Cost and delivery per report day and ad from every network, in one table: network, account
(time zone, currency), objective, campaign, ad group, ad, impressions, clicks, installs,
``cost_local`` and the cost in the reporting currency."""


def unified_ad_spend(context: dg.AssetExecutionContext, networks: tuple[Network, ...], tables: list[pd.DataFrame],
                     fx_rates: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    cost_col = COST_COLUMN
    columns = unified_columns(CANONICAL_CURRENCY)
    days = window_days(context)
    parts = [_normalized(f, columns) for f in tables]
    table = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    table = table.astype({"report_date": "datetime64[ns]", "impressions": "int64", "clicks": "int64",
                          "installs": "float64", "cost_local": "float64", cost_col: "float64"})
    table = table.sort_values(SORT_KEYS, kind="stable").reset_index(drop=True)
    outside = ~table["report_date"].isin(pd.DatetimeIndex(days))
    if outside.any():
        raise ValueError(f"upstream spend rows for report days outside the run's window: "
                         f"{sorted(table.loc[outside, 'report_date'].dt.date.astype(str).unique())[:5]}")

    per_network = {net: g for net, g in table.groupby("network", sort=True)}
    pulls = {n.name: _this_run_pull_stats(context, n.asset_key) for n in networks}
    retries = sum((p or {}).get("retries_made", 0) for p in pulls.values())
    carried = carried_forward(table, fx_rates)
    label = f"{days[0].date()}..{days[-1].date()}" if len(days) > 1 else str(days[0].date())
    return dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "report_days": label,
        f"total_{stored_name(cost_col)}": round(float(table[cost_col].sum()), 2),
        "cost_per_network": dg.MetadataValue.json(_per_group_costs(table, "network", cost_col)),
        "accounts": dg.MetadataValue.json({n: sorted(g["account_id"].unique().tolist()) for n, g in per_network.items()}),
        "rows_per_day": round(len(table) / len(days), 1),
        "retries_made": retries,
        "pulls_this_run": dg.MetadataValue.json({n: p if p is not None else "not pulled in this run"
                                                 for n, p in pulls.items()}),
        "fx_carried_forward": "; ".join(carried) or "none",
        "preview": table_md(table),
    })


#: one ``raw/<network>_spend`` per registered network, and ``ad_spend`` over all of them
network_spend_assets = [network_spend_asset(n) for n in NETWORKS]
ad_spend = ad_spend_asset(NETWORKS)
_by_name = {a.key.path[-1]: a for a in network_spend_assets}
#: the names these two assets had when they were functions (imported elsewhere)
facebook_spend, google_ads_spend = _by_name["facebook_spend"], _by_name["google_ads_spend"]

"""Daily FX rates from the ECB reference file (real download or the sample world's copy)."""

import dagster as dg
import pandas as pd

from adperf_assets.normalize.fx import conversion_rates
from adperf_assets.partitions import daily_partitions
from adperf_assets.resources.fx import FxRatesSource
from adperf_assets.schemas.fx import FxRatesFrame
from adperf_assets.settings import load_settings


@dg.asset(
    key_prefix=["raw"],
    group_name="spend",
    partitions_def=daily_partitions,
    dagster_type=FxRatesFrame,
    metadata={"partition_expr": "report_date"},
    kinds={"pandas", "duckdb"},
    owners=["team:marketing-data"],
)
def fx_rates(context: dg.AssetExecutionContext, fx: FxRatesSource) -> dg.Output[pd.DataFrame]:
    """Rate of every published currency valid on the report day: that day's ECB rate, or the last
    one published before it (weekends, TARGET holidays), flagged ``is_carried_forward``."""
    report_currency = load_settings().report_currency
    day = pd.Timestamp(context.partition_key)
    history = fx.history()
    currencies = sorted(set(history["currency"]) | {"EUR"})
    days = [day] * len(currencies)
    to_report = conversion_rates(days, currencies, history, report_currency, on_missing="nan")
    to_eur = conversion_rates(days, currencies, history, "EUR", on_missing="nan")
    out = pd.DataFrame({
        "report_date": day,
        "currency": currencies,
        "eur_rate": 1.0 / to_eur["rate"].to_numpy(),
        "rate_to_report": to_report["rate"].to_numpy(),
        "rate_date": to_report["rate_date"].to_numpy(),
        "is_carried_forward": to_report["is_carried_forward"].to_numpy(),
    })
    # currencies the ECB no longer publishes (N/A for years) are not rates of this day
    dropped = sorted(out.loc[out["rate_to_report"].isna(), "currency"])
    out = out.dropna(subset=["rate_to_report", "eur_rate"]).reset_index(drop=True)
    out["report_date"] = pd.to_datetime(out["report_date"])
    carried = out[out["is_carried_forward"]]
    rate_date = out["rate_date"].max()
    note = (f"no ECB rates published on {day.date()}; using {rate_date.date()}" if len(carried) == len(out)
            else f"published on {day.date()}")
    context.log.info(f"fx_rates {day.date()}: {len(out)} currencies, {note}")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "report_currency": report_currency,
        "rate_date": str(rate_date.date()),
        "carried_forward": note,
        "not_published": ", ".join(dropped) or "none",
        "preview": dg.MetadataValue.md(out.head(12).to_markdown(index=False)),
    })

"""Daily FX rates from the ECB reference file (real download or the sample world's copy)."""

import dagster as dg
import pandas as pd

from adperf_assets.normalize.fx import conversion_rates
from adperf_assets.partitions import window_days
from adperf_assets.defs.fx.resources import FxRatesSource
from adperf_assets.defs.fx.schemas import FxRatesFrame
from adperf_assets.settings import current_settings
from adperf_assets.defs.common.tables import daily_table


@daily_table(
    group_name="spend",
    dagster_type=FxRatesFrame,
    key_prefix=["raw"],
)
def fx_rates(context: dg.AssetExecutionContext, fx: FxRatesSource) -> dg.Output[pd.DataFrame]:
    """Rate of every published currency valid on the report day: that day's ECB rate, or the last
    one published before it (weekends, TARGET holidays), flagged ``is_carried_forward``."""
    report_currency = current_settings().report_currency
    days = window_days(context)
    history = fx.history()
    currencies = sorted(set(history["currency"]) | {"EUR"})
    pairs = pd.MultiIndex.from_product([days, currencies], names=["report_date", "currency"]).to_frame(index=False)
    to_report = conversion_rates(pairs["report_date"], pairs["currency"], history, report_currency, on_missing="nan")
    to_eur = conversion_rates(pairs["report_date"], pairs["currency"], history, "EUR", on_missing="nan")
    out = pairs.assign(
        eur_rate=1.0 / to_eur["rate"].to_numpy(),
        rate_to_report=to_report["rate"].to_numpy(),
        rate_date=to_report["rate_date"].to_numpy(),
        is_carried_forward=to_report["is_carried_forward"].to_numpy(),
    )
    # currencies the ECB no longer publishes (N/A for years) have no rate of these days
    dropped = sorted(set(out.loc[out["rate_to_report"].isna(), "currency"]))
    out = out.dropna(subset=["rate_to_report", "eur_rate"]).reset_index(drop=True)
    per_day = out.groupby("report_date").agg(rate_date=("rate_date", "max"), carried=("is_carried_forward", "all"))
    carried = [f"{d.date()} uses {r.rate_date.date()}" for d, r in per_day.iterrows() if r.carried]
    context.log.info(f"fx_rates {days[0].date()}..{days[-1].date()}: {len(out)} rows, "
                     f"{out['currency'].nunique()} currencies; carried forward: {', '.join(carried) or 'none'}")
    return dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "report_currency": report_currency,
        "days": len(days),
        "carried_forward": ", ".join(carried) or "none (every day has its own ECB rate)",
        "not_published": ", ".join(dropped) or "none",
        "preview": dg.MetadataValue.md(out.head(12).to_markdown(index=False)),
    })

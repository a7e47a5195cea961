"""The report as people read it: top / bottom ads and totals, as markdown (Dagster UI) or fixed-width text (Slack).

See docs/roas_report.md ("In the UI and in Slack").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from adperf_assets.report.config import ReportConfig


def _money_of(column: str):
    return lambda r, cur: money(r[column], currency=cur)


def _ratio_of(column: str):
    return lambda r, cur: ratio(r[column])


def _estimated(r, cur: str) -> str:
    m = lambda c: money(r[c], currency=cur)  # noqa: E731
    return f"{m('estimated_return_usd')} ({m('estimated_lower_usd')}-{m('estimated_upper_usd')})"


#: The columns an ad row and a network total share: estimate with its 99% interval, ROAS, estimated ROAS.
_ESTIMATE_VIEW = {"estimated (99%)": _estimated, "ROAS": _ratio_of("roas"), "est. ROAS": _ratio_of("estimated_roas")}

#: Column label -> how to show a row (money in the report currency, ratios with two decimals).
AD_VIEW = {
    "network": lambda r, cur: r["network"],
    "ad": lambda r, cur: _clip(r["ad_name"] or r["ad_id"], 28),
    "campaign": lambda r, cur: _clip(r["campaign_name"] or r["campaign_id"], 26),
    "days": lambda r, cur: f"{int(r['days_live'])}",
    "cost": _money_of("cost_to_date_usd"),
    "return": _money_of("return_to_date_usd"),
    **_ESTIMATE_VIEW,
    "D7": lambda r, cur: ratio(r["d7_roas"]) if "d7_roas" in r else "",
    "payback": lambda r, cur: payback(r),
    "do": lambda r, cur: r["recommendation"],
}


def _clip(s: str, n: int) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


#: Signs written before an amount; other currencies are written after it by their code.
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KRW": "₩"}


def money(x, decimals: int = 0, currency: str = "USD") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞"
    sign = CURRENCY_SIGNS.get(currency.upper())
    return f"{sign}{x:,.{decimals}f}" if sign else f"{x:,.{decimals}f} {currency.upper()}"


def ratio(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return "∞" if math.isinf(x) else f"{x:.2f}"


def payback(r) -> str:
    d = r["payback_day"]
    if d is None or (isinstance(d, float) and math.isnan(d)):
        return "–"
    return f"day {int(d)}" + ("" if r["payback_basis"] == "realised" else " (est.)")


def ranked_ads(report: pd.DataFrame, config: ReportConfig | None = None) -> pd.DataFrame:
    """Ad rows that have enough spend to judge, best estimated ROAS first (ties: more cost first)."""
    cfg = config or ReportConfig()
    ads = report[(report["level"] == "ad") & (report["cost_to_date_usd"] >= cfg.min_cost_usd)]
    return ads.sort_values(["estimated_roas", "cost_to_date_usd"], ascending=[False, False], kind="stable")


def top_bottom(report: pd.DataFrame, n: int = 5, config: ReportConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    ranked = ranked_ads(report, config)
    top = ranked.head(n)
    bottom = ranked.iloc[::-1].head(n)
    bottom = bottom[~bottom.index.isin(top.index)]
    return top, bottom


def totals(report: pd.DataFrame) -> pd.DataFrame:
    """Per network and over all networks: cost, return, estimated return (interval) and ROAS.

    The all-network interval treats networks as independent (their users are different segments,
    fitted separately), combining half-widths in quadrature like ``report.intervals``.
    """
    nets = report[report["level"] == "network"].copy()
    if nets.empty:
        return pd.DataFrame(columns=["network", "ads", "cost_to_date_usd", "return_to_date_usd", "paid_to_date_usd",
                                     "estimated_return_usd", "estimated_lower_usd", "estimated_upper_usd", "roas",
                                     "estimated_roas"])
    ads = report[report["level"] == "ad"].groupby("network").size()
    nets["ads"] = nets["network"].map(ads).fillna(0).astype(int)
    est = nets["estimated_return_usd"].sum()
    down = np.sqrt(((nets["estimated_return_usd"] - nets["estimated_lower_usd"]) ** 2).sum())
    up = np.sqrt(((nets["estimated_upper_usd"] - nets["estimated_return_usd"]) ** 2).sum())
    cost = nets["cost_to_date_usd"].sum()
    total = {"network": "all", "ads": int(nets["ads"].sum()), "cost_to_date_usd": cost,
             "return_to_date_usd": nets["return_to_date_usd"].sum(), "paid_to_date_usd": nets["paid_to_date_usd"].sum(),
             "estimated_return_usd": est, "estimated_lower_usd": max(est - down, 0.0), "estimated_upper_usd": est + up}
    out = pd.concat([nets, pd.DataFrame([total])], ignore_index=True)
    out["roas"] = np.where(out["cost_to_date_usd"] > 0, out["return_to_date_usd"] / out["cost_to_date_usd"].where(
        out["cost_to_date_usd"] > 0), np.nan)
    out["estimated_roas"] = np.where(out["cost_to_date_usd"] > 0, out["estimated_return_usd"] / out[
        "cost_to_date_usd"].where(out["cost_to_date_usd"] > 0), np.nan)
    return out[["network", "ads", "cost_to_date_usd", "return_to_date_usd", "paid_to_date_usd", "estimated_return_usd",
                "estimated_lower_usd", "estimated_upper_usd", "roas", "estimated_roas"]]


def _view(rows: pd.DataFrame, view: dict, currency: str = "USD") -> pd.DataFrame:
    return pd.DataFrame([{k: f(r, currency) for k, f in view.items()} for _, r in rows.iterrows()], columns=list(view))


TOTAL_VIEW = {
    "network": lambda r, cur: r["network"],
    "ads": lambda r, cur: f"{int(r['ads'])}",
    "cost": _money_of("cost_to_date_usd"),
    "paid": _money_of("paid_to_date_usd"),
    "return": _money_of("return_to_date_usd"),
    **_ESTIMATE_VIEW,
}


def markdown_summary(report: pd.DataFrame, n: int = 10, config: ReportConfig | None = None) -> str:
    """Top and bottom ads by estimated ROAS, and totals per network, as one markdown document."""
    if report.empty:
        return "_no ads with spend in the window_"
    day = pd.Timestamp(report["report_date"].iloc[0]).date()
    top, bottom = top_bottom(report, n, config)
    cur = (config or ReportConfig()).currency
    recs = report[report["level"] == "ad"]["recommendation"].value_counts()
    parts = [f"**ROAS report {day}** — horizon {int(report['horizon_days'].iloc[0])} days; "
             + ", ".join(f"{recs.get(k, 0)} {k}" for k in ("scale", "keep", "stop")),
             "", "**Totals**", "", _view(totals(report), TOTAL_VIEW, cur).to_markdown(index=False),
             "", f"**Top {len(top)} ads by estimated ROAS**", "",
             _view(top, AD_VIEW, cur).to_markdown(index=False) if len(top) else "_none with enough spend_",
             "", f"**Bottom {len(bottom)} ads**", "",
             _view(bottom, AD_VIEW, cur).to_markdown(index=False) if len(bottom) else "_none_"]
    return "\n".join(parts)


def text_table(rows: pd.DataFrame, view: dict | None = None, currency: str = "USD") -> str:
    """Fixed-width text table (for a Slack code block): one line per row, columns padded."""
    t = _view(rows, view or AD_VIEW, currency)
    if t.empty:
        return "(none)"
    cols = list(t.columns)
    width = {c: max(len(c), *(len(str(v)) for v in t[c])) for c in cols}
    right = {c for c in cols if c not in ("network", "ad", "campaign", "do")}

    def fmt(c, v):
        return str(v).rjust(width[c]) if c in right else str(v).ljust(width[c])

    lines = ["  ".join(fmt(c, c) for c in cols)]
    lines += ["  ".join(fmt(c, r[c]) for c in cols) for _, r in t.iterrows()]
    return "\n".join(line.rstrip() for line in lines)

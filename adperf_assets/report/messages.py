"""Slack messages (Block Kit, with a plain-text fallback) for the daily report and the ad milestones.

Slack limits a section's text to 3000 characters and a message to 50 blocks; tables go in code
blocks (fixed width) and are cut to stay inside the limit. See docs/roas_report.md.
"""

from __future__ import annotations

import pandas as pd

from adperf_assets.report.config import ReportConfig
from adperf_assets.report.tables import money, ratio, text_table, top_bottom, totals, TOTAL_VIEW

SECTION_LIMIT = 3000
MILESTONES = (7, 14, 30)


def _code(text: str) -> str:
    budget = SECTION_LIMIT - 8
    if len(text) > budget:
        text = text[: text.rfind("\n", 0, budget - 2)] + "\n…"
    return f"```{text}```"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}


def daily_message(report: pd.DataFrame, n: int = 5, config: ReportConfig | None = None,
                  link: str | None = None, scores: str | None = None) -> dict:
    """The day's report: totals per network, top and bottom ads, and what to scale / stop; ``scores``
    (``decision_scores.summary_line``) says beside the calls how often such calls were right."""
    cfg = config or ReportConfig()
    if report.empty:
        return {"text": "ROAS report: no ads with spend in the window"}
    day = pd.Timestamp(report["report_date"].iloc[0]).date()
    tot = totals(report)
    all_row = tot[tot["network"] == "all"].iloc[0]
    ads = report[report["level"] == "ad"]
    scale = ads[ads["recommendation"] == "scale"].sort_values("estimated_roas", ascending=False)
    stop = ads[ads["recommendation"] == "stop"].sort_values("estimated_roas")
    top, bottom = top_bottom(report, n, cfg)
    cur = cfg.currency
    headline = (f"{len(ads)} ads · cost {money(all_row['cost_to_date_usd'], currency=cur)} · return "
                f"{money(all_row['return_to_date_usd'], currency=cur)} · estimated "
                f"{money(all_row['estimated_return_usd'], currency=cur)} "
                f"({cfg.horizon_days}-day LTV) · ROAS {ratio(all_row['roas'])} · estimated ROAS "
                f"{ratio(all_row['estimated_roas'])}")
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"ROAS report {day}"}},
        _section(f"*{headline}*\n{len(scale)} to scale · {len(stop)} to stop · "
                 f"{len(ads) - len(scale) - len(stop)} to keep"),
        _section("*Totals*\n" + _code(text_table(tot, TOTAL_VIEW, cur))),
        _section(f"*Top {len(top)} by estimated ROAS*\n" + _code(text_table(top, currency=cur))),
    ]
    if len(bottom):
        blocks.append(_section(f"*Bottom {len(bottom)}*\n" + _code(text_table(bottom, currency=cur))))
    for label, rows in (("Scale", scale), ("Stop", stop)):
        if len(rows):
            lines = [f"• *{r['ad_name'] or r['ad_id']}* ({r['network']}): {r['reason']}" for _, r in rows.head(8).iterrows()]
            more = f"\n…and {len(rows) - 8} more" if len(rows) > 8 else ""
            blocks.append(_section(f"*{label}*\n" + "\n".join(lines) + more))
    if scores:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": scores[:SECTION_LIMIT]}]})
    if link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Open in Dagster>"}]})
    return {"text": f"ROAS report {day}: {headline}", "blocks": blocks[:50]}


def milestone_ads(report: pd.DataFrame, milestones=MILESTONES) -> pd.DataFrame:
    """Ad rows whose ``days_live`` (day 1 = first day of spend) is a milestone on the report day."""
    ads = report[(report["level"] == "ad") & report["days_live"].isin(list(milestones))]
    return ads.assign(milestone=ads["days_live"].astype(int))


def milestone_message(row: pd.Series, currency: str = "USD") -> dict:
    """One ad's day-N message: the spec's sentence, then D-N ROAS, the interval and the verdict."""
    day = pd.Timestamp(row["report_date"]).date()
    start = pd.Timestamp(row["first_spend_date"]).date()
    n = int(row["milestone"])
    name = row["ad_name"] or row["ad_id"]
    m = lambda c: money(row[c], 2, currency)  # noqa: E731
    sentence = (f"The ad *{name}* ({row['network']}, campaign {row['campaign_name'] or row['campaign_id']}) that "
                f"started on {start} has, as of {day}: total cost {m('cost_to_date_usd')}, total return "
                f"{m('return_to_date_usd')}, estimated return {m('estimated_return_usd')} "
                f"({m('estimated_lower_usd')}-{m('estimated_upper_usd')}), ROAS "
                f"{ratio(row['roas'])}, estimated ROAS {ratio(row['estimated_roas'])}.")
    dn = row.get(f"d{n}_roas")
    dn_text = f"D{n} ROAS {ratio(dn)}" if dn is not None and pd.notna(dn) else f"D{n} ROAS – ({row.get(f'd{n}_note', '')})"
    pb = row["payback_day"]
    pb_text = (f"payback day {int(pb)} ({row['payback_basis']})" if pd.notna(pb) else "no payback in sight")
    verdict = f"*{row['recommendation'].upper()}* — {row['reason']}"
    return {
        "text": f"Day {n} of {name}: ROAS {ratio(row['roas'])}, estimated {ratio(row['estimated_roas'])} -> "
                f"{row['recommendation']}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"Day {n}: {name}"[:150]}},
            _section(sentence),
            _section(f"{dn_text} · {pb_text} · {int(row['users'])} users\n{verdict}"),
        ],
    }

"""Time the spend normalisation: raw hourly API rows of a 30-day window → the unified daily table.

Run: .venv/bin/python benchmarks/spend_unify.py [ads_per_network]
Prints rows in, rows out and seconds (no assertions; figures only).
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta

from adperf_assets.normalize.fx import parse_ecb_csv
from adperf_assets.normalize.spend import unified_spend


def main(n_ads: int = 300) -> None:
    days = [date(2026, 2, 1) + timedelta(days=i) for i in range(30)]
    ecb = "Date,USD,KRW,\n" + "".join(f"{d},1.08,1450,\n" for d in reversed(days) if d.weekday() < 5)
    fx = parse_ecb_csv(ecb)
    fb = [
        {"account_id": "42", "account_name": "US app", "account_currency": "EUR", "objective": "OUTCOME_APP_PROMOTION",
         "campaign_id": str(a // 100), "campaign_name": "c", "adset_id": str(a // 10), "adset_name": "s",
         "ad_id": str(a), "ad_name": "ad", "spend": f"{h}.{a % 100:02d}", "impressions": "100", "clicks": "3",
         "actions": [{"action_type": "mobile_app_install", "value": "1"}],
         "date_start": d.isoformat(), "date_stop": d.isoformat(),
         "hourly_stats_aggregated_by_advertiser_time_zone": f"{h:02d}:00:00 - {h:02d}:59:59"}
        for d in days for h in range(24) for a in range(1000, 1000 + n_ads)
    ]
    g = [
        {"customer.id": 1234567890, "customer.descriptive_name": "KR", "customer.currency_code": "KRW",
         "customer.time_zone": "Asia/Seoul", "campaign.id": 11, "campaign.name": "c",
         "campaign.advertising_channel_type": "MULTI_CHANNEL", "ad_group.id": 21, "ad_group.name": "g",
         "ad_group_ad.ad.id": a, "ad_group_ad.ad.name": "", "segments.date": d.isoformat(), "segments.hour": h,
         "metrics.cost_micros": 1_234_567 * (h + 1), "metrics.impressions": 100, "metrics.clicks": 3,
         "metrics.conversions": 1.0}
        for d in days for h in range(24) for a in range(n_ads)
    ]
    accounts = [{"account_id": "42", "name": "US app", "currency": "EUR", "timezone_name": "America/Los_Angeles"}]
    t = time.perf_counter()
    out = unified_spend(fb, g, facebook_accounts=accounts, fx=fx, report_tz="Asia/Seoul", report_currency="USD",
                        report_dates=days[1:-1])
    took = time.perf_counter() - t
    print(f"spend_unify: {len(fb) + len(g)} hourly rows ({n_ads} ads x 2 networks x 30 days x 24 h)"
          f" -> {len(out.table)} daily rows in {took:.2f} s ({(len(fb) + len(g)) / took:,.0f} rows/s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)

"""A small hand-made world for the report math: two networks, three ads, a few users, known LTVs.

Report day 2025-07-10. Ad ``fb-1`` (facebook, campaign c1 / ad group g1) spends $10 a day from
07-01; ``fb-2`` (same ad group) $5 a day 07-06..07-08; ``gg-1`` (google_ads) $20 a day from 07-05.
"""

from __future__ import annotations

import pandas as pd

DAY = pd.Timestamp("2025-07-10")


def _spend_row(day, network, acc, camp, grp, ad, cost, installs=1.0):
    return {"report_date": pd.Timestamp(day), "network": network, "account_id": acc, "account_name": f"A{acc}",
            "account_timezone": "UTC", "account_currency": "USD", "objective": "APP_INSTALLS",
            "campaign_id": camp, "campaign_name": f"C{camp}", "ad_group_id": grp, "ad_group_name": f"G{grp}",
            "ad_id": ad, "ad_name": f"Ad {ad}", "impressions": 100, "clicks": 10, "installs": installs,
            "cost_local": cost, "cost_usd": cost}


def spend() -> pd.DataFrame:
    rows = [_spend_row(d, "facebook", "a1", "c1", "g1", "fb-1", 10.0) for d in pd.date_range("2025-07-01", DAY)]
    rows += [_spend_row(d, "facebook", "a1", "c1", "g1", "fb-2", 5.0) for d in pd.date_range("2025-07-06", "2025-07-08")]
    rows += [_spend_row(d, "google_ads", "a2", "c2", "g2", "gg-1", 20.0) for d in pd.date_range("2025-07-05", DAY)]
    return pd.DataFrame(rows)


# user_id: (install_date, network, ad_id, platform)
USERS = {
    1: ("2025-07-01", "facebook", "fb-1", "ios"),
    2: ("2025-07-02", "facebook", "fb-1", "android"),
    3: ("2025-07-04", "facebook", "fb-1", "ios"),
    4: ("2025-07-08", "facebook", "fb-1", "ios"),
    5: ("2025-07-06", "facebook", "fb-2", "ios"),
    6: ("2025-07-05", "google_ads", "gg-1", "android"),
    7: ("2025-07-09", "google_ads", "gg-1", "android"),
    8: ("2025-07-03", "organic", "", "ios"),
    9: ("2025-07-03", "unityads_int", "u-77", "android"),  # an ad id without spend
}


def installs() -> pd.DataFrame:
    rows = []
    for uid, (d, net, ad, plat) in USERS.items():
        rows.append({"install_date": pd.Timestamp(d), "user_id": uid, "install_time_utc": pd.Timestamp(d),
                     "platform": plat, "network": net, "campaign_id": "", "ad_group_id": "", "ad_id": ad,
                     "is_organic": net == "organic", "is_reinstall": False, "country": "US",
                     "attribution": "organic" if net == "organic" else "paid", "mmp": "appsflyer"})
    return pd.DataFrame(rows)


def segments() -> pd.DataFrame:
    i = installs()
    return i.assign(is_emulator=False)[["install_date", "user_id", "platform", "attribution", "network",
                                        "country", "is_emulator"]]


# (report_date, user_id, paid_usd, credited_usd)
REVENUE = [
    ("2025-07-01", 1, 5.0, 4.0),
    ("2025-07-03", 1, 0.0, 1.0),
    ("2025-07-09", 1, 10.0, 8.0),   # day 8 of user 1's life: outside D7
    ("2025-07-02", 2, 0.0, 2.0),
    ("2025-07-10", 3, 3.0, 3.0),    # user 3's day 6 (age 6 < 7): inside D7
    ("2025-07-09", 4, 0.0, 0.5),
    ("2025-07-07", 5, 2.0, 2.0),
    ("2025-07-06", 6, 30.0, 25.0),
    ("2025-07-10", 7, 0.0, 1.5),
    ("2025-07-04", 8, 7.0, 7.0),    # organic
    ("2025-07-05", 9, 4.0, 4.0),    # unmatched ad id
    ("2025-07-11", 1, 100.0, 100.0),  # after the report day: never counted
]


def behavior() -> pd.DataFrame:
    return pd.DataFrame([{"report_date": pd.Timestamp(d), "user_id": u, "method": "pagerank", "paid_usd": p,
                          "credited_usd": c} for d, u, p, c in REVENUE])


def ltv_row(install_date, platform, network, horizon, per_user, lower, upper, estimator="cohort", mape=0.2,
            report_date=DAY):
    return {"report_date": pd.Timestamp(report_date), "install_date": pd.Timestamp(install_date),
            "platform": platform, "attribution": "paid", "network": network, "is_emulator": False,
            "horizon": horizon, "cohort_size": 10, "ltv_per_user_usd": per_user, "lower_usd": lower,
            "upper_usd": upper, "estimator": estimator, "backtest_mape": mape}


#: LTV per user by segment (platform, network) and horizon: (value, lower, upper)
LTV = {
    ("ios", "facebook"): {30: (10.0, 8.0, 13.0), 90: (20.0, 15.0, 26.0), 180: (30.0, 20.0, 40.0), 365: (40.0, 25.0, 55.0)},
    ("android", "facebook"): {30: (4.0, 3.0, 5.0), 90: (8.0, 6.0, 10.0), 180: (12.0, 9.0, 16.0), 365: (15.0, 10.0, 20.0)},
    ("android", "google_ads"): {30: (6.0, 5.0, 7.0), 90: (12.0, 10.0, 15.0), 180: (18.0, 15.0, 24.0), 365: (22.0, 17.0, 30.0)},
}


def ltv(skip_cohorts=("2025-07-10",)) -> pd.DataFrame:
    """Every cohort 07-01..07-09 x segment x horizon as of DAY (07-10's cohort has no estimate yet)."""
    rows = []
    for d in pd.date_range("2025-06-20", DAY):
        if str(d.date()) in skip_cohorts:
            continue
        for (plat, net), by_h in LTV.items():
            for h, (v, lo, hi) in by_h.items():
                rows.append(ltv_row(d, plat, net, h, v, lo, hi, estimator="btyd" if plat == "android" else "cohort",
                                    mape=0.1 if plat == "android" else 0.3))
    return pd.DataFrame(rows)

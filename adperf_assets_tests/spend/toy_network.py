"""A toy ad network in one module, as a new network would be written: its client (here only the
sample), its row mapping and its :class:`Network`. ``test_toy_network`` registers it and looks for
it in ``ad_spend``.

Its API answers rows ``{"day", "hour", "ad", "spend"}`` in the account's time zone (New York, GBP):
every ad costs 1.50 an hour, so every ad costs 36.00 on every report day whatever the zones."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from adperf_assets.defs.common.throttle import AdsPull
from adperf_assets.defs.spend.network import Network, SpendSource, as_date
from adperf_assets.normalize.spend import HOURLY_COLUMNS, decimal_to_micros

ACCOUNT = {"account_id": "toy-1", "name": "Toy account", "currency": "GBP", "timezone_name": "America/New_York"}
ADS = ("t-ad-1", "t-ad-2")


class SampleToy(SpendSource):
    """Every hour of every day, each ad spends 1.50."""

    def accounts(self) -> list[dict]:
        return [ACCOUNT]

    def pull_rows(self, account_id: str, since: date, until: date) -> AdsPull:
        since, until = as_date(since), as_date(until)
        days = [since + timedelta(days=k) for k in range((until - since).days + 1)]
        return AdsPull(rows=[{"day": d.isoformat(), "hour": h, "ad": ad, "spend": "1.50"}
                             for d in days for h in range(24) for ad in ADS], requests_made=len(days))


def toy_hourly(rows: list[dict], accounts: list[dict]) -> pd.DataFrame:
    """Toy rows → the unified hourly frame."""
    df = pd.DataFrame.from_records(rows, columns=["day", "hour", "ad", "spend"])
    acc = accounts[0]
    out = pd.DataFrame({
        "network": "toy", "account_id": acc["account_id"], "account_name": acc["name"],
        "account_timezone": acc["timezone_name"], "account_currency": acc["currency"], "objective": "INSTALLS",
        "campaign_id": "toy-c", "campaign_name": "Toy campaign", "ad_group_id": "toy-g", "ad_group_name": "Toy group",
        "ad_id": df["ad"].astype(str), "ad_name": df["ad"].astype(str), "local_date": df["day"].astype(str),
        "local_hour": df["hour"].astype("int64"), "impressions": 10, "clicks": 1, "installs": 0.5,
        "cost_micros": decimal_to_micros(df["spend"], "toy", "spend"),
    }, index=df.index)
    return out.astype({"impressions": "int64", "clicks": "int64", "installs": "float64"})[HOURLY_COLUMNS]


NETWORK = Network(
    name="toy",
    label="Toy",
    resource_key="toy_ads",
    real=lambda settings: SampleToy(),
    sample=lambda world, settings: SampleToy(),
    to_frame=toy_hourly,
    description="The toy network's hourly rows per report day and ad.",
)

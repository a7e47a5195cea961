"""The app's SKAN 4 conversion-value schema and the postback rules it lives under.

The app sets the fine value (0-63) from what a user did in the first window (days 0-2 after the
install) and a coarse value (low/medium/high) at each launch, so a later window's postback comes only
from users who opened the app in that window (Apple: to get the second and third postbacks the app must
update the values during each window). The world's users follow it and the decoder reads it back
(docs/skan.md has the table). Apple's windows, delays and tier table are
from Apple's documentation; its crowd-anonymity thresholds are not published (ours are a guess).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Networks whose iOS installs are attributed without ATT consent (Apple Ads: AdServices) and send no
#: SKAN postbacks in the world: the one place that says which networks ATT does not restrict.
ATT_EXEMPT_NETWORKS = frozenset({"apple_ads"})
#: AppsFlyer's media source (our network) of paid installs whose user denied ATT tracking: no ad shown.
RESTRICTED = "restricted"

#: Conversion windows by postback-sequence-index: [first day, last day] after the install, inclusive.
WINDOWS = ((0, 2), (3, 7), (8, 35))
#: Random send delay after a window ends, hours [low, high] (Apple: 24-48 h first, 24-144 h others).
SEND_DELAY_HOURS = ((24, 48), (24, 144), (24, 144))

#: Fine value = revenue bucket (bits 0-3) + engagement bits. Bucket k holds gross revenue in
#: [REVENUE_EDGES_USD[k], REVENUE_EDGES_USD[k + 1]) USD over days 0-2; bucket 0 is no revenue.
REVENUE_EDGES_USD = (0.0, 0.01, 2.0, 4.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 32.0, 40.0, 55.0, 75.0, 100.0,
                     np.inf)
REVENUE_BITS = 4
BIT_RETURNED = 16  # active again on day 1 or 2
BIT_REPEAT_BUYER = 32  # two or more purchases in days 0-2

COARSE = ("low", "medium", "high")
#: Coarse value at the end of window i: "high" from this much gross revenue (USD) since the install,
#: "medium" for any revenue below it, "low" for none.
COARSE_HIGH_USD = (10.0, 20.0, 40.0)

def sid_digits(sid: str, digits: int) -> str:
    """What a postback carries of a 4-digit source identifier: its ``digits`` least significant digits
    (Apple, WWDC22 "What's new with SKAdNetwork": of 5739, "39" at low crowd anonymity, "739", then "5739";
    Apple's two SKAN 4 example postbacks carry "5239" and "39"). So a network names the campaign in the last
    two digits, which every winning postback shows."""
    return sid[-digits:]


def before_skan_4(version: pd.Series) -> np.ndarray:
    """Postbacks of SKAdNetwork 1.x-3.x: their install's only postback (later windows came with 4.0)."""
    return version.astype(str).str.fullmatch(r"[123](\.\d+)?").to_numpy()


def campaign_sid(campaign_id: int) -> str:
    """A SKAN 1-3 ``campaign-id`` (1-100) as the 2-digit source identifier that replaced it: the identifier's
    last two digits are what every postback shows, so a network that kept its campaigns' numbers when it moved
    to 4.0 has them there (100 as "00"). Unverified: how each network carried its ids over."""
    return f"{int(campaign_id) % 100:02d}"


#: Crowd-anonymity tier of a source identifier's last 2, 3 or 4 digits from their installs that day: tier k from
#: TIER_MIN_DAILY_INSTALLS[k - 1] installs. Apple does not publish its thresholds: ours are assumed.
TIER_MIN_DAILY_INSTALLS = (3, 8, 25)


def fine_value(revenue_usd, purchases, returned) -> np.ndarray:
    """The fine conversion value of users with this gross revenue, purchase count and return in days 0-2."""
    rev = np.asarray(revenue_usd, dtype=float)
    bucket = np.searchsorted(np.asarray(REVENUE_EDGES_USD), rev, side="right") - 1
    bucket = np.clip(bucket, 0, 2**REVENUE_BITS - 1)
    return (bucket + BIT_RETURNED * np.asarray(returned, dtype=bool)
            + BIT_REPEAT_BUYER * (np.asarray(purchases) >= 2)).astype(np.int64)


def revenue_range(cv) -> tuple[np.ndarray, np.ndarray]:
    """The gross revenue range [low, high) in USD (days 0-2) that fine values ``cv`` stand for."""
    bucket = np.asarray(cv, dtype=np.int64) % 2**REVENUE_BITS
    edges = np.asarray(REVENUE_EDGES_USD)
    return edges[bucket], edges[bucket + 1]


def coarse_value(revenue_usd, window: int) -> np.ndarray:
    """The coarse value at the end of ``window`` of users with this gross revenue since the install."""
    rev = np.asarray(revenue_usd, dtype=float)
    level = np.where(rev >= COARSE_HIGH_USD[window], 2, np.where(rev > 0, 1, 0))
    return np.asarray(COARSE, dtype=object)[level]


def coarse_of_fine(cv) -> np.ndarray:
    """The first window's coarse value that a fine value implies (same revenue, window 0)."""
    lo, _ = revenue_range(cv)
    return coarse_value(lo, 0)


def tier(daily_installs) -> np.ndarray:
    """Crowd-anonymity tier 0-3 of identifier digits with these installs on their day."""
    return np.searchsorted(np.asarray(TIER_MIN_DAILY_INSTALLS), np.asarray(daily_installs), side="right")

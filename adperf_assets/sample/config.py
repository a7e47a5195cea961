"""Parameters of a sample world and its presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from functools import cached_property


@dataclass(frozen=True)
class Account:
    network: str  # "facebook" | "google_ads" | "tiktok" | "apple_ads"
    account_id: str
    name: str
    currency: str
    timezone: str
    platform_ios_share: float
    countries: tuple[str, ...]
    paid_share: float  # share of paid installs bought through this account


# Two Facebook accounts in different zones/currencies, one Google Ads account in KRW/Seoul.
DEFAULT_ACCOUNTS = (
    Account("facebook", "1000000000000001", "Matcha US", "USD", "America/Los_Angeles", 0.55, ("US",), 0.40),
    Account("facebook", "1000000000000002", "Matcha EU", "EUR", "Europe/Berlin", 0.40, ("DE", "FR", "ES"), 0.25),
    Account("google_ads", "1234567890", "Matcha KR", "KRW", "Asia/Seoul", 0.25, ("KR",), 0.30),
)

# The ``more_networks`` knob's accounts: a TikTok advertiser in GBP/London and an Apple Ads account in
# USD/Los Angeles (iOS only). Their paid shares are taken from the accounts above (scaled down), so the
# world buys as many installs as without them.
MORE_ACCOUNTS = (
    Account("tiktok", "7000000000000001", "Matcha UK TikTok", "GBP", "Europe/London", 0.35, ("GB",), 0.10),
    Account("apple_ads", "4000001", "Matcha US Apple Ads", "USD", "America/Los_Angeles", 1.0, ("US",), 0.08),
)

# A network that the MMP attributes installs to but whose spend we do not pull.
UNSPENT_NETWORK_SHARE = 0.05

COUNTRY_CURRENCY = {"US": "USD", "DE": "EUR", "FR": "EUR", "ES": "EUR", "KR": "KRW", "JP": "JPY", "GB": "GBP", "BR": "BRL"}
ORGANIC_COUNTRIES = ("US", "KR", "DE", "JP", "GB", "BR")


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 7
    start: date = date(2025, 6, 1)
    days: int = 545
    installs_per_day: int = 150
    churn_model: str = "sbg"  # "sbg": Beta-distributed daily churn (sBG is exact); "weibull": no model is exact
    report_timezone: str = "Asia/Seoul"
    organic_share: float = 0.30
    unattributed_share: float = 0.01
    reinstall_share: float = 0.04
    emulator_share: float = 0.03
    network_overclaim: float = 0.12  # networks report this many more installs than the MMP attributes
    refund_rate: float = 0.04
    chargeback_rate: float = 0.01
    matches_per_active_day: float = 1.0
    accounts: tuple[Account, ...] = field(default=DEFAULT_ACCOUNTS)
    # sBG retention by segment: base (alpha, beta) times multipliers on beta (higher beta = better retention)
    retention_alpha: float = 0.7
    retention_beta: float = 0.6
    # BG/NBD-like purchases while active: daily rate ~ Gamma(r, scale), dropout after a purchase ~ Beta(a, b)
    purchase_r: float = 0.20
    purchase_scale: float = 0.15
    dropout_a: float = 1.0
    dropout_b: float = 6.0
    # Gamma-Gamma-like amounts in USD: z ~ Gamma(p, nu), nu ~ Gamma(q, gamma)
    spend_p: float = 5.0
    spend_q: float = 4.0
    spend_gamma: float = 6.0
    # spend revisions: a day pulled k days later shows factor[k-1] of its final numbers
    revision_factors: tuple[float, ...] = (0.86, 0.95, 0.99)
    # knobs of a harder world (knobs.py): the defaults are REALISTIC; their EASY values give the world without them
    activity_mean: float = 0.55  # mean daily activity propensity while alive (1: active every alive day)
    activity_concentration: float = 4.0  # Beta(mean * c, (1 - mean) * c) propensities: lower c, more spread
    weekend_lift: float = 0.3  # weekend days are this much busier than weekdays
    ad_quality_sd: float = 0.35  # log-sd of the mean-1 quality of each campaign and ad (purchase rate, retention)
    whale_share: float = 0.02  # share of users whose spend per purchase is multiplied by a Pareto factor
    whale_tail: float = 1.4  # Pareto shape of that factor (lower: heavier tail)
    # share of iOS users who allow tracking (ATT); the others reach the MMP's user-level export without
    # their ad and the world writes SKAN postbacks (sample/skan.py); 1.0: the world before ATT, no postbacks.
    # about a third, as measured after ATT (issue 18); the `easy` and `no_att` presets have 1.0
    att_opt_in: float = 0.3
    # share of paid SKAN installs whose postbacks come as SKAdNetwork 3.0 (devices below iOS 16.1): one
    # postback, fine value or null, a 2-digit campaign-id (sample/skan.py). A few percent of iPhones in use
    # (estimated from Apple's published iOS adoption figures; unverified for ad-reached users)
    skan3_share: float = 0.04
    # actions taken on the ads (budget_actions): (day index from start, ad_id, factor) -- from that
    # account-local day on the ad delivers ``factor`` x its planned volume (0: paused; 1.2: budget +20%);
    # a later entry for the same ad replaces the factor from its day (ads.action_factors)
    ad_actions: tuple[tuple[int, str, float], ...] = ()
    # buys on TikTok and Apple Ads too (MORE_ACCOUNTS appended to ``accounts``, whose shares make room)
    more_networks: bool = True

    @cached_property  # read per row by the generator's loops; a frozen config's accounts do not change
    def ad_accounts(self) -> tuple[Account, ...]:
        """The accounts the world buys on: ``accounts``, plus ``MORE_ACCOUNTS`` (the others' shares scaled to
        make room) when ``more_networks``."""
        if not self.more_networks:
            return self.accounts
        before = sum(a.paid_share for a in self.accounts)
        scale = max(0.0, before - sum(a.paid_share for a in MORE_ACCOUNTS)) / before
        return tuple(replace(a, paid_share=a.paid_share * scale) for a in self.accounts) + MORE_ACCOUNTS

    def to_json(self) -> dict:
        d = asdict(self)
        if all(d[k] == v for k, v in EASY.items()):  # the easy world records no knob, as before the knobs
            for k in EASY:
                del d[k]
        if self.att_opt_in >= 1.0:  # a world where everyone allows tracking records no opt-in (as before ATT)
            del d["att_opt_in"]
        if not self.ad_actions:  # a world nobody acted on records none (as before actions existed)
            del d["ad_actions"]
        else:
            d["ad_actions"] = [list(a) for a in self.ad_actions]
        d["start"] = self.start.isoformat()
        d["accounts"] = [asdict(a) for a in self.accounts]
        return d

    @property
    def end(self) -> date:
        """Last day (inclusive) of the world, in the report time zone."""
        from datetime import timedelta

        return self.start + timedelta(days=self.days - 1)


# The knobs' values that give the world as it was before them (to_json then leaves them all out).
EASY = {"activity_mean": 1.0, "activity_concentration": 4.0, "weekend_lift": 0.3, "ad_quality_sd": 0.0,
        "whale_share": 0.0, "whale_tail": 1.4, "more_networks": False}
# The knobs' defaults: intermittent activity, ads of different quality, whales (docs/sample_world.md).
REALISTIC = {"activity_mean": 0.55, "activity_concentration": 4.0, "weekend_lift": 0.3, "ad_quality_sd": 0.35,
             "whale_share": 0.02, "whale_tail": 1.4, "more_networks": True}

PRESETS = {
    "default": {},
    # small: tests that need a whole world but not 180 days of history
    "small": {"days": 75, "installs_per_day": 60},
    # large: about a million users over the 545 days, for benchmarks (measured size: benchmarks/README.md)
    "large": {"installs_per_day": 1835},
    # ads: ads that get >= 30 MMP-attributed installs a day (median about 45), for the per-ad benchmark
    # (benchmarks/decisions.py); 270 days leave 90 days of cohorts with 180 days seen (docs/per_ad_value.md)
    "ads": {"installs_per_day": 2000, "days": 270},
    # easy: every alive day active, no ad quality effects, no whales (the world before the knobs, for comparison)
    "easy": {**EASY, "att_opt_in": 1.0},
    # realistic: the default knobs, spelled out
    "realistic": dict(REALISTIC),
    # att: 30% of iOS users allow tracking, with SKAN postbacks (docs/skan.md): the default, spelled out
    "att": {"att_opt_in": 0.3},
    # no_att: the default world before ATT: every iOS user tracked, no postbacks
    "no_att": {"att_opt_in": 1.0},
}


def preset(name: str, **overrides) -> WorldConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown world preset {name!r}; known: {', '.join(PRESETS)}")
    return replace(WorldConfig(), **{**PRESETS[name], **overrides})

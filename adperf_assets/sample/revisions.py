"""How the sample world's ad networks revise recent days (late conversions, billing corrections).

The world's files hold each day's final numbers; a day pulled ``k`` days after it (account-local)
shows ``factors[k-1]`` of them, the final numbers once ``k > len(factors)`` and nothing for ``k <= 0``.
Every hourly row is scaled and rounded on its own, as a network reports; docs/sample_world.md has the rules.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, Sequence

from adperf_assets.normalize.fx import minor_unit_digits

FACEBOOK_COUNT_FIELDS = ("impressions", "clicks")
GOOGLE_COUNT_FIELDS = ("metrics.impressions", "metrics.clicks")


def revision_factor(day: date, as_of: date, factors: Sequence[float]) -> float | None:
    """Share of the final numbers a pull on ``as_of`` sees for ``day``; None: the day has no data yet."""
    k = (as_of - day).days
    if k <= 0:
        return None
    if k <= len(factors):
        return float(factors[k - 1])
    return 1.0


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit_digits(currency))


def scale_money(amount: Decimal, factor: Decimal, currency: str) -> Decimal:
    return (amount * factor).quantize(_quantum(currency), rounding=ROUND_HALF_UP)


def scale_count(value: int | float | str, factor: Decimal) -> int:
    return math.floor(Decimal(str(value)) * factor)


def _revise(rows: list[dict], factor: float, scale_row: Callable[[dict, Decimal], None]) -> list[dict]:
    """Copies of ``rows``, each scaled in place by ``scale_row(copy, factor)``; ``rows`` itself when final."""
    if factor == 1.0:
        return rows
    f = Decimal(repr(factor))
    out = []
    for row in rows:
        new = dict(row)
        scale_row(new, f)
        out.append(new)
    return out


def revise_facebook_rows(rows: list[dict], factor: float, currency: str) -> list[dict]:
    """Insights rows (numbers as strings) scaled by ``factor``; zero-valued actions are dropped."""

    def scale(row: dict, f: Decimal) -> None:
        row["spend"] = str(scale_money(Decimal(row["spend"]), f, currency))
        for field in FACEBOOK_COUNT_FIELDS:
            if field in row:
                row[field] = str(scale_count(row[field], f))
        if "actions" in row:
            actions = [{**a, "value": str(scale_count(a["value"], f))} for a in row["actions"]]
            actions = [a for a in actions if a["value"] != "0"]
            if actions:
                row["actions"] = actions
            else:
                del row["actions"]

    return _revise(rows, factor, scale)


def revise_google_rows(rows: list[dict], factor: float) -> list[dict]:
    """GAQL rows (``metrics.cost_micros`` int, conversions float) scaled by ``factor``."""

    def scale(row: dict, f: Decimal) -> None:
        currency = str(row["customer.currency_code"])
        cost = Decimal(int(row["metrics.cost_micros"])) / Decimal(1_000_000)
        row["metrics.cost_micros"] = int(scale_money(cost, f, currency) * 1_000_000)
        for field in GOOGLE_COUNT_FIELDS:
            row[field] = scale_count(row[field], f)
        row["metrics.conversions"] = float(scale_count(row["metrics.conversions"], f))

    return _revise(rows, factor, scale)


def revise_tiktok_rows(rows: list[dict], factor: float, currency: str) -> list[dict]:
    """TikTok report rows (metrics as strings) scaled by ``factor``."""

    def scale(row: dict, f: Decimal) -> None:
        m = dict(row["metrics"])
        m["spend"] = str(scale_money(Decimal(m["spend"]), f, currency))
        for field in ("impressions", "clicks", "app_install"):
            m[field] = str(scale_count(m[field], f))
        row["metrics"] = m

    return _revise(rows, factor, scale)


def revise_apple_ads_rows(rows: list[dict], factor: float) -> list[dict]:
    """Apple Ads report rows (``localSpend.amount`` a string) scaled by ``factor``."""

    def scale(row: dict, f: Decimal) -> None:
        spend = row["localSpend"]
        row["localSpend"] = {**spend, "amount": str(scale_money(Decimal(spend["amount"]), f, spend["currency"]))}
        for field in ("impressions", "taps", "totalInstalls"):
            row[field] = scale_count(row[field], f)

    return _revise(rows, factor, scale)

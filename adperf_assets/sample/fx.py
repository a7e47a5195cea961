"""The sample world's exchange rates: a random walk published on TARGET business days only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from dateutil.easter import easter

# Column order of the real eurofxref-hist.csv (discontinued currencies carry N/A).
ECB_COLUMNS = (
    "USD JPY BGN CYP CZK DKK EEK GBP HUF LTL LVL MTL PLN ROL RON SEK SIT SKK CHF ISK NOK HRK RUB TRL TRY "
    "AUD BRL CAD CNY HKD IDR ILS INR KRW MXN MYR NZD PHP SGD THB ZAR"
).split()

# Starting units per EUR and daily volatility for the currencies the world uses.
_START = {"USD": 1.08, "JPY": 162.0, "GBP": 0.85, "KRW": 1480.0, "BRL": 6.0, "CHF": 0.95}
_VOL = 0.004
_DISCONTINUED = {"CYP", "EEK", "LTL", "LVL", "MTL", "ROL", "SIT", "SKK", "TRL", "HRK", "RUB", "BGN"}


def target_holidays(year: int) -> set[date]:
    """Days the ECB publishes no reference rate besides weekends."""
    e = easter(year)
    return {date(year, 1, 1), e - timedelta(days=2), e + timedelta(days=1), date(year, 5, 1),
            date(year, 12, 25), date(year, 12, 26)}


def is_business_day(d: date) -> bool:
    return d.weekday() < 5 and d not in target_holidays(d.year)


def simulate_rates(rng: np.random.Generator, first: date, last: date) -> pd.DataFrame:
    """Units per EUR for every calendar day in [first, last] (published or not), one column per currency."""
    days = pd.date_range(first, last, freq="D")
    out = {}
    for cur in ECB_COLUMNS:
        # Currencies the world does not use get a deterministic made-up level.
        base = _START.get(cur, 1.0 + sum(ord(c) for c in cur) / 50.0)
        steps = rng.normal(0.0, _VOL, len(days))
        out[cur] = base * np.exp(np.cumsum(steps))
    return pd.DataFrame(out, index=days.date)


def published(rates: pd.DataFrame) -> pd.DataFrame:
    """Only the business days, as the ECB publishes them."""
    mask = np.array([is_business_day(d) for d in rates.index])
    return rates[mask]


def to_ecb_csv(rates: pd.DataFrame) -> str:
    """The ``eurofxref-hist.csv`` text: newest first, trailing comma, N/A for discontinued currencies."""
    lines = ["Date," + ",".join(ECB_COLUMNS) + ","]
    for d in sorted(rates.index, reverse=True):
        row = rates.loc[d]
        cells = ["N/A" if c in _DISCONTINUED else _fmt(row[c]) for c in ECB_COLUMNS]
        lines.append(d.isoformat() + "," + ",".join(cells) + ",")
    return "\n".join(lines) + "\n"


def _fmt(x: float) -> str:
    # ECB prints 4-5 significant digits for most currencies
    return f"{x:.4f}" if x < 100 else f"{x:.2f}"


def effective_rates(published_rates: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """Rate per calendar day = last published on or before it, parsed back from the printed precision."""
    printed = published_rates.map(lambda x: float(_fmt(x)))
    days = pd.date_range(first, last, freq="D").date
    return printed.reindex(sorted(set(printed.index) | set(days))).ffill().loc[list(days)]


@dataclass(frozen=True)
class DailyRates:
    """Units per EUR for every calendar day from ``first`` on: the last rate published on or before it."""

    first: date
    table: pd.DataFrame  # one row per calendar day, one column per currency (EUR included, 1.0)

    def offset(self, d: date) -> int:
        """Row of calendar day ``d``."""
        return (d - self.first).days

    def per_usd(self, currency: str, offsets: np.ndarray) -> np.ndarray:
        """Units of ``currency`` per USD on the calendar days at ``offsets`` (rows from :meth:`offset`)."""
        col = self.table[currency].to_numpy() / self.table["USD"].to_numpy()
        return col[offsets]


def draw_rates(rng: np.random.Generator, first: date, last: date) -> tuple[pd.DataFrame, DailyRates]:
    """The rates the ECB publishes over [first, last], and the rate in effect on each of its days."""
    pub = published(simulate_rates(rng, first, last))
    eff = effective_rates(pub, first, last)
    eff["EUR"] = 1.0
    return pub, DailyRates(first, eff)

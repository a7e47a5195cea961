"""Money columns say their currency: in the stored tables, their declared schemas and what the UI shows.

The math is currency-agnostic and names an amount in the reporting currency ``<name>_usd`` (the
canonical suffix; USD is the default reporting currency). With ``ADPERF_REPORT_CURRENCY=EUR`` the
tables hold ``net_eur``, ``cost_eur``, ``ltv_per_user_eur``: the suffix is translated here, at the
boundary (schemas, the IO manager, direct reads), so no stored or shown column names a currency
its numbers are not in.
"""

from __future__ import annotations

import pandas as pd

from adperf_assets.settings import current_settings

#: The math's currency: amounts in the reporting currency are named as if it were this one.
CANONICAL_CURRENCY = "USD"
CANONICAL = "_usd"


def suffix(currency: str | None = None) -> str:
    return "_" + (currency or current_settings().report_currency).lower()


def stored_name(name: str, currency: str | None = None) -> str:
    """``net_usd`` -> ``net_eur`` in an EUR deployment; other names unchanged."""
    return name[: -len(CANONICAL)] + suffix(currency) if name.endswith(CANONICAL) else name


def to_stored(frame: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """The frame with its money columns named in the reporting currency (the same frame for USD)."""
    end = suffix(currency)
    if end == CANONICAL:
        return frame
    return frame.rename(columns={c: stored_name(c, currency) for c in frame.columns
                                 if isinstance(c, str) and c.endswith(CANONICAL)})


def to_canonical(frame: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """The inverse of ``to_stored``: a stored table's money columns as the math names them."""
    end = suffix(currency)
    if end == CANONICAL:
        return frame
    return frame.rename(columns={c: c[: -len(end)] + CANONICAL for c in frame.columns
                                 if isinstance(c, str) and c.endswith(end)})

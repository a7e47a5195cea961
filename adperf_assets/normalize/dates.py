"""Date columns read without needless conversion."""

from __future__ import annotations

import pandas as pd


def as_datetimes(values):
    """``pd.to_datetime(values)``, but a column that already holds datetimes (naive or zoned) is returned as
    it is: pandas 2.3 boxes every value into a Timestamp to probe its cache, only to return an equal copy."""
    return values if getattr(getattr(values, "dtype", None), "kind", "") == "M" else pd.to_datetime(values)

"""Whose postbacks: keeping the measured app's, when an export or a receiver holds several apps'.

A publisher's AppsFlyer Data Locker bucket and its postback receiver (one domain in every app's
``NSAdvertisingAttributionReportEndpoint``) collect the postbacks of all its apps. Another app's installs
counted as ours would inflate every modelled campaign, so rows are kept by App Store id: those of the
configured apps, or, with none configured, all of them only while they name one app.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

_ID = re.compile(r"(?:id)?(\d+)")


class SkanAppError(ValueError):
    """Postbacks of several apps and no app configured, or an id that is no App Store id."""


def app_store_id(value) -> str:
    """``id1234567890``, ``1234567890`` or the integer: the App Store id's digits."""
    m = _ID.fullmatch(str(value).strip())
    if m is None:
        raise SkanAppError(f"not an App Store id (digits, optionally after 'id'): {value!r}")
    return m.group(1)


def parse_app_ids(text: str) -> tuple[str, ...]:
    """``ADPERF_IOS_APP_IDS``: comma-separated App Store ids; "" = none configured."""
    return tuple(app_store_id(v) for v in text.split(",") if v.strip())


def ours(ids: pd.Series, apps: tuple[str, ...], what: str) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows are the measured app's, and how many rows each other app had. ``ids``: each row's App
    Store id as its source writes it; ``what`` names the source in the error."""
    seen = ids.fillna("").astype(str).str.strip().str.removeprefix("id")
    if not apps:
        named = Counter(seen)
        if len(named) > 1:
            listed = ", ".join(f"{k or '(empty)'}: {n}" for k, n in named.most_common())
            raise SkanAppError(f"{what}: postbacks of {len(named)} apps ({listed}); set ADPERF_IOS_APP_IDS to the "
                               "App Store id(s) of the app this project measures")
        return np.ones(len(ids), dtype=bool), {}
    keep = seen.isin(apps).to_numpy()
    return keep, dict(Counter(seen[~keep]).most_common())

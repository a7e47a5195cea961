"""Graph API usage headers: how close the app/ad account is to its rate limit, and the wait asked for.

Split out of :mod:`adperf_assets.defs.spend.facebook` (which re-exports these names); the client
uses them to slow down before the API throttles it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("adperf_assets.defs.spend.facebook")

USAGE_HEADERS = ("x-app-usage", "x-ad-account-usage", "x-business-use-case-usage", "x-fb-ads-insights-throttle")
_PCT_KEYS = ("call_count", "total_time", "total_cputime", "acc_id_util_pct", "app_id_util_pct")


@dataclass(frozen=True)
class Usage:
    """Highest utilisation (%) in the usage headers, and the wait the API asked for."""

    pct: float = 0.0
    regain_s: float = 0.0


def read_usage(headers: Any) -> Usage:
    """Parse the Graph API usage headers (JSON strings); unreadable ones are logged and ignored."""
    if not headers:
        return Usage()
    pct, regain_min = 0.0, 0.0
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            log.warning("ignoring unreadable %s header: %.200s", name, raw)
            continue
        # x-business-use-case-usage: {"<business id>": [{"type":..,"call_count":..,...}]}
        entries: list[Any] = [value]
        if name == "x-business-use-case-usage" and isinstance(value, dict):
            entries = [e for v in value.values() if isinstance(v, list) for e in v]
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for key in _PCT_KEYS:
                if isinstance(entry.get(key), (int, float)):
                    pct = max(pct, float(entry[key]))
            eta = entry.get("estimated_time_to_regain_access")
            if isinstance(eta, (int, float)):
                regain_min = max(regain_min, float(eta))
    return Usage(pct=pct, regain_s=regain_min * 60.0)

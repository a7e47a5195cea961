"""The sample world's ad networks: the real clients' interface, files instead of APIs.

More: docs/dagster_layer.md."""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Optional

from pydantic import Field

from adperf_assets.defs.common.throttle import AdsPull, AdsPullError
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.spend.network import SpendSource, as_date
from adperf_assets.sample.revisions import revision_factor

AS_OF_DESCRIPTION = (
    "The pull's 'today' (YYYY-MM-DD): days pulled soon after they happened show preliminary numbers. "
    "Default: today's date, at most the world's last day + 1."
)


def _pull_as_of(world: SampleWorld, as_of: Optional[str]) -> date:
    if as_of:
        return date.fromisoformat(as_of)
    return min(date.today(), world.last_day() + timedelta(days=1))


def _read_days(
    network: str,
    account_id: str,
    since: date | str,
    until: date | str,
    path_of: Callable[[date], Path],
    revise: Callable[[list[dict], float], list[dict]],
    as_of: date,
    factors: list[float],
) -> AdsPull:
    """All rows of the account-local days ``since..until`` as seen on ``as_of``."""
    since, until = as_date(since), as_date(until)
    if until < since:
        raise ValueError(f"until {until} is before since {since}")
    rows: list[dict] = []
    files = 0
    day = since
    while day <= until:
        factor = revision_factor(day, as_of, factors)
        path = path_of(day)
        if factor is not None and path.exists():
            files += 1
            try:
                with gzip.open(path, "rt", encoding="utf-8") as fh:
                    day_rows = json.load(fh)
                if not isinstance(day_rows, list):
                    raise ValueError(f"expected a JSON list of rows, got {type(day_rows).__name__}")
            except (OSError, EOFError, ValueError) as exc:
                raise AdsPullError(network, account_id, since, until, f"{path}: {exc}", 1) from None
            rows.extend(revise(day_rows, factor))
        day += timedelta(days=1)
    return AdsPull(rows=rows, retries_made=0, requests_made=files)


class SampleSource(SpendSource):
    """A network of the sample world: its day files, revised as seen on the pull's ``as_of``."""

    world: SampleWorld
    as_of: Optional[str] = Field(default=None, description=AS_OF_DESCRIPTION)

    def read_days(self, network: str, account_id: str, since: date | str, until: date | str,
                  path_of: Callable[[date], Path], revise: Callable[[list[dict], float], list[dict]]) -> AdsPull:
        return _read_days(network, account_id, since, until, path_of, revise, _pull_as_of(self.world, self.as_of),
                          self.world.manifest()["spend_revisions"]["factors"])

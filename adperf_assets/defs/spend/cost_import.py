"""Cost import: networks without an API send cost as CSV files into one folder; a registered network
like the others (``raw/cost_import_spend`` feeds ``ad_spend``).

The files (name, header, rules) are read and checked by :mod:`adperf_assets.normalize.cost_import`;
a bad value fails the run naming file, row and field. The real source is the folder
``ADPERF_COST_IMPORT_DIR``; the sample writes a two-week trial on a network without an API into
``$ADPERF_HOME/sample_cost_import/``. More: docs/networks.md ("Cost import").
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

from pydantic import Field

from adperf_assets.defs.common.throttle import AdsPull, AdsPullError
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.defs.spend.network import Network, SpendSource, as_date
from adperf_assets.normalize import cost_import as files

NAME = "cost_import"


def api_networks() -> frozenset[str]:
    """The registered networks pulled through an API (a cost file may not name them)."""
    from adperf_assets.defs.spend.registry import NETWORKS  # the registry imports this module

    return frozenset(n.name for n in NETWORKS if n.name != NAME)


class CostImportFolder(SpendSource):
    """A folder of cost CSVs (``<network>_<first day>[_<last day>].csv``, header ``normalize.cost_import.HEADER``)."""

    directory: str = Field(description="The folder the networks' cost files are put in (ADPERF_COST_IMPORT_DIR).")
    reserved_networks: list[str] = Field(default=[], description="Networks a file may not name (pulled by API).")

    def folder(self) -> Path:
        path = Path(self.directory)
        if not path.is_dir():
            raise AdsPullError("Cost import", "every account", None, None, f"folder {path} does not exist", 1)
        return path

    def accounts(self) -> list[dict]:
        return files.accounts(self.folder())

    def pull_rows(self, account_id: Optional[str], since: date, until: date) -> AdsPull:
        """Every row of report days ``since..until`` (the newest file per network and day)."""
        since, until = as_date(since), as_date(until)
        folder = self.folder()
        try:
            rows, notes = files.read_days(folder, since, until, frozenset(self.reserved_networks))
        except (files.CostImportError, OSError, UnicodeDecodeError) as exc:
            raise AdsPullError("Cost import", "every account", since, until, f"{folder}: {exc}", 1) from None
        return AdsPull(rows=rows, requests_made=len({r[files.SOURCE_FILE] for r in rows}), notes=tuple(notes))


#: The sample's network without an API: a 13-day trial from the sample world's second day, sent as two
#: range files and one corrected day (a re-import) — no installs in the world's MMP export come from it.
SAMPLE_NETWORK = "applovin_int"
SAMPLE_ACCOUNT = ["al-1", "Matcha AppLovin trial", "Asia/Tokyo", "JPY", "APP_INSTALLS", "trial-1", "Trial KR",
                  "trial-1-g", "Trial KR broad"]
SAMPLE_ADS = (("al-ad-1", "Video 15s"), ("al-ad-2", "Playable"))


class SampleCostImport(CostImportFolder):
    """The sample's cost files (``SAMPLE_NETWORK``), written into ``directory`` for the world on first use."""

    world: SampleWorld

    def folder(self) -> Path:
        path = Path(self.directory)
        stamp = self.world.first_day().isoformat()
        marker = path / ".world_first_day"
        if not (marker.is_file() and marker.read_text() == stamp):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.parent / f".{path.name}.lock", "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                if not (marker.is_file() and marker.read_text() == stamp):
                    write_sample_files(self.world.first_day(), path)
        return path


def sample_rows(first: date, days: int, scale: float = 1.0, trial_day: int = 0) -> list[str]:
    """Deterministic CSV rows from ``trial_day`` on: each ad's delivery grows over the trial (JPY, whole yen)."""
    lines = []
    for k in range(trial_day, trial_day + days):
        day = first + timedelta(days=k - trial_day)
        for j, (ad_id, ad_name) in enumerate(SAMPLE_ADS):
            impressions = 4000 + 350 * k + 900 * j
            cost = round(impressions * (11 + j) * scale / 10)  # ~1.1-1.2 yen per impression
            values = [day.isoformat(), SAMPLE_NETWORK, *SAMPLE_ACCOUNT, ad_id, ad_name,
                      impressions, impressions // 90, (k + j) % 4, cost]
            lines.append(",".join(str(v) for v in values))
    return lines


def write_sample_files(world_first: date, out: Path) -> None:
    """A week's file and a six-day file from the world's second day, then the first week's day 4 sent
    again, corrected (+5 %)."""
    header = ",".join(files.HEADER)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        start = world_first + timedelta(days=1)
        for week, days in ((0, 7), (1, 6)):  # the trial ends after 13 days
            first, last = start + timedelta(days=7 * week), start + timedelta(days=7 * week + days - 1)
            (tmp / f"{SAMPLE_NETWORK}_{first}_{last}.csv").write_text(
                "\n".join([header, *sample_rows(first, days, trial_day=7 * week)]) + "\n")
        corrected = start + timedelta(days=3)
        again = tmp / f"{SAMPLE_NETWORK}_{corrected}.csv"
        again.write_text("\n".join([header, *sample_rows(corrected, 1, scale=1.05, trial_day=3)]) + "\n")
        later = (tmp / f"{SAMPLE_NETWORK}_{start}_{start + timedelta(days=6)}.csv").stat().st_mtime + 60
        os.utime(again, (later, later))  # imported after the week's file: it replaces that day
        (tmp / ".world_first_day").write_text(world_first.isoformat())
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _real(settings) -> CostImportFolder:
    if not settings.cost_import_dir:
        raise ValueError("ADPERF_REAL_SOURCES names cost_import but ADPERF_COST_IMPORT_DIR (the folder of cost files)"
                         " is not set")
    return CostImportFolder(directory=settings.cost_import_dir, reserved_networks=sorted(api_networks()))


NETWORK = Network(
    name=NAME,
    label="Cost import",
    resource_key="cost_import",
    real=_real,
    sample=lambda world, settings: SampleCostImport(world=world, directory=str(settings.home / "sample_cost_import"),
                                                    reserved_networks=sorted(api_networks())),
    to_frame=files.cost_import_daily,
    description="Cost per report day and ad of the networks without an API, from the CSV files in the cost-import"
                " folder (one per network and day or range; the newest file of a day replaces older ones);"
                " ``network`` is the file's network.",
    granularity="daily",
    env_vars=("ADPERF_COST_IMPORT_DIR",),
)


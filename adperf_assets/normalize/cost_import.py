"""Cost files for networks without an API: a folder of CSVs in the unified vocabulary → daily rows.

One file per network and day or range, named ``<network>_<first day>[_<last day>].csv``, with the
header :data:`HEADER` (docs/networks.md, "Cost import"). Every value is checked; a bad one is a
:class:`CostImportError` naming file, row and field — a row is never dropped. A file imported again
(or a newer file covering the same days) replaces those days: for each network and day, the rows of
the newest file covering it count, older files' rows for that day are not added to them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from adperf_assets.normalize.spend import DAILY_COLUMNS, decimal_to_micros

#: The header of every cost file, in this order (the unified ``ad_spend`` columns without the
#: report-currency cost, which is converted here at the day's rate).
HEADER = ["report_date", "network", "account_id", "account_name", "account_timezone", "account_currency",
          "objective", "campaign_id", "campaign_name", "ad_group_id", "ad_group_name", "ad_id", "ad_name",
          "impressions", "clicks", "installs", "cost_local"]
#: Columns that may be empty (names, the objective); every other one must hold a value.
OPTIONAL = frozenset({"account_name", "objective", "campaign_name", "ad_group_name", "ad_name"})
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

_NAME = re.compile(r"^(?P<network>[a-z][a-z0-9_]*?)_(?P<first>\d{4}-\d{2}-\d{2})(?:_(?P<last>\d{4}-\d{2}-\d{2}))?\.csv$")
_INT = re.compile(r"\d{1,18}")
_NUMBER = re.compile(r"\d{1,12}(\.\d{1,6})?")
_CURRENCY = re.compile(r"[A-Z]{3}")


class CostImportError(ValueError):
    """A cost file that cannot be read; names the file, the row (1 = first row under the header) and the field."""

    def __init__(self, file: str, row: int | None, field: str | None, problem: str, value: object = None):
        where = ", ".join([file, *([f"row {row}"] if row is not None else []),
                           *([f"field {field!r}"] if field is not None else [])])
        super().__init__(f"{where}: {problem}" + (f" (got {value!r})" if value is not None else ""))
        self.file, self.row, self.field = file, row, field


@dataclass(frozen=True)
class CostFile:
    """A cost file's name read: whose days it holds. ``order`` ranks imports (newest last)."""

    path: Path
    network: str
    first: date
    last: date
    order: tuple

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


def parse_name(path: Path, order: tuple = ()) -> CostFile:
    m = _NAME.match(path.name)
    if m is None:
        raise CostImportError(path.name, None, None, "the name must be <network>_<YYYY-MM-DD>[_<YYYY-MM-DD>].csv")
    try:
        first = date.fromisoformat(m["first"])
        last = date.fromisoformat(m["last"] or m["first"])
    except ValueError as exc:
        raise CostImportError(path.name, None, None, f"the days in the name are not dates: {exc}") from None
    if last < first:
        raise CostImportError(path.name, None, None, f"the last day {last} is before the first {first}")
    return CostFile(path, m["network"], first, last, order or (path.stat().st_mtime_ns, path.name))


def cost_files(directory: Path) -> list[CostFile]:
    """Every ``*.csv`` of the folder, oldest import first (modification time, then name)."""
    return sorted((parse_name(p) for p in Path(directory).glob("*.csv")), key=lambda f: f.order)


def read_file(f: CostFile) -> list[dict]:
    """A file's rows as strings, each with its file and row; the header and every value checked."""
    name = f.path.name
    with open(f.path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise CostImportError(name, None, None, "the file is empty (no header)")
        header = [h.strip() for h in header]
        missing = [c for c in HEADER if c not in header]
        extra = [c for c in header if c not in HEADER]
        if missing or extra or header != HEADER:
            raise CostImportError(name, None, None, f"the header must be {','.join(HEADER)}"
                                  + (f"; missing {missing}" if missing else "")
                                  + (f"; unknown {extra}" if extra else "")
                                  + ("; columns out of order" if not (missing or extra) else ""))
        rows = []
        for i, values in enumerate(reader, start=1):
            if not values or values == [""]:
                continue  # a trailing blank line
            if len(values) != len(HEADER):
                raise CostImportError(name, i, None, f"{len(values)} values, the header has {len(HEADER)}")
            row = {c: v.strip() for c, v in zip(HEADER, values)}
            _check_row(f, i, row)
            rows.append({**row, SOURCE_FILE: name, SOURCE_ROW: i})
    return rows


def _check_row(f: CostFile, i: int, row: dict) -> None:
    name = f.path.name
    for col in HEADER:
        if col not in OPTIONAL and row[col] == "":
            raise CostImportError(name, i, col, "is empty")
    try:
        day = date.fromisoformat(row["report_date"])
    except ValueError:
        raise CostImportError(name, i, "report_date", "is not a YYYY-MM-DD date", row["report_date"]) from None
    if not f.covers(day):
        raise CostImportError(name, i, "report_date", f"is outside the file's days {f.first}..{f.last}", row["report_date"])
    if row["network"] != f.network:
        raise CostImportError(name, i, "network", f"is not the file's network {f.network!r}", row["network"])
    if not _CURRENCY.fullmatch(row["account_currency"]):
        raise CostImportError(name, i, "account_currency", "is not a three-letter currency code", row["account_currency"])
    try:
        ZoneInfo(row["account_timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise CostImportError(name, i, "account_timezone", "is not an IANA time zone", row["account_timezone"]) from None
    for col in ("impressions", "clicks"):
        if not _INT.fullmatch(row[col]):
            raise CostImportError(name, i, col, "is not a whole number >= 0", row[col])
    for col in ("installs", "cost_local"):
        if not _NUMBER.fullmatch(row[col]):
            raise CostImportError(name, i, col, "is not a number >= 0 with at most 6 decimals", row[col])


def read_days(directory: Path, first: date, last: date, reserved: frozenset[str] = frozenset()
              ) -> tuple[list[dict], list[str]]:
    """The rows of report days ``first..last``: per network and day the newest file's rows.

    ``reserved``: networks pulled through their API, which a file may not name (their cost would
    count twice). Returns (rows, notes); a note names each file whose days a newer file replaced."""
    files = [f for f in cost_files(directory) if f.first <= last and f.last >= first]
    for f in files:
        if f.network in reserved:
            raise CostImportError(f.path.name, None, None, f"network {f.network!r} is pulled through its API;"
                                  " a cost file may only name a network without one")
    winners: dict[tuple[str, date], CostFile] = {}
    notes = []
    for day in pd.date_range(first, last).date:
        for f in files:  # oldest import first: the newest file covering the day wins
            if f.covers(day):
                if (f.network, day) in winners:
                    notes.append(f"{day} {f.network}: {f.path.name} replaces {winners[f.network, day].path.name}")
                winners[f.network, day] = f
    content = {f.path: read_file(f) for f in {id(f): f for f in winners.values()}.values()}
    rows: list[dict] = []
    for (network, day), f in sorted(winners.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rows.extend(r for r in content[f.path] if r["report_date"] == day.isoformat())
    _no_duplicates(rows)
    return rows, notes


def _no_duplicates(rows: list[dict]) -> None:
    seen: dict[tuple, dict] = {}
    for r in rows:
        key = (r["report_date"], r["network"], r["account_id"], r["ad_id"])
        if key in seen:
            first = seen[key]
            raise CostImportError(r[SOURCE_FILE], r[SOURCE_ROW], "ad_id", f"the ad is already listed for"
                                  f" {r['report_date']} (row {first[SOURCE_ROW]}); one row per ad and day", r["ad_id"])
        seen[key] = r


def accounts(directory: Path) -> list[dict]:
    """Every account named in the folder's files (for the FX coverage check)."""
    seen: dict[tuple, dict] = {}
    for f in cost_files(directory):
        for r in read_file(f):
            seen.setdefault((r["network"], r["account_id"]), {
                "account_id": r["account_id"], "name": r["account_name"], "currency": r["account_currency"],
                "timezone_name": r["account_timezone"]})
    return list(seen.values())


def cost_import_daily(rows: list[dict], accounts: list[dict] | None = None) -> pd.DataFrame:
    """Checked cost-file rows → the daily frame :func:`~adperf_assets.normalize.spend.unify_daily` reads."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DAILY_COLUMNS}).astype(
            {"report_date": "datetime64[ns]", "impressions": "int64", "clicks": "int64", "installs": "float64",
             "cost_micros": "int64"})
    df = pd.DataFrame.from_records(rows)
    out = df[[c for c in HEADER if c not in ("cost_local",)]].copy()
    out["report_date"] = pd.to_datetime(out["report_date"]).astype("datetime64[ns]")
    out["impressions"] = out["impressions"].astype("int64")
    out["clicks"] = out["clicks"].astype("int64")
    out["installs"] = out["installs"].astype("float64")
    out["cost_micros"] = decimal_to_micros(df["cost_local"], "cost import", "cost_local")
    return out[DAILY_COLUMNS]

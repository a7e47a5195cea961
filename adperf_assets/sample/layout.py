"""Where each file of a sample world lives, shared by the generator and the sample resources.

A world is a folder that looks like what each real system would hand us:

- ``world.json``                                   manifest: config, accounts, ad catalog, revisions
- ``fx/eurofxref-hist.csv``                        ECB reference rates (business days, newest first)
- ``facebook/accounts.json``                       AdAccount objects (Graph API fields)
- ``facebook/insights/<account_id>/<day>.json.gz`` level=ad hourly insights rows for one account-local day
- ``google_ads/customers.json``                    customer rows (GAQL field paths)
- ``google_ads/search_stream/<customer_id>/<day>.json.gz``  GAQL rows for one account-local day
- ``mmp/appsflyer/installs_report/<day>.csv``      AppsFlyer raw installs (non-organic), UTC day of Install Time
- ``mmp/appsflyer/organic_installs_report/<day>.csv``
- ``mmp/adjust/installs/<day>.csv``                Adjust CSV export, same installs
- ``app.db``                                       the app's SQLite database (users, payments)
- ``events/logins/<day>.parquet``                  login events, UTC day
- ``events/matches/<day>.parquet``                 match request/start/end events, UTC day
- ``truth/*.parquet``                              what the estimates are checked against
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

MANIFEST = "world.json"
FX_FILE = "fx/eurofxref-hist.csv"
APP_DB = "app.db"


def manifest(root: Path) -> Path:
    return Path(root) / MANIFEST


def fx_file(root: Path) -> Path:
    return Path(root) / FX_FILE


def app_db(root: Path) -> Path:
    return Path(root) / APP_DB


def facebook_accounts(root: Path) -> Path:
    return Path(root) / "facebook" / "accounts.json"


def facebook_insights(root: Path, account_id: str, day: date) -> Path:
    return Path(root) / "facebook" / "insights" / str(account_id) / f"{day.isoformat()}.json.gz"


def google_customers(root: Path) -> Path:
    return Path(root) / "google_ads" / "customers.json"


def google_rows(root: Path, customer_id: str, day: date) -> Path:
    return Path(root) / "google_ads" / "search_stream" / str(customer_id) / f"{day.isoformat()}.json.gz"


def appsflyer_report(root: Path, report: str, day: date) -> Path:
    """``report`` is ``installs_report`` or ``organic_installs_report`` (AppsFlyer's names)."""
    return Path(root) / "mmp" / "appsflyer" / report / f"{day.isoformat()}.csv"


def adjust_installs(root: Path, day: date) -> Path:
    return Path(root) / "mmp" / "adjust" / "installs" / f"{day.isoformat()}.csv"


def events_dir(root: Path, kind: str) -> Path:
    """``kind`` is ``logins`` or ``matches``; one Parquet file per UTC day inside."""
    return Path(root) / "events" / kind


def events_file(root: Path, kind: str, day: date) -> Path:
    return events_dir(root, kind) / f"{day.isoformat()}.parquet"


def truth(root: Path, name: str) -> Path:
    return Path(root) / "truth" / f"{name}.parquet"

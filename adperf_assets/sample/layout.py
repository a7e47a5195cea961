"""Where each file of a sample world lives, shared by the generator and the sample resources.

A world is a folder that looks like what each real system would hand us; docs/sample_world.md lists
its files.
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


def tiktok_advertisers(root: Path) -> Path:
    """``advertiser/info`` rows of the world's TikTok advertisers."""
    return Path(root) / "tiktok" / "advertisers.json"


def tiktok_report(root: Path, advertiser_id: str, day: date) -> Path:
    """``report/integrated/get`` rows (by ad and hour) of one advertiser-local day."""
    return Path(root) / "tiktok" / "report" / str(advertiser_id) / f"{day.isoformat()}.json.gz"


def apple_ads_accounts(root: Path) -> Path:
    """The world's Apple Ads ad accounts (org id, name, currency, time zone)."""
    return Path(root) / "apple_ads" / "accounts.json"


def apple_ads_report(root: Path, account_id: str, day: date) -> Path:
    """Keyword report rows (one per keyword and day) of one org-local day."""
    return Path(root) / "apple_ads" / "keywords" / str(account_id) / f"{day.isoformat()}.json.gz"


def appsflyer_report(root: Path, report: str, day: date) -> Path:
    """``report`` is ``installs_report`` or ``organic_installs_report`` (AppsFlyer's names)."""
    return Path(root) / "mmp" / "appsflyer" / report / f"{day.isoformat()}.csv"


def appsflyer_skad_postbacks(root: Path, day: date) -> Path:
    """AppsFlyer's SKAN raw postbacks (Data Locker topic ``skad_postbacks``) by UTC arrival day."""
    return Path(root) / "mmp" / "appsflyer" / "skad_postbacks" / f"{day.isoformat()}.csv"


def google_skan_rows(root: Path, customer_id: str, day: date) -> Path:
    """GAQL rows with the SKAdNetwork segments of one customer's campaigns, by ``segments.date``."""
    return Path(root) / "google_ads" / "skan" / str(customer_id) / f"{day.isoformat()}.json.gz"


def apple_postback_copies(root: Path, day: date) -> Path:
    """Apple's winning-postback copies (SKAN 4 / AdAttributionKit bodies) as the advertiser's receiver
    writes them: JSON lines ``{"received_at", "body"}`` by UTC arrival day."""
    return Path(root) / "apple_skan" / "copies" / f"{day.isoformat()}.jsonl"


def apple_postback_keys(root: Path) -> Path:
    """The world's stand-in for Apple's public keys (kid → base64 DER) that sign its copies."""
    return Path(root) / "apple_skan" / "keys.json"


def adjust_installs(root: Path, day: date) -> Path:
    return Path(root) / "mmp" / "adjust" / "installs" / f"{day.isoformat()}.csv"


def events_dir(root: Path, kind: str) -> Path:
    """``kind`` is ``logins`` or ``matches``; one Parquet file per UTC day inside."""
    return Path(root) / "events" / kind


def events_file(root: Path, kind: str, day: date) -> Path:
    return events_dir(root, kind) / f"{day.isoformat()}.parquet"


# The files under truth/ (docs/sample_world.md says what each holds).
TRUTH_FILES = ("spend", "users", "user_value", "retention_by_segment", "cohort_ltv", "purchases", "ads", "ad_value",
              "skan")


def truth(root: Path, name: str) -> Path:
    if name not in TRUTH_FILES:
        raise ValueError(f"unknown truth file {name!r}; known: {', '.join(TRUTH_FILES)}")
    return Path(root) / "truth" / f"{name}.parquet"

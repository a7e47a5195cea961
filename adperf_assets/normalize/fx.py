"""Daily FX rates from the ECB reference file, and conversion rates per (day, currency).

A day without a published rate uses the last one before it and says so (``is_carried_forward``,
``rate_date``); a currency never published is an error, never a constant fallback rate. The file's
format and the rules: docs/normalization.md ("FX rates").
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

ECB_CSV_NAME = "eurofxref-hist.csv"

#: ISO 4217 currencies with no minor unit (amounts are rounded to whole units).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)

FX_COLUMNS = ["rate_date", "currency", "eur_rate"]


class FxRateError(ValueError):
    """A conversion rate is missing; ``missing`` lists (date, currency, reason)."""

    def __init__(self, message: str, missing: pd.DataFrame):
        super().__init__(message)
        self.missing = missing
        self.currencies = sorted(missing["currency"].unique().tolist())


def minor_unit_digits(currency: str) -> int:
    """Decimal places money in ``currency`` is rounded to."""
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def read_ecb_history(source: str | Path | bytes) -> pd.DataFrame:
    """Tidy rates from an ECB ``eurofxref-hist`` file: a .csv/.zip path or its bytes."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        data = path.read_bytes()
        name = str(path)
    else:
        data, name = bytes(source), "<bytes>"
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [m for m in zf.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise ValueError(f"{name}: expected one .csv in the ECB zip, found {members}")
            data, name = zf.read(members[0]), f"{name}!{members[0]}"
    return parse_ecb_csv(data.decode("utf-8-sig"), source_name=name)


def parse_ecb_csv(text: str, *, source_name: str = "eurofxref-hist.csv") -> pd.DataFrame:
    """Parse the ECB CSV text into ``rate_date, currency, eur_rate`` (sorted, no N/A rows).

    ``rate_date`` is datetime64 (midnight); ``eur_rate`` is units of
    ``currency`` per 1 EUR. EUR itself is not in the file and not added.
    """
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    if raw.columns.empty or raw.columns[0].strip() != "Date":
        raise ValueError(f"{source_name}: first column must be 'Date', header is {list(raw.columns)}")
    # The trailing comma of every line makes an unnamed, empty last column.
    unnamed = [c for c in raw.columns if c.startswith("Unnamed:") or c.strip() == ""]
    for col in unnamed:
        filled = raw[col].str.strip() != ""
        if filled.any():
            row = int(np.flatnonzero(filled.to_numpy())[0])
            raise ValueError(f"{source_name}: row {row + 2} has a value in an unnamed column: {raw[col].iloc[row]!r}")
    raw = raw.drop(columns=unnamed)
    raw.columns = [c.strip() for c in raw.columns]
    currencies = raw.columns[1:]
    bad = [c for c in currencies if not (len(c) == 3 and c.isalpha() and c.isupper())]
    if bad:
        raise ValueError(f"{source_name}: header has non-currency column(s) {bad}")
    if raw.columns.duplicated().any():
        raise ValueError(f"{source_name}: duplicate currency columns {list(raw.columns[raw.columns.duplicated()])}")

    dates = pd.to_datetime(raw["Date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise ValueError(f"{source_name}: row {row + 2} field 'Date' is not YYYY-MM-DD: {raw['Date'].iloc[row]!r}")
    dup = dates.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{source_name}: row {row + 2} repeats date {raw['Date'].iloc[row]}")

    long = (
        raw.assign(Date=dates, _row=np.arange(len(raw)) + 2)
        .melt(id_vars=["Date", "_row"], var_name="currency", value_name="text")
    )
    long["text"] = long["text"].str.strip()
    long = long[(long["text"] != "N/A") & (long["text"] != "")]
    rate = pd.to_numeric(long["text"], errors="coerce")
    bad = rate.isna() | ~(rate > 0) | ~np.isfinite(rate)
    if bad.any():
        r = long[bad].iloc[0]
        raise ValueError(f"{source_name}: row {r['_row']} field {r['currency']!r} is not a positive rate: {r['text']!r}")
    tidy = pd.DataFrame(
        {"rate_date": long["Date"].to_numpy(), "currency": long["currency"].to_numpy(), "eur_rate": rate.to_numpy(float)}
    )
    return tidy.sort_values(["currency", "rate_date"], kind="stable").reset_index(drop=True)


def _as_day(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values), errors="raise").dt.tz_localize(None).dt.normalize()


def _eur_rates_on(
    days: pd.Series, currencies: pd.Series, fx: pd.DataFrame, max_carry_days: int | None
) -> pd.DataFrame:
    """Units of currency per EUR on each day, carried forward; NaN + reason if missing."""
    query = pd.DataFrame({"day": _as_day(days).to_numpy(), "currency": currencies.astype(str).str.upper().to_numpy()})
    query["_pos"] = np.arange(len(query))
    is_eur = query["currency"] == "EUR"
    found = pd.merge_asof(
        query[~is_eur].sort_values("day"),
        fx[FX_COLUMNS].rename(columns={"rate_date": "day_published"}).assign(day=lambda f: f["day_published"]).sort_values("day"),
        on="day",
        by="currency",
        direction="backward",
    )
    eur = query[is_eur].assign(eur_rate=1.0, day_published=query.loc[is_eur, "day"])
    out = pd.concat([found, eur]).sort_values("_pos").reset_index(drop=True)
    known = set(fx["currency"].unique())
    out["reason"] = None
    never = ~out["currency"].isin(known) & (out["currency"] != "EUR")
    before_first = out["eur_rate"].isna() & ~never
    out.loc[never, "reason"] = "currency never published in the FX source"
    out.loc[before_first, "reason"] = "no rate published on or before this day"
    if max_carry_days is not None:
        stale = out["eur_rate"].notna() & ((out["day"] - out["day_published"]).dt.days > max_carry_days)
        out.loc[stale, "reason"] = (
            "last rate published " + out.loc[stale, "day_published"].dt.strftime("%Y-%m-%d")
            + f", more than {max_carry_days} days before"
        )
        out.loc[stale, "eur_rate"] = np.nan
    return out


def conversion_rates(
    days,
    currencies,
    fx: pd.DataFrame,
    report_currency: str,
    *,
    max_carry_days: int | None = 10,
    on_missing: Literal["raise", "nan"] = "raise",
) -> pd.DataFrame:
    """Rate to turn 1 unit of ``currency`` into ``report_currency`` on each ``day``.

    Cross rate via EUR: ``rate = eur_rate[report] / eur_rate[currency]``, each
    the rate of that day or the last one published before it. Returns one row
    per input pair (same order): ``day, currency, rate, rate_date,
    is_carried_forward`` where ``rate_date`` is the older of the two
    publication days used. A rate carried more than ``max_carry_days`` counts
    as missing (a currency the ECB stopped publishing must not be frozen
    forever). Missing → :class:`FxRateError` naming currency and day, or NaN
    rows with ``on_missing="nan"`` (the asset check then names them).
    """
    days = pd.Series(days).reset_index(drop=True)
    currencies = pd.Series(currencies).reset_index(drop=True)
    if len(days) != len(currencies):
        raise ValueError("days and currencies must have the same length")
    report_currency = report_currency.upper()
    local = _eur_rates_on(days, currencies, fx, max_carry_days)
    report = _eur_rates_on(days, pd.Series([report_currency] * len(days)), fx, max_carry_days)
    out = pd.DataFrame({"day": local["day"], "currency": local["currency"]})
    same = (out["currency"] == report_currency).to_numpy()
    out["rate"] = np.where(same, 1.0, report["eur_rate"] / local["eur_rate"])
    rate_date = np.minimum(local["day_published"].to_numpy(), report["day_published"].to_numpy())
    out["rate_date"] = np.where(same, out["day"].to_numpy(), rate_date)
    out["rate_date"] = pd.to_datetime(out["rate_date"])
    report_reason = report["reason"].where(report["reason"].isna(), f"{report_currency}: " + report["reason"].fillna(""))
    reason = local["reason"].where(local["reason"].notna(), report_reason)
    reason[same] = None
    lacking = reason.notna().to_numpy()
    out.loc[lacking, "rate"] = np.nan
    out.loc[lacking, "rate_date"] = pd.NaT
    out["is_carried_forward"] = (out["rate_date"] < out["day"]).fillna(False).astype(bool)

    if reason.notna().any():
        missing = (
            pd.DataFrame({"day": out["day"], "currency": out["currency"], "reason": reason})[reason.notna()]
            .drop_duplicates()
            .reset_index(drop=True)
        )
        if on_missing == "raise":
            raise FxRateError(describe_missing(missing, report_currency), missing)
        if on_missing != "nan":
            raise ValueError(f"on_missing must be 'raise' or 'nan', got {on_missing!r}")
    return out


def missing_rates(days, currencies, fx: pd.DataFrame, report_currency: str, *, max_carry_days: int | None = 10) -> pd.DataFrame:
    """(day, currency, reason) pairs that have no usable rate; empty if all are fine."""
    try:
        conversion_rates(days, currencies, fx, report_currency, max_carry_days=max_carry_days)
    except FxRateError as exc:
        return exc.missing
    return pd.DataFrame({"day": pd.Series(dtype="datetime64[ns]"), "currency": pd.Series(dtype=str), "reason": pd.Series(dtype=str)})


def describe_missing(missing: pd.DataFrame, report_currency: str) -> str:
    """One readable sentence per missing currency, e.g. for a failed check."""
    parts = []
    for currency, grp in missing.groupby("currency", sort=True):
        days = sorted(grp["day"].dt.strftime("%Y-%m-%d").unique())
        shown = ", ".join(days[:5]) + (f" (+{len(days) - 5} more)" if len(days) > 5 else "")
        parts.append(f"{currency} -> {report_currency} on {shown}: {grp['reason'].iloc[0]}")
    return "no FX rate for " + "; ".join(parts)


def convert(amounts, days, currencies, fx: pd.DataFrame, report_currency: str, **kwargs) -> pd.Series:
    """``amounts`` in ``currencies`` converted to ``report_currency``, rounded to its minor unit."""
    rates = conversion_rates(days, currencies, fx, report_currency, **kwargs)
    value = pd.Series(amounts).reset_index(drop=True).astype(float) * rates["rate"]
    return value.round(minor_unit_digits(report_currency))


def rate_on(day: date, currency: str, fx: pd.DataFrame, report_currency: str, **kwargs) -> float:
    """One conversion rate (convenience for tests and sample-world truth)."""
    return float(conversion_rates([day], [currency], fx, report_currency, **kwargs)["rate"].iloc[0])

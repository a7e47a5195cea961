"""The keys an install's postbacks carry (its first postback's fine or coarse value, and its latest later
postback's coarse value), and the keys a user whose behaviour the app knows would send: what
``SkanDecoder`` learns values for and predicts from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.skan import schema

NULL_KEY = "null"
#: The decoder's later value of an install without a later postback ("" in the keys): a key of its own, since
#: only users who opened the app in a later window send that window's postback.
NO_LATER = "none"
#: The later value of an install whose postbacks are SKAdNetwork 3.0 or older: no later window exists, so
#: whether the user came back is not known (the decoder gives it its first key's mean over every user).
LATER_UNKNOWN = "?"


def first_key(fine: pd.Series, coarse: pd.Series) -> pd.Series:
    """``f<cv>`` for a fine value, ``c<level>`` for a coarse one, ``null`` for neither."""
    f = pd.to_numeric(fine, errors="coerce")
    out = np.where(f.notna(), "f" + f.fillna(-1).astype(int).astype(str),
                   np.where(coarse.fillna("") != "", "c" + coarse.fillna(""), NULL_KEY))
    return pd.Series(out, index=fine.index)


def later_key(window: pd.Series, coarse: pd.Series) -> pd.Series:
    """``w<index>:<coarse>`` of the latest later postback, ``""`` when none arrived."""
    w = pd.to_numeric(window, errors="coerce")
    return pd.Series(np.where(w.notna() & (coarse.fillna("") != ""),
                              "w" + w.fillna(0).astype(int).astype(str) + ":" + coarse.fillna(""), ""),
                     index=window.index)


def install_keys(postbacks: pd.DataFrame) -> pd.DataFrame:
    """One row per install (winning, not redownload): network, campaign, key, later key, first arrival.
    ``postbacks``: the ``skan_postbacks`` table (without ``version``, every postback is taken as 4.0)."""
    p = postbacks[postbacks["did_win"] & ~postbacks["redownload"]]
    first = p[p["postback_sequence_index"] == 0]
    later = p[p["postback_sequence_index"] > 0].sort_values("postback_sequence_index")
    later = later.drop_duplicates(["network", "transaction_id"], keep="last")
    out = first[["network", "campaign_id", "ad_group_id", "ad_id", "source_identifier", "transaction_id",
                 "arrival_time_utc"]].copy()
    out["key"] = first_key(first["fine_conversion_value"], first["coarse_conversion_value"]).to_numpy()
    # each install's latest later postback (its row in ``later``, -1 for none), by one code per
    # (network, transaction) pair
    code = [pd.factorize(pd.concat([out[c], later[c]], ignore_index=True), use_na_sentinel=False)[0]
            for c in ("network", "transaction_id")]
    pair = code[0].astype(np.int64) * (int(code[1].max(initial=0)) + 1) + code[1]
    row = pd.Index(pair[len(out):]).get_indexer(pair[:len(out)])
    found, at = row >= 0, np.maximum(row, 0)

    def of_later(col: str) -> pd.Series:
        vals = later[col].to_numpy(dtype=object)
        return pd.Series(np.where(found, vals[at], np.nan) if len(vals) else np.full(len(out), np.nan),
                         index=out.index, dtype=object)

    out["later"] = later_key(of_later("postback_sequence_index"), of_later("coarse_conversion_value")).to_numpy()
    if "version" in first:
        out.loc[schema.before_skan_4(first["version"]), "later"] = LATER_UNKNOWN
    out.loc[out["key"] == NULL_KEY, "later"] = ""
    return out.reset_index(drop=True)


def user_keys(revenue_usd: list, purchases, returned, active: list | None = None) -> pd.DataFrame:
    """The keys a tracked user's postbacks would carry at each tier: ``fine`` (tier >= 2), ``coarse``
    (tier 1) and the later key; ``revenue_usd``: gross revenue through the end of each window;
    ``active``: per later window, whether the user opened the app in it (its postback is sent only then;
    every user when None). The later key is that of the last window with a postback, "" when none."""
    fine = schema.fine_value(revenue_usd[0], purchases, returned)
    c0 = schema.coarse_value(revenue_usd[0], 0)
    later = np.full(len(fine), "", dtype=object)
    for w in range(1, len(revenue_usd)):
        sent = np.ones(len(fine), dtype=bool) if active is None else np.asarray(active[w - 1], dtype=bool)
        later[sent] = [f"w{w}:{v}" for v in schema.coarse_value(np.asarray(revenue_usd[w])[sent], w)]
    return pd.DataFrame({"fine": "f" + pd.Series(fine).astype(str), "coarse": "c" + pd.Series(c0), "later": later})

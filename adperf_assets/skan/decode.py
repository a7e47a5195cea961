"""Decoding SKAN postbacks into modelled installs and return per campaign, each with its interval.

An install's postbacks give a *key*: its first postback's fine value (tier >= 2), else its coarse value
(tier 1), plus the coarse value of its latest later postback; tier 0 gives no key. ``SkanDecoder.fit``
learns the value of each key from the users who allowed tracking (whose behaviour, hence key, is known
exactly), shrinking sparse keys to their parent (fine value → its coarse value → everyone).
``predict`` then estimates, per campaign, the value of the installs the MMP could not show:

    rest = R_c × Σ_rest pred(key),  R_c = Σ_consenting value / Σ_consenting pred(key)

a ratio estimator: the key ranks installs, the campaign's own consenting users scale it (so a campaign's
quality, which the schema does not see, is kept); a campaign's ratio is shrunk to the calibration's (1)
by empirical Bayes, since a few whales among its tracked users make it noisy. Keyless installs (tier 0) get the campaign's mean keyed
prediction: nulls modelled from the campaign's non-null share. Consent is assumed independent of value.
The interval is normal: the ratio's sampling error plus the rest's own noise around its expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from adperf_assets.skan import schema

NULL_KEY = "null"


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
    ``postbacks``: the ``skan_postbacks`` table."""
    p = postbacks[postbacks["did_win"] & ~postbacks["redownload"]]
    first = p[p["postback_sequence_index"] == 0]
    later = p[p["postback_sequence_index"] > 0].sort_values("postback_sequence_index")
    later = later.drop_duplicates(["network", "transaction_id"], keep="last")
    out = first[["network", "campaign_id", "ad_group_id", "ad_id", "source_identifier", "transaction_id",
                 "arrival_time_utc"]].copy()
    out["key"] = first_key(first["fine_conversion_value"], first["coarse_conversion_value"]).to_numpy()
    lk = later.set_index(["network", "transaction_id"])
    idx = pd.MultiIndex.from_frame(out[["network", "transaction_id"]])
    out["later"] = later_key(lk["postback_sequence_index"].reindex(idx), lk["coarse_conversion_value"].reindex(idx)).to_numpy()
    out.loc[out["key"] == NULL_KEY, "later"] = ""
    return out.reset_index(drop=True)


def user_keys(revenue_usd: list, purchases, returned) -> pd.DataFrame:
    """The keys a tracked user's postbacks would carry at each tier: ``fine`` (tier >= 2), ``coarse``
    (tier 1) and the later key; ``revenue_usd``: gross revenue through the end of each window."""
    fine = schema.fine_value(revenue_usd[0], purchases, returned)
    c0 = schema.coarse_value(revenue_usd[0], 0)
    last = len(revenue_usd) - 1
    return pd.DataFrame({"fine": "f" + pd.Series(fine).astype(str), "coarse": "c" + pd.Series(c0),
                         "later": f"w{last}:" + pd.Series(schema.coarse_value(revenue_usd[last], last)) if last else ""})


@dataclass
class SkanDecoder:
    """Estimator of per-campaign modelled installs and return from SKAN postbacks (module docstring)."""

    level: float = 0.99
    shrink: float = 20.0  # pseudo-users of the parent key's mean in a key's mean
    min_between_var: float = 0.01  # floor of the between-campaign variance of the ratios (10% sd)

    def fit(self, calibration: pd.DataFrame) -> "SkanDecoder":
        """``calibration``: one row per tracked user: ``fine``, ``coarse``, ``later`` keys (``user_keys``)
        and ``value`` (the user's return at the horizon)."""
        c = calibration
        if c.empty:
            raise ValueError("SkanDecoder.fit needs tracked users to calibrate on (got none)")
        glob = float(c["value"].mean())
        table: dict[str, float] = {}

        def shrunk(groups: pd.DataFrame, parent: pd.Series) -> pd.Series:
            return (groups["sum"] + self.shrink * parent) / (groups["count"] + self.shrink)

        for col in ("coarse", "fine"):
            g = c.groupby(col)["value"].agg(["sum", "count"])
            if col == "coarse":
                parent = pd.Series(glob, index=g.index)
            else:
                parent = pd.Series([table.get("c" + schema.coarse_of_fine([int(k[1:])])[0], glob) for k in g.index],
                                   index=g.index)
            table.update(shrunk(g, parent).to_dict())
        for col in ("coarse", "fine"):
            g = c.groupby([col, "later"])["value"].agg(["sum", "count"])
            parent = pd.Series([table[k] for k, _ in g.index], index=g.index)
            table.update({f"{k}|{lk}": v for (k, lk), v in shrunk(g, parent).items() if lk})
        self.params_ = {"global": glob, "means": table, "users": len(c)}
        return self

    def predict_keys(self, key: pd.Series, later: pd.Series) -> np.ndarray:
        """Per install, the calibrated value of its key (NaN for keyless installs)."""
        m = self.params_["means"]
        both = [m.get(f"{k}|{lk}") if lk else None for k, lk in zip(key, later)]
        single = [m.get(k, self._unseen(k)) for k in key]
        out = np.array([b if b is not None else s for b, s in zip(both, single)], dtype=float)
        out[(key == NULL_KEY).to_numpy()] = np.nan
        return out

    def _unseen(self, key: str) -> float:
        """A key no tracked user had: its coarse parent's value, else the global mean."""
        if key.startswith("f"):
            return self.params_["means"].get("c" + schema.coarse_of_fine([int(key[1:])])[0], self.params_["global"])
        return self.params_["global"]

    def predict(self, installs: pd.DataFrame, tracked: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
        """Per group (default network, campaign): SKAN installs, tracked installs, modelled installs (a
        count: winning first postbacks minus tracked users, exact once every first postback has arrived),
        the rest's modelled return with its interval, the total return and the modelled share.

        ``installs``: ``install_keys`` rows; ``tracked``: one row per tracked user of those campaigns with
        the ``by`` columns, ``fine`` (their key as a fine value) and ``value``."""
        by = by or ["network", "campaign_id"]
        z = float(norm.ppf(0.5 + self.level / 2))
        inst = installs.assign(pred=self.predict_keys(installs["key"], installs["later"]))
        trk = tracked.assign(pred=self.predict_keys(tracked["fine"], tracked.get("later", pd.Series("", index=tracked.index))))
        rows = []
        for key, g in inst.groupby(by, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            t = trk[np.logical_and.reduce([trk[c] == v for c, v in zip(by, key)])] if len(trk) else trk
            keyed = g["pred"].dropna()
            mean_keyed = float(keyed.mean()) if len(keyed) else self.params_["global"]
            x_all = float(keyed.sum()) + mean_keyed * int(g["pred"].isna().sum())
            n_all, n_t = len(g), len(t)
            n_rest = max(n_all - n_t, 0)
            x_t, y_t = float(t["pred"].sum()), float(t["value"].sum())
            ratio = y_t / x_t if x_t > 0 else 1.0
            resid = (t["value"] - ratio * t["pred"]).to_numpy()
            s2 = float(np.var(resid, ddof=1)) if n_t > 1 else float(self.params_["global"] ** 2)
            x_bar = x_t / n_t if n_t else mean_keyed
            rows.append({**dict(zip(by, key)), "skan_installs": n_all, "tracked_installs": n_t,
                         "modelled_installs": n_rest, "tracked_return": y_t,
                         "_x_rest": max(x_all - x_t, 0.0) if n_rest else 0.0, "_ratio": ratio, "_s2": s2, "_x_t": x_t,
                         "_var_ratio": s2 / (max(n_t, 1) * max(x_bar, 1e-9) ** 2) if n_t else np.inf,
                         "null_share": float(g["pred"].isna().mean())})
        out = pd.DataFrame(rows)
        if out.empty:
            return out
        # a campaign's residual variance is at least the pooled one at its value level: a few tracked users
        # rarely show the whales of a heavy tail
        ybar = out["tracked_return"] / out["tracked_installs"].clip(lower=1)
        rel = out["_s2"] / (ybar ** 2).clip(lower=1e-12)
        pooled = float(np.average(rel, weights=out["tracked_installs"])) if out["tracked_installs"].sum() else 0.0
        out["_s2"] = np.maximum(out["_s2"], pooled * ybar ** 2)
        out["_var_ratio"] = np.where(out["tracked_installs"] > 0, out["_s2"] / (out["tracked_installs"].clip(lower=1)
                                     * (out["_x_t"] / out["tracked_installs"].clip(lower=1)).clip(lower=1e-9) ** 2),
                                     np.inf)
        # the campaigns' own ratios, shrunk to the calibration's (1) by how much they differ beyond noise
        finite = out[np.isfinite(out["_var_ratio"])]
        tau2 = max(float(np.var(finite["_ratio"], ddof=1) - finite["_var_ratio"].mean()) if len(finite) > 2 else 0.0,
                   self.min_between_var)
        w = tau2 / (tau2 + out["_var_ratio"])
        ratio = w * out["_ratio"] + (1 - w) * 1.0
        var = out["_x_rest"] ** 2 * (w * out["_var_ratio"]).fillna(tau2) + out["modelled_installs"] * out["_s2"]
        rest = ratio * out["_x_rest"]
        half = z * np.sqrt(var)
        out["modelled_return"] = rest
        out["modelled_return_low"] = np.maximum(rest - half, 0.0)
        out["modelled_return_high"] = rest + half
        out["total_return"] = out["tracked_return"] + rest
        out["total_return_low"] = out["tracked_return"] + out["modelled_return_low"]
        out["total_return_high"] = out["tracked_return"] + out["modelled_return_high"]
        total = out["total_return"].to_numpy()
        out["modelled_share"] = np.divide(rest, total, out=np.zeros(len(out)), where=total > 0)
        out["ratio"] = ratio
        return out.drop(columns=["_x_rest", "_ratio", "_s2", "_var_ratio", "_x_t"])


"""Decoding SKAN postbacks into modelled installs and return per campaign, each with its interval.

An install's postbacks give a *key*: its first postback's fine value (tier >= 2), else its coarse value
(tier 1), plus the coarse value of its latest later postback, or ``none`` when no later postback came (a
user who did not open the app after day 2 sends none: a key of its own); tier 0 gives no key. ``SkanDecoder.fit``
learns the value of each key from the users whose behaviour, hence key, the app knows: those who allowed
tracking and, where the MMP lists them without their campaign (AppsFlyer's ``restricted``), the others,
shrinking sparse keys to their parent (fine value → its coarse value → everyone; a key with a
later value → that later value → everyone).
``predict`` then estimates, per campaign, the value of the installs the MMP could not show:

    rest = R_c × Σ_rest pred(key),  R_c = Σ_consenting value / Σ_consenting pred(key)

a ratio estimator: the key ranks installs, the campaign's own consenting users scale it (so a campaign's
quality, which the schema does not see, is kept). Values are heavy-tailed (whales): the key values are
rescaled to add up to the tracked users' value (shrinking a sparse whale key loses value), R_c is taken on
values capped at a Hill tail threshold and shrunk to 1 by empirical Bayes. Keyless installs (tier 0) get
the campaign's mean keyed prediction: nulls modelled from the campaign's non-null share. Consent is assumed
independent of value. The interval is a bootstrap (key values, ratio, and the rest's own scatter drawn
from calibration users of the same key; the total's also the tracked users' own sum), not a normal one:
with a heavy tail it is skewed (docs/skan.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

from adperf_assets.skan import scatter, schema
from adperf_assets.skan.keys import NO_LATER, NULL_KEY
from adperf_assets.skan.resample import one_blas_thread, poisson1

def _pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs of two aligned arrays, and each row's pair: (a values, b values, index)."""
    ca, ua = pd.factorize(a, use_na_sentinel=False)
    cb, ub = pd.factorize(b, use_na_sentinel=False)
    nb = max(len(ub), 1)
    u, inv = np.unique(ca.astype(np.int64) * nb + cb, return_inverse=True)
    return np.asarray(ua, dtype=object)[u // nb], np.asarray(ub, dtype=object)[u % nb], inv.reshape(-1)


def hill_tail(values: np.ndarray, k: int | None = None) -> tuple[float, float, int]:
    """Pareto tail of ``values``: threshold u (the (k+1)-th largest), Hill's index alpha over the k above it,
    and k (default max(20, 2 sqrt(n)), the usual order of k); alpha is inf when there are too few positives."""
    pos = np.sort(np.asarray(values, dtype=float)[np.asarray(values) > 0])[::-1]
    k = int(k if k is not None else max(20, np.ceil(2 * np.sqrt(len(values)))))
    if len(pos) <= k or pos[k] <= 0:
        return float(pos[-1]) if len(pos) else 0.0, float("inf"), 0
    u = float(pos[k])
    logs = np.log(pos[:k] / u)
    return u, (k / logs.sum()) if logs.sum() > 0 else float("inf"), k


@dataclass
class SkanDecoder:
    """Estimator of per-campaign modelled installs and return from SKAN postbacks (module docstring)."""

    level: float = 0.99
    shrink: float = 20.0  # pseudo-users of the parent key's mean in a key's mean
    min_between_var: float = 0.01  # floor of the between-campaign variance of the ratios (10% sd)
    n_boot: int = 1000  # bootstrap replicates of the interval
    min_pool: int = 30  # tracked users a key needs to lend its own scatter to the rest's noise (else its parent's)
    random_state: int = 0
    tail_index_noise: float = 1.0  # 1: the tail index drawn per replicate from Hill's sampling error; 0: fixed
    # "empirical": the rest's scatter and the key means resampled from the tracked users as they are;
    # "pareto": values above the Hill threshold redrawn from the fitted Pareto (covers 99% even at tail index
    # 1.3 in simulation, but with a fitted index near 1 the interval spans an order of magnitude: docs/skan.md)
    tail: str = "empirical"
    # the rest's scatter as an exact tail plus a normal body whose quantiles at the interval's ends are within
    # this many sd of the exact draws' (skan/scatter.py); 0: every install drawn (also with tail="pareto")
    scatter_tol: float = 0.05

    # -- the key cells: global, coarse, fine, later, coarse|later, fine|later; a cell's mean is shrunk to its
    # parent's. Every user has a later value (NO_LATER when no later postback came)
    def _cells(self, c: pd.DataFrame):
        coarse = sorted(set(c["coarse"]))
        fine = sorted(set(c["fine"]))
        later = c["later"].fillna("").astype(str).replace("", NO_LATER)
        lat = sorted(set(later))
        # each user's key|later combos, built once per distinct pair
        pairs = {col: _pairs(c[col].to_numpy(), later.to_numpy()) for col in ("coarse", "fine")}
        combos = sorted({f"{k}|{lk}" for ks, lks, _ in pairs.values() for k, lk in zip(ks, lks)})
        names = ["global"] + coarse + fine + lat + combos
        ix = {k: i for i, k in enumerate(names)}
        parent = np.zeros(len(names), dtype=np.int64)
        for k in fine:
            parent[ix[k]] = ix.get("c" + schema.coarse_of_fine([int(k[1:])])[0], 0)
        # a key with a later value: shrunk to that later value's mean (revenue through day 35 says more
        # about the tail than the first window's), which is shrunk to everyone's
        for k in combos:
            parent[ix[k]] = ix[k.split("|")[1]]
        levels = [np.array([ix[k] for k in ks], dtype=np.int64) for ks in (coarse, fine, lat, combos)]
        n = len(c)
        rows = [np.arange(n)] * 6
        cols = [np.zeros(n, dtype=np.int64), c["coarse"].map(ix).to_numpy(), c["fine"].map(ix).to_numpy(),
                later.map(ix).to_numpy()]
        for col in ("coarse", "fine"):
            ks, lks, inv = pairs[col]
            cols.append(np.array([ix[f"{k}|{lk}"] for k, lk in zip(ks, lks)], dtype=np.int64)[inv])
        r, k = np.concatenate(rows), np.concatenate(cols).astype(np.int64)
        member = sparse.csr_matrix((np.ones(len(r)), (r, k)), shape=(n, len(names)))
        return names, ix, parent, levels, member

    def _means(self, sw: np.ndarray, swv: np.ndarray) -> np.ndarray:
        """Shrunk cell means from the (replicates x cells) weighted counts and sums."""
        m = np.empty_like(swv)
        m[:, 0] = swv[:, 0] / np.maximum(sw[:, 0], 1e-12)
        for lvl in self.levels_:
            p = m[:, self.parent_[lvl]]
            m[:, lvl] = (swv[:, lvl] + self.shrink * p) / (sw[:, lvl] + self.shrink)
        return m

    def fit(self, calibration: pd.DataFrame) -> "SkanDecoder":
        """``calibration``: one row per user whose keys are known (tracked, or restricted: no campaign
        needed): ``fine``, ``coarse``, ``later`` keys (``user_keys``) and ``value`` (the user's return at
        the horizon). The campaigns' ratios come from ``predict``'s tracked users."""
        c = calibration.reset_index(drop=True)
        if c.empty:
            raise ValueError("SkanDecoder.fit needs users with known keys to calibrate on (got none)")
        c = c.assign(later=c["later"].fillna("").astype(str) if "later" in c else "")
        v = c["value"].to_numpy(dtype=float)
        self.names_, self.ix_, self.parent_, self.levels_, self.member_ = self._cells(c)
        ones = np.ones((1, len(c)))
        sw = np.asarray((self.member_.T @ ones.T).T)
        self.means_ = self._means(sw, np.asarray((self.member_.T @ v[:, None]).T))[0]
        # the heavy tail: Pareto above u (Hill); the ratios are taken on values capped at u
        u, alpha, k = hill_tail(v)
        cap = np.minimum(v, u) if k else v
        self.cap_means_ = self._means(sw, np.asarray((self.member_.T @ cap[:, None]).T))[0]
        # shrinking a sparse whale-heavy key to its parent loses value: rescale so that the tracked users'
        # key values add up to their value (for the full and the capped values alike)
        own = self.own_ = self._own_cells(c)
        self.scale_ = float(v.sum() / self.means_[own].sum()) if self.means_[own].sum() > 0 else 1.0
        self.cap_scale_ = float(cap.sum() / self.cap_means_[own].sum()) if self.cap_means_[own].sum() > 0 else 1.0
        self.means_ = self.means_ * self.scale_
        self.cap_means_ = self.cap_means_ * self.cap_scale_
        # the users' distinct key profiles (coarse, fine, later: the same cells and own cell): the bootstrap
        # sums its weights per profile, then per cell through the profiles' memberships
        prof = c.groupby(["coarse", "fine", "later"], sort=True, dropna=False).ngroup().to_numpy()
        first = np.unique(prof, return_index=True)[1]
        self.prof_, self.prof_member_, self.prof_own_ = prof, self.member_[first].toarray(), own[first]
        # each cell's pool of tracked users for the rest's scatter: its own, or its nearest parent's with
        # at least min_pool users
        counts = sw[0]
        pool = np.arange(len(self.names_))
        for lvl in self.levels_:
            small = lvl[counts[lvl] < self.min_pool]
            pool[small] = pool[self.parent_[small]]
        self.pool_ = pool
        self.values_, self.tail_ = v, {"u": u, "alpha": alpha, "k": k}
        self.params_ = {"global": float(self.means_[0]), "means": dict(zip(self.names_, self.means_.tolist())),
                        "users": len(c), "scale": self.scale_, "tail_u": u, "tail_alpha": alpha, "tail_k": k}
        return self

    def _own_cells(self, c: pd.DataFrame) -> np.ndarray:
        """Each calibration user's cell as a fine-value install (its fine key with its later value)."""
        return self.cells(c["fine"], c["later"])

    def cells(self, key: pd.Series, later: pd.Series) -> np.ndarray:
        """Per install, the cell whose mean is its value: its key with its later value (NO_LATER for "") if a
        calibration user had both, else its key, else (unseen) its coarse parent, else everyone; -1 for keyless
        installs. A later value no user has (e.g. ``?``: not known whether one came) gives the key's mean."""
        ks, lks, inv = _pairs(np.asarray(key, dtype=object), later.fillna("").replace("", NO_LATER).to_numpy(dtype=object))
        return np.array([self._cell(k, lk) for k, lk in zip(ks, lks)], dtype=np.int64)[inv]

    def _cell(self, k: str, lk: str) -> int:
        ix = self.ix_
        if k == NULL_KEY:
            return -1
        if lk and f"{k}|{lk}" in ix:
            return ix[f"{k}|{lk}"]
        if k in ix:
            return ix[k]
        if k.startswith("f"):
            return ix.get("c" + schema.coarse_of_fine([int(k[1:])])[0], 0)
        return 0

    def predict_keys(self, key: pd.Series, later: pd.Series) -> np.ndarray:
        """Per install, the calibrated value of its key (NaN for keyless installs)."""
        cell = self.cells(key.reset_index(drop=True), later.reset_index(drop=True))
        out = self.means_[np.maximum(cell, 0)].astype(float)
        out[cell < 0] = np.nan
        return out

    def predict(self, installs: pd.DataFrame, tracked: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
        """Per group (default network, campaign): SKAN installs, tracked installs, modelled installs (a
        count: winning first postbacks minus tracked users, exact once every first postback has arrived),
        the rest's modelled return with its interval, the total return, the modelled share, and the ratio
        (shrunk), with its unshrunk ``raw_ratio`` and shrinkage weight ``ratio_weight``.

        ``installs``: ``install_keys`` rows; ``tracked``: one row per tracked user of those campaigns with
        the ``by`` columns, ``fine`` (their key as a fine value), ``later`` and ``value``."""
        by = by or ["network", "campaign_id"]
        inst = installs.reset_index(drop=True)
        trk = tracked.reset_index(drop=True)
        inst_cell = self.cells(inst["key"], inst["later"])
        trk_later = trk["later"] if "later" in trk else pd.Series("", index=trk.index)
        trk_cell = self.cells(trk["fine"], trk_later)
        u = self.tail_["u"] if self.tail_["k"] else np.inf
        tv = trk["value"].to_numpy(dtype=float)
        tcap = np.minimum(tv, u)
        groups = list(inst.groupby(by, sort=True).indices.items())
        tgroups = trk.groupby(by, sort=True).indices if len(trk) else {}
        rows, parts = [], []
        for key, ii in groups:
            kk = key if isinstance(key, tuple) else (key,)
            ti = tgroups.get(key, np.array([], dtype=np.int64))
            cells = inst_cell[ii]
            keyed = cells[cells >= 0]
            n_all, n_t = len(ii), len(ti)
            n_rest = max(n_all - n_t, 0)
            # the ratio on capped values: the campaign's quality from its tracked users' body, not its whales
            xc, yc = self.cap_means_[trk_cell[ti]], tcap[ti]
            ratio = float(yc.sum() / xc.sum()) if n_t and xc.sum() > 0 else 1.0
            resid = yc - ratio * xc
            s2 = float(np.var(resid, ddof=1)) if n_t > 1 else float(self.params_["global"] ** 2)
            x_bar = float(xc.mean()) if n_t else 1.0
            rows.append({**dict(zip(by, kk)), "skan_installs": n_all, "tracked_installs": n_t,
                         "modelled_installs": n_rest, "tracked_return": float(tv[ti].sum()),
                         "_ratio": ratio, "_var_ratio": s2 / (n_t * max(x_bar, 1e-9) ** 2) if n_t > 1 else np.inf,
                         "null_share": float((cells < 0).mean())})
            parts.append((keyed, int((cells < 0).sum()), trk_cell[ti], n_rest, ti,
                          np.bincount(keyed, minlength=len(self.names_)).astype(float),
                          np.bincount(trk_cell[ti], minlength=len(self.names_)).astype(float)))
        out = pd.DataFrame(rows)
        if out.empty:
            return out
        # the campaigns' ratios shrunk to the calibration's (1) by how much they differ beyond noise
        finite = out[np.isfinite(out["_var_ratio"])]
        tau2 = max(float(np.var(finite["_ratio"], ddof=1) - finite["_var_ratio"].mean()) if len(finite) > 2 else 0.0,
                   self.min_between_var)
        w = (tau2 / (tau2 + out["_var_ratio"])).to_numpy()
        ratio = w * out["_ratio"].to_numpy() + (1 - w)
        x_rest = np.array([self._x_rest(self.means_[None, :], p)[0] for p in parts])
        rest = ratio * x_rest
        with one_blas_thread():
            lo, hi, tot_lo, tot_hi = self._interval(parts, w, ratio, tv, tcap, trk_cell)
        out["modelled_return"] = rest
        out["modelled_return_low"] = np.minimum(lo, rest)
        out["modelled_return_high"] = np.maximum(hi, rest)
        out["total_return"] = out["tracked_return"] + rest
        out["total_return_low"] = np.minimum(tot_lo, out["total_return"])
        out["total_return_high"] = np.maximum(tot_hi, out["total_return"])
        total = out["total_return"].to_numpy()
        out["modelled_share"] = np.divide(rest, total, out=np.zeros(len(out)), where=total > 0)
        out["ratio"] = ratio
        # the unshrunk ratio and its weight, for diagnosis: ratio = weight x raw_ratio + (1 - weight)
        out["raw_ratio"], out["ratio_weight"] = out.pop("_ratio"), w
        return out.drop(columns=["_var_ratio"])

    def _interval(self, parts, w, ratio, tv, tcap, trk_cell) -> tuple[np.ndarray, ...]:
        """Bootstrap intervals of each group's rest and of its total: the key means (calibration users
        resampled, values above the tail threshold redrawn from the fitted Pareto, its index itself
        uncertain), the ratio (the group's tracked users resampled, capped values), and the rest's own
        scatter around its expectation (each rest install a draw from its cell's pool of calibration users,
        with the same Pareto tail). The total adds the tracked users' sum from the same resample: their
        realised return is exact, but as an estimate of what the campaign's users are worth in expectation
        it has a heavy tail's scatter too. Returns (rest low, rest high, total low, total high)."""
        rng = np.random.default_rng(self.random_state)
        v = self.values_
        u, alpha, k = self.tail_["u"], self.tail_["alpha"], self.tail_["k"]
        heavy = self.tail == "pareto" and bool(k) and np.isfinite(alpha)
        tail_ix = np.flatnonzero(v > u) if heavy else np.array([], dtype=np.int64)
        # the pools as contiguous runs of the users' values, per cell: (start, size) in ``pool_vals``
        pool_vals, pool_tail, start, size, slot_pool = self._pools(u if heavy else np.inf)
        if not heavy:  # each pool user's value relative to its pool's mean: the same in every replicate
            pool_mean = self._pool_means(pool_vals, pool_tail, start, size, None)
            rel_slot = pool_vals / np.maximum(pool_mean[0, slot_pool], 1e-12)
        # per group: its tracked users' (value, capped key value, capped value) for the ratio's resample, its
        # keyed installs' and tracked users' counts per cell, its keyed installs' pool runs and key values
        prep, plans = [], []
        z = float(norm.ppf(1 - (1 - self.level) / 2))
        for keyed, n_null, tcells, n_rest, ti, _, _ in parts:
            cells = keyed if len(keyed) else np.zeros(1, dtype=np.int64)
            pc = self.pool_[cells]
            prep.append((np.column_stack([tv[ti], self.cap_means_[trk_cell[ti]], tcap[ti]]),
                         cells, start[pc], size[pc], self.means_[cells]))
            plans.append(None if heavy or n_rest < scatter.MIN_DRAWS
                         else scatter.plan(*self._scatter_atoms(cells, start, size, rel_slot), n_rest, z, self.scatter_tol))
        sims = np.zeros((self.n_boot, len(parts)))
        tracked_sims = np.zeros((self.n_boot, len(parts)))
        n_prof = len(self.prof_own_)
        flat = None
        chunk = 100
        for b0 in range(0, self.n_boot, chunk):
            b = min(chunk, self.n_boot - b0)
            xi = (1 / alpha) * (1 + self.tail_index_noise * rng.standard_normal(b) / np.sqrt(max(k, 1))) if heavy else np.zeros(b)
            xi = np.clip(xi, 1e-3, 0.95)  # a tail index of 1 or less has no mean: kept just above it
            vs = v
            if heavy and len(tail_ix):
                vs = np.broadcast_to(v, (b, len(v))).copy()
                vs[:, tail_ix] = u * rng.random((b, len(tail_ix))) ** (-xi[:, None])
            wts = poisson1(rng, (b, len(v)))
            # the weights' and weighted values' sums per (replicate, profile), then per cell
            if flat is None or len(flat) != wts.size:
                flat = (self.prof_[None, :] + n_prof * np.arange(b)[:, None]).ravel()
            sw_p = np.bincount(flat, weights=wts.ravel(), minlength=b * n_prof).reshape(b, n_prof)
            swv_p = np.bincount(flat, weights=(wts * vs).ravel(), minlength=b * n_prof).reshape(b, n_prof)
            sw, swv = sw_p @ self.prof_member_, swv_p @ self.prof_member_
            means = self._means(sw, swv)
            # rescaled as in fit: the replicate's users' key values add up to their value
            means *= (swv[:, 0] / np.maximum((sw_p * means[:, self.prof_own_]).sum(axis=1), 1e-12))[:, None]
            if heavy:
                pool_mean = self._pool_means(pool_vals, pool_tail, start, size, u / (1 - xi))
            for j, part in enumerate(parts):
                keyed, n_null, tcells, n_rest, ti = part[:5]
                tmat, cells, k_start, k_size, k_mean = prep[j]
                if len(ti) > 1:
                    s = poisson1(rng, (b, len(ti))) @ tmat
                    tracked_sims[b0:b0 + b, j] = s[:, 0]
                    r = np.where(s[:, 1] > 0, s[:, 2] / np.maximum(s[:, 1], 1e-12), 1.0)
                    # not shrunk: the interval keeps the ratio's whole sampling error, so it also spans what
                    # the shrinkage may have taken from a campaign that really differs
                else:
                    tracked_sims[b0:b0 + b, j] = tv[ti].sum()
                    r = np.full(b, ratio[j])
                if not n_rest:
                    continue
                x = self._x_rest(means, part)
                if plans[j] is not None:  # as an exact tail and a normal body (skan/scatter.py)
                    sims[b0:b0 + b, j] = np.maximum(r * (x + plans[j].draw(rng, b)), 0.0)
                    continue
                # the rest's scatter: n_rest installs drawn from the group's keyed installs, each a value
                # from its cell's pool relative to the pool's mean, times the cell's mean
                pick = rng.integers(0, len(cells), (b, n_rest))
                j_user = k_start[pick] + (rng.random((b, n_rest)) * k_size[pick]).astype(np.int64)
                if heavy:
                    pc = self.pool_[cells[pick]]
                    val = np.where(pool_tail[j_user], u * rng.random((b, n_rest)) ** (-xi[:, None]), pool_vals[j_user])
                    rel = val / np.maximum(pool_mean[np.arange(b)[:, None], pc], 1e-12)
                else:
                    rel = rel_slot[j_user]
                spread = (k_mean[pick] * (rel - 1)).sum(axis=1)
                sims[b0:b0 + b, j] = np.maximum(r * (x + spread), 0.0)
        q = (1 - self.level) / 2
        total = sims + tracked_sims
        return (np.quantile(sims, q, axis=0), np.quantile(sims, 1 - q, axis=0),
                np.quantile(total, q, axis=0), np.quantile(total, 1 - q, axis=0))

    @staticmethod
    def _x_rest(means: np.ndarray, part) -> np.ndarray:
        """Per replicate (a row of ``means``), the rest's summed key values: all installs' (keyless ones at the
        keyed mean) minus the tracked users', from the group's keyed installs' and tracked users' counts per
        cell (the point estimate and the bootstrap alike)."""
        keyed, n_null, _, n_rest, _, k_count, t_count = part
        if not n_rest:
            return np.zeros(len(means))
        xk = means @ k_count if len(keyed) else np.zeros(len(means))
        mean_keyed = xk / len(keyed) if len(keyed) else means[:, 0]
        return np.maximum(xk + n_null * mean_keyed - means @ t_count, 0.0)

    def _scatter_atoms(self, cells, start, size, rel_slot) -> tuple[np.ndarray, np.ndarray]:
        """The distribution of one draw of the rest's scatter (an install drawn from the group's keyed
        ``cells``, a user from its cell's pool): each (cell, pool user)'s value, the cell's mean times the
        user's value relative to the pool's mean less one, and its probability."""
        uc, cnt = np.unique(cells, return_counts=True)
        st, sz = start[self.pool_[uc]], size[self.pool_[uc]]
        slot = np.repeat(st - np.concatenate([[0], np.cumsum(sz)[:-1]]), sz) + np.arange(sz.sum())
        vals = np.repeat(self.means_[uc], sz) * (rel_slot[slot] - 1)
        return vals, np.repeat(cnt / (len(cells) * sz), sz)

    def _pools(self, u: float):
        """The pool cells' users' values as contiguous runs: (values, above u, start per cell, size per cell,
        each value's pool cell)."""
        cols = self.member_.tocsc()
        start = np.zeros(len(self.names_), dtype=np.int64)
        size = np.zeros(len(self.names_), dtype=np.int64)
        vals, pos = [], 0
        pools = np.unique(self.pool_)
        for p in pools:
            users = cols.indices[cols.indptr[p]:cols.indptr[p + 1]]
            start[p], size[p] = pos, len(users)
            vals.append(self.values_[users])
            pos += len(users)
        pool_vals = np.concatenate(vals) if vals else np.zeros(1)
        slot_pool = np.repeat(pools, size[pools]) if vals else np.zeros(1, dtype=np.int64)
        return pool_vals, pool_vals > u, start, size, slot_pool

    def _pool_means(self, vals, tail, start, size, tail_mean) -> np.ndarray:
        """Per replicate and cell: its pool's mean, tail users at the Pareto's mean ``tail_mean`` (per replicate)."""
        if tail_mean is None:  # the pools' own means (one row: the same in every replicate)
            ca = np.concatenate([[0.0], np.cumsum(vals)])
            return ((ca[start + size] - ca[start]) / np.maximum(size, 1))[None, :]
        cs = np.concatenate([[0.0], np.cumsum(np.where(tail, 0.0, vals))])
        ct = np.concatenate([[0], np.cumsum(tail)])
        s_body = cs[start + size] - cs[start]
        n_tail = ct[start + size] - ct[start]
        return (s_body[None, :] + n_tail[None, :] * np.asarray(tail_mean)[:, None]) / np.maximum(size, 1)[None, :]

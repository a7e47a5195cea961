"""How the LTV intervals of many cohort x segment cells add up to one interval per ad (or campaign...).

Within a segment the cells share one fitted model, so their bounds add linearly; across segments
(``segments_independent``) half-widths add in quadrature, or linearly (``comonotone``). Why and the
formula: docs/roas_report.md ("Estimated return and its interval").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adperf_assets.ltv.keys import SEGMENT_KEYS


def combine_intervals(cells: pd.DataFrame, by: list[str], rule: str = "segments_independent",
                      segment_keys: list[str] | None = None) -> pd.DataFrame:
    """Per group of ``by``: ``estimated``, ``lower``, ``upper`` from cells' ``est, lo, hi`` (money, not per user).

    ``cells`` has the ``by`` columns, the segment columns and ``est``, ``lo``, ``hi`` with
    ``lo <= est <= hi`` (``hi`` may be ``inf``).
    """
    seg = list(segment_keys or SEGMENT_KEYS)
    missing = [c for c in [*by, *seg, "est", "lo", "hi"] if c not in cells.columns]
    if missing:
        raise ValueError(f"combine_intervals: cells lack column(s) {missing}")
    if cells.empty:
        return pd.DataFrame({**{c: pd.Series(dtype=cells[c].dtype) for c in by},
                             "estimated": pd.Series(dtype=float), "lower": pd.Series(dtype=float),
                             "upper": pd.Series(dtype=float)})
    est, lo, hi = (cells[c].to_numpy(dtype=float) for c in ("est", "lo", "hi"))
    bad = ~((lo <= est + 1e-9) & (est <= hi + 1e-9)) | np.isnan(est) | np.isnan(lo) | np.isnan(hi)
    if bad.any():
        row = cells[bad].iloc[0].to_dict()
        raise ValueError(f"combine_intervals: {int(bad.sum())} cell(s) without lo <= est <= hi, e.g. {row}")
    if rule == "comonotone":
        out = cells.groupby(by, sort=True, observed=True)[["est", "lo", "hi"]].sum()
        out.columns = ["estimated", "lower", "upper"]
        return out.reset_index()
    if rule != "segments_independent":
        raise ValueError(f"combine_intervals: unknown rule {rule!r}")
    # 1) linear within a segment (same model for every cohort), 2) quadrature across segments
    per_seg = cells.groupby([*by, *[c for c in seg if c not in by]], sort=True, observed=True)[["est", "lo", "hi"]].sum()
    per_seg = per_seg.assign(down=(per_seg["est"] - per_seg["lo"]) ** 2, up=(per_seg["hi"] - per_seg["est"]) ** 2)
    out = per_seg.groupby(level=list(range(len(by))), sort=True)[["est", "down", "up"]].sum()
    out = pd.DataFrame({
        "estimated": out["est"],
        "lower": np.maximum(out["est"] - np.sqrt(out["down"]), 0.0),
        "upper": out["est"] + np.sqrt(out["up"]),
    })
    out.index.names = by
    return out.reset_index()

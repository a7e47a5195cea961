"""What each user and each ad is truly worth: ``truth/user_value`` and ``truth/ad_value``.

Per user the knobs' latent draws and the expected LTV at every horizon; per ad its value and quality
multipliers, its MMP-attributed installs and the expected LTV of exactly those users, in total and
per install. See docs/sample_world.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.sample import layout
from adperf_assets.sample.writers import write_parquet

AD_KEYS = ["network", "account_id", "campaign_id", "ad_group_id", "ad_id"]


def write(root: Path, users: pd.DataFrame, ads: pd.DataFrame, quality: pd.DataFrame,
          ltv: dict[int, np.ndarray]) -> None:
    """``ltv``: per horizon, each user's expected LTV in USD (net of refunds and chargebacks)."""
    cols = {f"expected_ltv_usd_{h}": v for h, v in ltv.items()}
    ad_ix = users["ad_index"].to_numpy()
    write_parquet(layout.truth(root, "user_value"), pd.DataFrame({
        "user_id": users["user_id"], "ad_index": ad_ix, "quality": users["quality"],
        "activity_propensity": users["activity_propensity"], "whale_mult": users["whale_mult"], **cols,
    }))
    paid = ad_ix >= 0
    installs = np.bincount(ad_ix[paid], minlength=len(ads))
    out = ads[AD_KEYS].reset_index(drop=True).copy()
    out["value_mult"] = ads["value_mult"].to_numpy()  # the ad's own multiplier of its users' purchase rate
    out["campaign_quality"] = quality["campaign_quality"].to_numpy()
    out["ad_quality"] = quality["ad_quality"].to_numpy()
    out["quality"] = out["campaign_quality"] * out["ad_quality"]
    out["installs"] = installs
    for name, v in cols.items():
        out[name] = np.bincount(ad_ix[paid], weights=v[paid], minlength=len(ads))
    for name in cols:
        out[name.replace("expected_ltv_usd_", "expected_ltv_per_install_usd_")] = np.divide(
            out[name].to_numpy(), installs, out=np.full(len(ads), np.nan), where=installs > 0)
    write_parquet(layout.truth(root, "ad_value"), out)

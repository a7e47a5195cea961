"""A seeded synthetic matching app whose true retention and LTV are known: ``generate_world``.

It writes, in each real system's own format, everything the graph reads (see ``layout.py``) plus
``truth/``. Each part of the world has its own module; this one runs them in their fixed order,
since all randomness comes from one generator. See docs/sample_world.md.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from adperf_assets.sample import (
    activity,
    ad_reports,
    ads,
    app_db,
    events,
    knobs,
    layout,
    manifest,
    mmp,
    skan,
    truth,
    users,
)

# Names this module has always offered; they live in the modules of their part of the world now.
from adperf_assets.sample.ads import FB_OBJECTIVE, GOOGLE_CHANNEL
from adperf_assets.sample.app_db import APP_SCHEMA
from adperf_assets.sample.clock import HOUR, Calendar
from adperf_assets.sample.config import WorldConfig, preset
from adperf_assets.sample.fx import draw_rates, to_ecb_csv
from adperf_assets.sample.manifest import FORMAT_VERSION, load_manifest, world_config
from adperf_assets.sample.mmp import ADJUST_NETWORK, AF_MEDIA_SOURCE
from adperf_assets.sample.truth import TRUTH_DAYS
from adperf_assets.sample.users import RET_MULT, VALUE_MULT
from adperf_assets.sample.writers import write_text

__all__ = [
    "ADJUST_NETWORK",
    "AF_MEDIA_SOURCE",
    "APP_SCHEMA",
    "FB_OBJECTIVE",
    "FORMAT_VERSION",
    "GOOGLE_CHANNEL",
    "HOUR",
    "RET_MULT",
    "TRUTH_DAYS",
    "VALUE_MULT",
    "generate_world",
    "load_manifest",
    "world_config",
]


def generate_world(
    path: str | os.PathLike,
    seed: int = 7,
    start: date | str | None = None,
    days: int | None = None,
    installs_per_day: int | None = None,
    churn_model: str | None = None,
    preset_name: str = "default",
    **overrides,
) -> Path:
    """Write a complete sample world into ``path`` (replaced if it exists) and return it."""
    kw = dict(overrides)
    kw["seed"] = seed
    if start is not None:
        kw["start"] = date.fromisoformat(start) if isinstance(start, str) else start
    if days is not None:
        kw["days"] = days
    if installs_per_day is not None:
        kw["installs_per_day"] = installs_per_day
    if churn_model is not None:
        kw["churn_model"] = churn_model
    return write_world(preset(preset_name, **kw), path)


def write_world(cfg: WorldConfig, path: str | os.PathLike, truth_only: bool = False) -> Path:
    """The world ``cfg`` into ``path`` (replaced if it exists). ``truth_only``: only ``truth/`` and
    ``world.json`` (the same draws in the same order, without the writers whose draws come after
    everything the truth needs), for a loop that regenerates a world many times (benchmarks/actions.py)."""
    if cfg.churn_model not in ("sbg", "weibull"):
        raise ValueError(f"churn_model must be 'sbg' or 'weibull', got {cfg.churn_model!r}")
    if cfg.days < 14:
        raise ValueError(f"a world needs at least 14 days, got days={cfg.days}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".world-", dir=path.parent))
    try:
        _build(cfg, tmp, truth_only)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _build(cfg: WorldConfig, root: Path, truth_only: bool = False) -> None:
    """Every part of the world, in the order they draw from the one random generator."""
    rng = np.random.default_rng(cfg.seed)
    cal = Calendar.of(cfg)
    published, rates = draw_rates(rng, cfg.start - timedelta(days=20), cfg.end + timedelta(days=1))
    catalog = ads.catalog(cfg, rng)
    delivery = ads.deliver(cfg, rng, cal, rates, catalog)
    if not truth_only:
        write_text(layout.fx_file(root), to_ecb_csv(published))
        ad_reports.write(root, cfg, catalog, delivery.rows)
    truth.write_spend(root, cfg, cal, rates, catalog, delivery.rows)
    quality = knobs.ad_quality(cfg, catalog)
    people = users.draw_users(cfg, rng, cal, catalog, delivery.mmp_installs, quality)
    del delivery
    active = activity.simulate(cfg, rng, cal, people)
    if truth_only:  # app_db.write's purchases before its refund draws (truth reads user, day and amount)
        pos = active.buy_pos
        purchases = app_db.Purchases(pos=pos, user=active.user[pos], day=active.day[pos],
                                     amount_usd=active.buy_amount_usd)
        counts = ["truth only"]
    else:
        purchases, payments_count = app_db.write(root, cfg, rng, cal, rates, people, active)
        events_count = events.write(root, cfg, rng, people, active, purchases.pos)
        allowed = skan.consent(cfg, people)
        mmp_count = mmp.write(root, cfg, rng, cal, people, catalog, allowed)
        counts = [payments_count, events_count, mmp_count, f"users={len(people)}"]
    truth.write(root, cfg, cal, people, catalog, quality, purchases)
    if not truth_only and cfg.att_opt_in < 1.0:  # with everyone tracked, the world before ATT: no postbacks
        counts.append(skan.write(root, cfg, cal, people, catalog, active, allowed))
    manifest.write(root, cfg, users=len(people), ads=len(catalog), counts=counts)

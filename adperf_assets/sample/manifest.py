"""A sample world's manifest (``world.json``): its config, days, revisions and counts; and reading it back."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

from adperf_assets.sample import layout
from adperf_assets.sample.config import EASY, Account, WorldConfig
from adperf_assets.sample.writers import write_json

FORMAT_VERSION = 5  # 2: Apple postback copies (apple_skan/); 3: source identifiers read from the end; 4: later postbacks only after a launch in their window; 5: SKAdNetwork 3.0 postbacks (skan3_share)


def write(root: Path, cfg: WorldConfig, users: int, ads: int, counts: list[str]) -> None:
    write_json(layout.manifest(root), {
        "format_version": FORMAT_VERSION,
        "config": cfg.to_json(),
        "first_day": cfg.start.isoformat(),
        "last_day": cfg.end.isoformat(),
        "report_timezone": cfg.report_timezone,
        "spend_revisions": {
            "description": "A network day pulled k days after it (k = pull day - that day, account-local) shows "
                           "factor[k-1] of its final impressions/clicks/installs/spend; k > len(factors): final.",
            "factors": list(cfg.revision_factors),
        },
        "users": users,
        "ads": ads,
        "counts": counts,
    })


def load_manifest(path: str | os.PathLike) -> dict:
    return json.loads(layout.manifest(Path(path)).read_text())


def world_config(path: str | os.PathLike) -> WorldConfig:
    """The ``WorldConfig`` a world was generated with (from its manifest)."""
    # a manifest without a knob or an opt-in is of a world without them (easy knobs, everyone tracked)
    m = {**EASY, "att_opt_in": 1.0, **load_manifest(path)["config"]}
    m["start"] = date.fromisoformat(m["start"])
    m["accounts"] = tuple(Account(**{**a, "countries": tuple(a["countries"])}) for a in m["accounts"])
    m["revision_factors"] = tuple(m["revision_factors"])
    m["ad_actions"] = tuple((int(d), str(a), float(f)) for d, a, f in m.get("ad_actions", ()))
    return replace(WorldConfig(), **m)

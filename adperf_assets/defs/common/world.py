"""The embedded sample world as a resource: generated on first use, then only read.

Every sample source (ads, MMP, app database, logs, FX) takes this resource and reads its
folder, so a fresh clone runs the whole graph offline with nothing configured.
"""

from __future__ import annotations

import fcntl
import json
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field

from adperf_assets.sample import generate_world, load_manifest, preset, world_config
from adperf_assets.sample.generator import FORMAT_VERSION


class SampleWorld(dg.ConfigurableResource):
    """A seeded synthetic app (see ``adperf_assets.sample``) under ``path``."""

    path: str = Field(description="Folder of the world; generated there if missing.")
    seed: int = 7
    start: str = "2025-06-01"
    days: int = 545
    installs_per_day: int = 150
    churn_model: str = "sbg"
    preset: str = "default"

    def _wanted(self) -> dict:
        return {"seed": self.seed, "start": self.start, "days": self.days,
                "installs_per_day": self.installs_per_day, "churn_model": self.churn_model}

    def root(self) -> Path:
        """The world folder, generated (once, under a file lock) if absent or stale."""
        root = Path(self.path)
        root.parent.mkdir(parents=True, exist_ok=True)
        lock = root.parent / f".{root.name}.lock"
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            if not self._is_current(root):
                dg.get_dagster_logger().info(f"generating the sample world into {root} ({self._wanted()})")
                generate_world(root, preset_name=self.preset, **self._wanted())
        return root

    def _is_current(self, root: Path) -> bool:
        try:
            m = load_manifest(root)
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        if m.get("format_version") != FORMAT_VERSION:
            return False
        # the whole config, knobs too: a world of another preset (or of older defaults) is stale
        wanted = preset(self.preset, **{**self._wanted(), "start": date.fromisoformat(self.start)})
        try:
            return world_config(root) == wanted
        except (KeyError, TypeError, ValueError):
            return False

    def manifest(self) -> dict:
        return load_manifest(self.root())

    def first_day(self) -> date:
        """The configured start: the world generated under ``root()`` always begins there, so callers that
        need only the day (the sample cost files, a sensor's 60-second tick) do not wait for the generator."""
        return date.fromisoformat(self.start)

    def last_day(self) -> date:
        return date.fromisoformat(self.manifest()["last_day"])

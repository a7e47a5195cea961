"""The embedded sample world: a seeded synthetic matching app with known truth (no Dagster)."""

from adperf_assets.sample.config import PRESETS, WorldConfig, preset
from adperf_assets.sample.generator import generate_world
from adperf_assets.sample.manifest import load_manifest, world_config

__all__ = ["PRESETS", "WorldConfig", "generate_world", "load_manifest", "preset", "world_config"]

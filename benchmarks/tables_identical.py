"""Are the asset tables the same before and after a change? Materialize the whole graph over a range
of report days on a sample world, dump every stored table, and compare two such dumps exactly.

    .venv/bin/python benchmarks/tables_identical.py snapshot DIR [--preset small] [--days 60] [--lanes 2]
    .venv/bin/python benchmarks/tables_identical.py compare DIR_BEFORE DIR_AFTER

``snapshot`` backfills days [world start, + days - 1] as ``backfill.py`` does (runs of the graph's
smallest ``max_partitions_per_run``), then writes each table of the DuckDB schema ``analytics`` to
``DIR/tables/<table>.parquet`` and the Slack outbox to ``DIR/outbox/``. Run it from a checkout of the
code before the change (``git worktree add``) and from the change itself, then ``compare``: every
table's rows (sorted by all columns), columns and dtypes must be equal to the last bit (but the wall-clock
columns of the Slack sent log, and paths into the snapshot's world folder compared relative to it); the outbox's messages must be equal. Prints one line per table; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd


def snapshot(out: Path, preset: str, days: int, lanes: int = 1) -> None:
    import backfill
    import bench_common as bc
    import duckdb

    settings, cfg = bc.world_settings(out, preset)
    os.environ.update({"ADPERF_HOME": str(settings.home), "ADPERF_WORLD": str(settings.world_path),
                       "ADPERF_SAMPLE_DAYS": str(cfg.days), "ADPERF_SAMPLE_INSTALLS_PER_DAY": str(cfg.installs_per_day),
                       "ADPERF_SAMPLE_PRESET": settings.sample_preset})
    bc.ensure_world(settings, preset, regenerate=False)
    settings.home.mkdir(parents=True, exist_ok=True)
    res = backfill.backfill(settings.start_date, days, backfill.smallest_run(), out / "logs", lanes)
    if not res["success"]:
        sys.exit("snapshot: the backfill failed:\n" + "\n".join(res["failures"]))
    tables = out / "tables"
    tables.mkdir(exist_ok=True)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'analytics' order by 1").fetchall()]
        for name in names:
            con.execute(f"select * from analytics.{name}").df().to_parquet(tables / f"{name}.parquet")
    outbox = settings.home / "outbox"
    messages = sorted(outbox.glob("*.json")) if outbox.exists() else []
    (out / "outbox.json").write_text(json.dumps({p.name: json.loads(p.read_text()) for p in messages}, sort_keys=True))
    print(f"snapshot: {len(names)} tables, {len(messages)} outbox messages, {days} days -> {out}")


#: Columns that record when, where and by which run a row was written (wall clock, outbox file, random
#: ids), not what it computed.
WALL_CLOCK = {"slack_milestones_sent": ["claimed_at", "sent_at", "destination"],
              # random ids and the run that wrote them (budget_actions holds the log's action_id)
              "budget_action_log": ["action_id", "created_at", "run_id"], "budget_actions": ["action_id"]}


#: Columns holding a path into the snapshot's own world folder: compared relative to it.
WORLD_PATHS = {"skan_postbacks": ["source_file"]}


def _in_world(df: pd.DataFrame, name: str) -> pd.DataFrame:
    cols = [c for c in WORLD_PATHS.get(name, []) if c in df.columns]
    return df.assign(**{c: df[c].str.replace(r"^.*?/world/", "world/", regex=True) for c in cols}) if cols else df


def _messages(path: Path) -> dict:
    """Outbox messages by name, without the time-stamp prefix of their file names."""
    return {k.split("-", 1)[1]: v for k, v in json.loads(path.read_text()).items()}


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), kind="stable", na_position="first").reset_index(drop=True)


def compare(before: Path, after: Path) -> bool:
    ok = True
    a_names = {p.stem for p in (before / "tables").glob("*.parquet")}
    b_names = {p.stem for p in (after / "tables").glob("*.parquet")}
    for name in sorted(a_names ^ b_names):
        print(f"{name}: only {'before' if name in a_names else 'after'}")
        ok = False
    for name in sorted(a_names & b_names):
        a = pd.read_parquet(before / "tables" / f"{name}.parquet")
        b = pd.read_parquet(after / "tables" / f"{name}.parquet")
        a, b = (_in_world(x.drop(columns=[c for c in WALL_CLOCK.get(name, []) if c in x.columns]), name)
                for x in (a, b))
        try:
            pd.testing.assert_frame_equal(_sorted(a), _sorted(b), check_exact=True)
            print(f"{name}: identical ({len(a):,} rows, {a.shape[1]} columns)")
        except AssertionError as exc:
            ok = False
            print(f"{name}: DIFFERENT ({len(a):,} vs {len(b):,} rows): {str(exc).splitlines()[0:4]}")
    same = _messages(before / "outbox.json") == _messages(after / "outbox.json")
    print(f"outbox: {'identical' if same else 'DIFFERENT'}")
    return ok and same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("dir")
    s.add_argument("--preset", default="small")
    s.add_argument("--days", type=int, default=60)
    s.add_argument("--lanes", type=int, choices=(1, 2), default=1, help="as backfill.py --lanes")
    c = sub.add_parser("compare")
    c.add_argument("before")
    c.add_argument("after")
    args = ap.parse_args()
    if args.cmd == "snapshot":
        snapshot(Path(args.dir).resolve(), args.preset, args.days, args.lanes)
    else:
        sys.exit(0 if compare(Path(args.before), Path(args.after)) else 1)


if __name__ == "__main__":
    main()

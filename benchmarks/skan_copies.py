"""Apple's postback copies of a generated world: verification cost and agreement with the MMP export.

    PYTHONPATH=. .venv/bin/python benchmarks/skan_copies.py --world DIR [--day YYYY-MM-DD]

DIR: a generated world with ATT (``att_opt_in`` < 1; its ``apple_skan/`` files). Prints the seconds to read
and verify one UTC day's copies and all of them, the rejected lines, and how many copies have their MMP twin
(``skan.apple_copies.combine``); the last line one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from adperf_assets.defs.attribution.mmp import read_day_files
from adperf_assets.defs.skan.resources import PostbackCopyFolder, arrival_times
from adperf_assets.sample import layout
from adperf_assets.sample.skan import COPY_KID, SKAN_NETWORK_ID
from adperf_assets.skan.apple_copies import combine
from adperf_assets.skan.postbacks import parse_appsflyer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True)
    ap.add_argument("--day", default="", help="the UTC day to time alone (default: the world's middle day)")
    a = ap.parse_args()
    root = Path(a.world)
    cfg = json.loads(layout.manifest(root).read_text())["config"]
    first = datetime.fromisoformat(cfg["start"])
    last = first + timedelta(days=cfg["days"])
    day = datetime.fromisoformat(a.day) if a.day else first + timedelta(days=cfg["days"] // 2)
    # the receiver's folder resource, trusting the world's key in place of Apple's
    src = PostbackCopyFolder(directory=str(layout.apple_postback_copies(root, first.date()).parent),
                             verification_keys=json.loads(layout.apple_postback_keys(root).read_text()),
                             skan_key_id=COPY_KID, ad_networks={v: k for k, v in SKAN_NETWORK_ID.items()})
    t = time.perf_counter()
    one, rej1 = src.copies(day, day + timedelta(days=1))
    t_day = time.perf_counter() - t
    t = time.perf_counter()
    copies, rejected = src.copies(first, last)
    t_all = time.perf_counter() - t
    folder = layout.appsflyer_skad_postbacks(root, first.date()).parent
    mmp = parse_appsflyer(read_day_files(folder, first, last, arrival_times))
    _, stats = combine(mmp, copies)
    print(f"{day.date()}: {len(one)} copies verified, {len(rej1)} rejected in {t_day:.2f} s")
    print(f"all: {len(copies)} copies verified, {len(rejected)} rejected in {t_all:.1f} s "
          f"({t_all / max(len(copies), 1) * 1e6:.0f} us a copy)")
    print(f"MMP twins: {stats['copies_with_mmp_twin']} of {stats['copies']}; MMP winning rows without a copy: "
          f"{stats['mmp_winning_rows_without_copy']}")
    print(json.dumps({"copies": len(copies), "rejected": len(rejected), "day_seconds": round(t_day, 3),
                      "all_seconds": round(t_all, 2), "us_per_copy": round(t_all / max(len(copies), 1) * 1e6),
                      "with_mmp_twin": stats["copies_with_mmp_twin"],
                      "mmp_winning_without_copy": stats["mmp_winning_rows_without_copy"]}))


if __name__ == "__main__":
    main()

"""How the sample world writes its files: deterministic bytes (no mtimes, fixed compression)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def ts(epoch_s: np.ndarray) -> list[str]:
    """UTC ``YYYY-MM-DD HH:MM:SS`` text of epoch seconds (the app database's and the MMPs' format)."""
    return pd.to_datetime(np.asarray(epoch_s, dtype=np.int64), unit="s").strftime("%Y-%m-%d %H:%M:%S").tolist()


def run_bounds(*keys: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` of the runs of equal ``keys`` (arrays of one length, sorted by them)."""
    change = np.zeros(max(len(keys[0]) - 1, 0), dtype=bool)
    for k in keys:
        change |= k[1:] != k[:-1]
    bounds = np.concatenate([[0], np.flatnonzero(change) + 1, [len(keys[0])]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1) + "\n")


def write_json_gz(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=5) as gz:
        gz.write(json.dumps(obj, separators=(",", ":")).encode())


def write_csv(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")


def write_parquet(path: Path, df: pd.DataFrame | pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression="zstd")

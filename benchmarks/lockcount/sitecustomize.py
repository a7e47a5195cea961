"""Benchmarks only (``bench_executor``): with ``ADPERF_BENCH_LOCK_LOG`` set, every ``duckdb.connect`` that
fails on the database file's lock (dagster-duckdb retries it with back-off) appends a line to that file."""

import os

if os.environ.get("ADPERF_BENCH_LOCK_LOG"):
    import time

    import duckdb

    _connect = duckdb.connect

    def _logged_connect(*args, **kwargs):
        try:
            return _connect(*args, **kwargs)
        except Exception as exc:
            if "lock" in str(exc).lower():
                with open(os.environ["ADPERF_BENCH_LOCK_LOG"], "a") as log:
                    log.write(f"{os.getpid()} {time.time():.3f} {str(exc)[:160]!r}\n")
            raise

    duckdb.connect = _logged_connect

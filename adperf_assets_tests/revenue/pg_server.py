"""A throwaway PostgreSQL server for tests: initdb in a temp dir, pg_ctl on 127.0.0.1, random port.

initdb refuses to run as root, so under root the cluster is created and run as the ``postgres``
user (Debian's package creates it) via ``runuser``. Password authentication (scram) is on, so the
URL the tests use really carries a secret.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

USER = "adperf"
PASSWORD = "pg-test-secret-7f3a9c"  # only for the throwaway server; tests assert it never leaks
DATABASE = "app"


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<ver>/bin`` with initdb, else initdb on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        best = max(found, key=lambda p: int(re.search(r"/postgresql/(\d+)", p).group(1)))
        return Path(best).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bin_dir: Path
    base: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.base / "data"

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root: initdb must run as another user, but runuser is missing")
        return ["runuser", "-u", "postgres", "--", *args]

    def _run(self, args: list[str], timeout: float = 120) -> None:
        proc = subprocess.run(self._as_owner(args), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            log = (self.base / "server.log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{tail}")

    def init(self) -> None:
        pw = self.base / "pw"
        pw.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(pw, "postgres", "postgres")
        self._run([str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pw}",
                   "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"])

    def start(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            self.port = _free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.base} "
                    f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                    f"-c timezone=America/Los_Angeles")  # not UTC: the reader must set its session to UTC
            try:
                self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", opts,
                           "-l", str(self.base / "server.log"), "-w", "-t", "60", "start"])
                return
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5)  # port taken between probe and bind: try another

    def stop(self) -> None:
        try:
            self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], timeout=60)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = DATABASE, password: str = PASSWORD) -> str:
        return f"postgresql+psycopg2://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = DATABASE) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": USER, "password": PASSWORD, "dbname": database}


def start_server() -> PgServer:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("initdb")
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user to run initdb as "
                               "(Debian's postgresql package creates it)") from None
    base = Path(tempfile.mkdtemp(prefix="adperf-pg-", dir="/tmp"))
    os.chmod(base, 0o700)
    server = PgServer(bin_dir, base)
    try:
        server.init()
        server.start()
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server


# The app schema as a PostgreSQL app would declare it: UTC instants as timestamptz, exact money.
PG_APP_SCHEMA = """
CREATE TABLE users (
    id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    platform text NOT NULL CHECK (platform IN ('ios', 'android')),
    country text NOT NULL,
    gender text,
    device_manufacturer text,
    device_model text,
    app_version text
);
CREATE TABLE payments (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id),
    kind text NOT NULL CHECK (kind IN ('purchase', 'refund', 'chargeback')),
    refers_to_payment_id bigint,
    store text NOT NULL,
    store_transaction_id text NOT NULL UNIQUE,
    product_id text NOT NULL,
    amount numeric(18, 4) NOT NULL,
    currency char(3) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX payments_created_at ON payments (created_at);
CREATE INDEX payments_user ON payments (user_id);
"""


def load_app_db(server: PgServer, sqlite_path: Path, database: str = DATABASE) -> dict[str, int]:
    """Create ``database`` and copy the world's users and payments into it (COPY, UTC)."""
    import psycopg2

    admin = psycopg2.connect(**server.dsn("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {database}")
        cur.execute(f"CREATE DATABASE {database}")
    admin.close()
    src = sqlite3.connect(sqlite_path)
    counts = {}
    con = psycopg2.connect(**server.dsn(database))
    try:
        with con, con.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(PG_APP_SCHEMA)
            for table in ("users", "payments"):
                df = pd.read_sql(f"SELECT * FROM {table} ORDER BY id", src)
                for c in ("id", "user_id", "refers_to_payment_id"):
                    if c in df:
                        df[c] = df[c].astype("Int64")
                df["created_at"] = df["created_at"] + "+00"
                path = server.base / f"{table}.csv"
                df.to_csv(path, index=False, header=False, na_rep="")
                with open(path) as fh:
                    cur.copy_expert(f"COPY {table} ({', '.join(df.columns)}) FROM STDIN WITH (FORMAT csv)", fh)
                counts[table] = len(df)
    finally:
        con.close()
        src.close()
    return counts

"""The app's transactional database (users, payments) behind any SQLAlchemy URL.

More: docs/dagster_layer.md."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.dialects import sqlite
from sqlalchemy.pool import NullPool

from adperf_assets.defs.common import redaction
from adperf_assets.defs.common.world import SampleWorld
from adperf_assets.sample import layout

REVERSAL_KINDS = ("refund", "chargeback")

PURCHASE_COLUMNS = ["payment_id", "user_id", "store", "currency", "amount", "created_at"]
REVERSAL_COLUMNS = ["payment_id", "kind", "refers_to_payment_id", "user_id", "store", "currency", "amount",
                    "created_at"]

# SQLite keeps timestamps as text; bind them in the same 'YYYY-MM-DD HH:MM:SS' form so text
# comparison is time comparison (the default format appends '.000000' and breaks equality).
_SQLITE_UTC = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
    regexp=r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:\.(\d+))?",
)
_UTC_TIMESTAMP = sa.DateTime().with_variant(_SQLITE_UTC, "sqlite")


class AppDatabaseError(RuntimeError):
    """A query against the app database failed (the message never contains the password)."""


#: Our name of each ``payments`` column the module reads, and its type (see ``APP_SCHEMA``).
PAYMENT_COLUMNS: dict[str, sa.types.TypeEngine] = {
    "id": sa.BigInteger(),
    "user_id": sa.BigInteger(),
    "kind": sa.String(),
    "refers_to_payment_id": sa.BigInteger(),
    "store": sa.String(),
    "store_transaction_id": sa.String(),
    "product_id": sa.String(),
    "amount": sa.Numeric(asdecimal=False),
    "currency": sa.String(),
    "created_at": _UTC_TIMESTAMP,
}


def _column_names(columns: dict[str, str] | None) -> dict[str, str]:
    """Our column name -> the database's, for every column (identity where not mapped)."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(PAYMENT_COLUMNS))
    if unknown:
        raise AppDatabaseError(f"AppDatabase.columns: unknown payments column(s) {unknown}; "
                               f"the keys are our names, one of {list(PAYMENT_COLUMNS)}")
    return {ours: columns.get(ours) or ours for ours in PAYMENT_COLUMNS}


def payments_table(name: str = "payments", schema: str | None = None,
                   columns: dict[str, str] | None = None) -> sa.Table:
    """The columns of ``payments`` (see ``APP_SCHEMA``) that the snapshot reads.

    ``columns`` maps our column name to the database's (default: the same name); each column is
    keyed by our name (``t.c.created_at``) whatever it is called in the database.
    """
    names = _column_names(columns)
    return sa.Table(
        name, sa.MetaData(schema=schema),
        *(sa.Column(names[ours], typ, key=ours) for ours, typ in PAYMENT_COLUMNS.items()),
    )


def _labeled(t, *names: str) -> list:
    """Columns of ``t`` (a payments table or alias) labeled with our names, so results use them."""
    return [t.c[n].label(n) for n in names]


def _naive_utc(ts: datetime) -> datetime:
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


def _frame(rows: list, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=columns)
    if "created_at" in df:
        df["created_at"] = pd.to_datetime([_naive_utc(t) for t in df["created_at"]]).astype("datetime64[ns]")
    for c in ("payment_id", "user_id"):
        if c in df:
            df[c] = df[c].astype("int64")
    if "refers_to_payment_id" in df:
        df["refers_to_payment_id"] = df["refers_to_payment_id"].astype("Int64")
    if "amount" in df:
        df["amount"] = df["amount"].astype("float64")
    for c in ("store", "currency", "kind"):
        if c in df:
            df[c] = df[c].astype(object)
    return df


class AppDatabase(dg.ConfigurableResource):
    """Read-only access to the app database's ``payments`` table at ``url``."""

    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg2://user:pw@host/db (secret: use an EnvVar).")
    payments_table: str = Field(default="payments", description="Table with the APP_SCHEMA payments columns.")
    db_schema: str | None = Field(default=None, description="Database schema of the table (PostgreSQL), if not the default.")
    connect_timeout_s: int = Field(default=15, description="Seconds to wait for a PostgreSQL connection.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Our payments column name -> the database's column name, for columns named differently "
                    "(e.g. {'created_at': 'paid_at'}); unmapped columns keep our name.")

    # -- connection ----------------------------------------------------------------------------
    def database_url(self) -> str:
        return self.url

    def masked_url(self) -> str:
        """The URL with its password replaced by ``***`` (safe for logs and metadata)."""
        try:
            return sa.make_url(self.database_url()).render_as_string(hide_password=True)
        except Exception:  # unparsable: show nothing of it
            return "<unparsable database URL (hidden)>"

    def _secret(self) -> str | None:
        try:
            return sa.make_url(self.database_url()).password
        except Exception:
            return None

    def _scrub(self, text: str) -> str:
        raw = self.database_url()
        return redaction.redact(text, secrets=(self._secret(), (raw, self.masked_url()) if raw else None),
                                patterns=())

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection (UTC session) that is closed afterwards; errors come out masked."""
        try:
            url = sa.make_url(self.database_url())
        except Exception:
            raise AppDatabaseError("AppDatabase.url is not a valid SQLAlchemy URL (value hidden)") from None
        connect_args = {"connect_timeout": self.connect_timeout_s} if url.get_backend_name() == "postgresql" else {}
        failure: str | None = None
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args, hide_parameters=True)
        if engine.dialect.name == "postgresql":
            @sa.event.listens_for(engine, "connect")
            def _utc(dbapi_con, _record):  # timestamptz compares and returns in UTC
                with dbapi_con.cursor() as cur:
                    cur.execute("SET TIME ZONE 'UTC'")
        try:
            with engine.connect() as con:
                yield con
        except sa.exc.SQLAlchemyError as exc:
            # the original exception is not chained: its args may carry the URL or password
            failure = f"{type(exc).__name__}: {self._scrub(str(getattr(exc, 'orig', None) or exc))}"
        finally:
            engine.dispose()
        if failure is not None:
            raise AppDatabaseError(f"app database {self.masked_url()}: {failure}") from None

    def _table(self) -> sa.Table:
        return payments_table(self.payments_table, self.db_schema, self.columns)

    def _check_columns(self, con: sa.Connection, table: sa.Table) -> None:
        """Fail clearly, naming them, if columns the queries read are not in the database's table."""
        present = {c["name"] for c in sa.inspect(con).get_columns(table.name, schema=table.schema)}
        missing = [f"{c.key} (database column {c.name!r})" if c.key != c.name else repr(c.name)
                   for c in table.columns if c.name not in present]
        if missing:
            where = f"{table.schema}.{table.name}" if table.schema else table.name
            raise AppDatabaseError(
                f"app database {self.masked_url()}: table {where!r} has no column {', '.join(missing)}; "
                f"it has {sorted(present)} (map names with AppDatabase.columns)")

    # -- snapshot instant ----------------------------------------------------------------------
    def snapshot_instant(self, window_end_utc: datetime) -> datetime:
        """When the snapshot is taken (naive UTC): a live database is read as it stands now."""
        return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)

    # -- reads -----------------------------------------------------------------------------------
    def purchases_and_reversals(
        self, start_utc: datetime, end_utc: datetime, as_of: datetime,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Purchases created in ``[start_utc, end_utc)`` (and by ``as_of``), and the refunds and
        chargebacks created by ``as_of`` that reverse one of them; both ordered by id.

        Columns: ``PURCHASE_COLUMNS`` and ``REVERSAL_COLUMNS`` (``created_at`` naive UTC).
        """
        start_utc, end_utc, as_of = _naive_utc(start_utc), _naive_utc(end_utc), _naive_utc(as_of)
        p = self._table()
        in_window = sa.and_(p.c.kind == "purchase", p.c.created_at >= start_utc, p.c.created_at < end_utc,
                            p.c.created_at <= as_of)
        purchases = (sa.select(*_labeled(p, "id", "user_id", "store", "currency", "amount", "created_at"))
                     .where(in_window).order_by(p.c.id, p.c.created_at))
        r = p.alias("r")
        reversals = (
            sa.select(*_labeled(r, "id", "kind", "refers_to_payment_id", "user_id", "store", "currency",
                                "amount", "created_at"))
            .select_from(r.join(p, r.c.refers_to_payment_id == p.c.id))
            .where(r.c.kind.in_(REVERSAL_KINDS), r.c.created_at <= as_of, in_window)
            .order_by(r.c.id, r.c.created_at)
        )
        with self.connect() as con:
            self._check_columns(con, p)
            prows = con.execute(purchases).all()
            rrows = con.execute(reversals).all()
        return _frame(prows, PURCHASE_COLUMNS), _frame(rrows, REVERSAL_COLUMNS)

    def payment_problems(
        self, start_utc: datetime, end_utc: datetime, as_of: datetime, kinds: tuple[str, ...] | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Rows that break the snapshot's assumptions, for the window's scope (see ``checks/revenue.py``):

        - ``duplicate_ids``: ``id`` or ``store_transaction_id`` values held by more than one row,
          among the window's purchases and their reversals (``key, value, rows``);
        - ``sign``: purchases with a negative amount, reversals with a positive one;
        - ``orphan_reversals``: refunds/chargebacks created in the window whose
          ``refers_to_payment_id`` is null or is not the id of any purchase;
        - ``mismatched_reversals``: reversals whose user, store or currency differ from the purchase's.

        ``kinds`` limits the queries run to those names (default: all).
        """
        start_utc, end_utc, as_of = _naive_utc(start_utc), _naive_utc(end_utc), _naive_utc(as_of)
        p = self._table()
        r = p.alias("r")
        q = p.alias("q")
        in_window = sa.and_(p.c.kind == "purchase", p.c.created_at >= start_utc, p.c.created_at < end_utc,
                            p.c.created_at <= as_of)
        scope_ids = sa.union(
            sa.select(p.c.id.label("id")).where(in_window),
            sa.select(r.c.id.label("id")).select_from(r.join(p, r.c.refers_to_payment_id == p.c.id))
            .where(r.c.kind.in_(REVERSAL_KINDS), r.c.created_at <= as_of, in_window),
        ).subquery("scope")
        dup_id = (sa.select(sa.literal("id").label("key"), sa.cast(q.c.id, sa.String).label("value"),
                            sa.func.count().label("rows"))
                  .where(q.c.id.in_(sa.select(scope_ids.c.id)))
                  .group_by(q.c.id).having(sa.func.count() > 1))
        dup_tx = (sa.select(sa.literal("store_transaction_id").label("key"), q.c.store_transaction_id.label("value"),
                            sa.func.count().label("rows"))
                  .where(q.c.store_transaction_id.in_(
                      sa.select(p.c.store_transaction_id).where(p.c.id.in_(sa.select(scope_ids.c.id)))))
                  .group_by(q.c.store_transaction_id).having(sa.func.count() > 1))
        row_cols = _labeled(p, "id", "kind", "user_id", "store", "amount", "currency", "created_at")
        sign = (sa.select(*row_cols)
                .where(p.c.created_at >= start_utc, p.c.created_at < end_utc, p.c.created_at <= as_of,
                       sa.or_(sa.and_(p.c.kind == "purchase", p.c.amount < 0),
                              sa.and_(p.c.kind.in_(REVERSAL_KINDS), p.c.amount > 0)))
                .order_by(p.c.id))
        purchase_ids = sa.select(q.c.id).where(q.c.kind == "purchase")
        orphans = (sa.select(*_labeled(r, "id", "kind", "refers_to_payment_id", "user_id", "amount", "currency",
                                       "created_at"))
                   .where(r.c.kind.in_(REVERSAL_KINDS), r.c.created_at >= start_utc, r.c.created_at < end_utc,
                          r.c.created_at <= as_of,
                          sa.or_(r.c.refers_to_payment_id.is_(None), r.c.refers_to_payment_id.not_in(purchase_ids)))
                   .order_by(r.c.id))
        mismatched = (
            sa.select(*_labeled(r, "id", "kind", "refers_to_payment_id", "user_id"),
                      p.c.user_id.label("purchase_user_id"), *_labeled(r, "store"), p.c.store.label("purchase_store"),
                      *_labeled(r, "currency"), p.c.currency.label("purchase_currency"))
            .select_from(r.join(p, r.c.refers_to_payment_id == p.c.id))
            .where(r.c.kind.in_(REVERSAL_KINDS), r.c.created_at <= as_of, in_window,
                   sa.or_(r.c.user_id != p.c.user_id, r.c.store != p.c.store, r.c.currency != p.c.currency))
            .order_by(r.c.id)
        )
        out: dict[str, pd.DataFrame] = {}
        with self.connect() as con:
            self._check_columns(con, p)
            for name, stmt in (("duplicate_ids", sa.union_all(dup_id, dup_tx)), ("sign", sign),
                               ("orphan_reversals", orphans), ("mismatched_reversals", mismatched)):
                if kinds is not None and name not in kinds:
                    continue
                res = con.execute(stmt)
                out[name] = pd.DataFrame.from_records(res.all(), columns=list(res.keys()))
        for df in out.values():
            if "created_at" in df and len(df):
                df["created_at"] = [_naive_utc(t) for t in df["created_at"]]
        return out


class SampleAppDatabase(AppDatabase):
    """The sample world's SQLite ``app.db``; its clock stops where the world ends.

    A snapshot of a window is taken ``snapshot_lag_hours`` after the window's end (a daily run the
    morning after), but never later than the world's last instant (nothing exists after it).
    """

    world: SampleWorld
    url: str = Field(default="", description="Unused: the URL is the world's app.db.")
    snapshot_lag_hours: float = Field(default=6.0, description="Hours after the window's end the sample snapshot is taken.")

    def database_url(self) -> str:
        return f"sqlite:///{layout.app_db(self.world.root())}"

    def world_end_utc(self) -> datetime:
        """The world's last instant: midnight after its last report day, in UTC (naive)."""
        m = self.world.manifest()
        last = datetime.fromisoformat(m["last_day"]) + timedelta(days=1)
        return last.replace(tzinfo=ZoneInfo(m["report_timezone"])).astimezone(timezone.utc).replace(tzinfo=None)

    def snapshot_instant(self, window_end_utc: datetime) -> datetime:
        return min(_naive_utc(window_end_utc) + timedelta(hours=self.snapshot_lag_hours), self.world_end_utc())

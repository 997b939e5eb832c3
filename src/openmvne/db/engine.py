"""Engines and transactions.

SQLite runs in WAL mode with synchronous=FULL (money lives here), foreign keys on, and
write transactions opened with BEGIN IMMEDIATE so writers queue up front instead of
failing half-way. On PostgreSQL a write transaction gets a lock timeout, so a stuck lock
becomes a retryable error rather than a hung request.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from openmvne.db.scoping import install_scope_guard
from openmvne.errors import Busy

_WRITE = "openmvne_write"


def normalise_url(url: str) -> str:
    """Accept postgresql:// and pick the psycopg 3 driver for it."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def ensure_sqlite_directory(url: str) -> None:
    """SQLite creates the file but not its folder (./var on a fresh clone)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, lock_timeout_s: float = 5.0, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": lock_timeout_s},
            pool_size=pool_size,
        )
        _configure_sqlite(engine, lock_timeout_s)
    else:
        # lock_timeout per connection, set at connect: one round trip less per transaction.
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args={"options": f"-c lock_timeout={int(lock_timeout_s * 1000)}"},
        )
    install_scope_guard(engine)
    return engine


def _configure_sqlite(engine: Engine, lock_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is deferred only).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_lock_timeout(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None)
    return "database is locked" in text or code in {"55P03", "40001", "40P01"}


class Database:
    """One engine and the two kinds of transaction every caller uses."""

    def __init__(self, url: str, *, lock_timeout_s: float = 5.0, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, lock_timeout_s=lock_timeout_s, pool_size=pool_size)
        self.lock_timeout_s = lock_timeout_s
        # SQLite has one writer at a time. Queueing this process's writers here, instead of
        # in SQLite's busy handler (which sleeps and retries), keeps throughput up.
        self._sqlite_writer = threading.Lock() if self.dialect == "sqlite" else None
        # Group-commit desks of this database (db/combiner.py), by use, and what their
        # batches remember between them (services/charging_batch.py's LinesSeen): they live
        # and die with it.
        self.combiners: dict[str, Any] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        queue = self._sqlite_writer
        if queue is not None and not queue.acquire(timeout=self.lock_timeout_s):
            raise Busy("the database is busy; retry the same request")
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            if is_lock_timeout(exc):
                raise Busy("the data is busy; retry the same request") from exc
            raise
        finally:
            if queue is not None:
                queue.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

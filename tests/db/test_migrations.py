"""Migrations upgrade an empty database to head on both backends, with no drift from the
tables in code; SQLite runs with the durability settings money needs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from openmvne.db import migrate
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain.access import Scope, ScopeKind
from openmvne.errors import ScopeMissing
from tests.conftest import Backend, fresh_url


def test_empty_database_upgrades_to_head_without_drift(backend: Backend, tmp_path: Path) -> None:
    url = fresh_url(backend.name, tmp_path) if backend.name == "sqlite" else backend.url
    db = Database(url)
    try:
        assert migrate.current_revision(db.engine) == migrate.head_revision()
        assert migrate.drift(db.engine) == []
    finally:
        db.dispose()


def test_one_linear_history() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert all(not r.is_merge_point for r in revisions)


def test_drift_check_notices_a_missing_table(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    migrate.upgrade(db.url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE user_role"))
    assert any("user_role" in str(diff) for diff in migrate.drift(db.engine))
    db.dispose()


def test_sqlite_runs_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_query_on_tenant_table_without_scope_raises(db: Database) -> None:
    with db.read() as conn:
        with pytest.raises(ScopeMissing):
            conn.execute(select(t.organization))
        with pytest.raises(ScopeMissing):  # hidden in a join or subquery: still caught
            conn.execute(
                select(t.user_account.c.id).where(
                    t.user_account.c.organization_id.in_(select(t.organization.c.id))
                )
            )
        scope = Scope(ScopeKind.PLATFORM, uuid.UUID(int=1))
        conn.execute(scoped(select(t.organization), t.organization, scope)).all()
        conn.execute(unscoped(select(t.organization), "test: explicit and reasoned")).all()
        conn.execute(select(t.user_account)).all()  # not tenant-owned

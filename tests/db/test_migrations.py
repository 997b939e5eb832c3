"""Migrations upgrade an empty database to head on both backends, with no drift from the
tables in code; SQLite runs with the durability settings money needs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from openmvne import clock, ids
from openmvne.db import bulk, migrate
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain.access import Scope, ScopeKind
from openmvne.domain.ledger import AccountKind
from openmvne.errors import ScopeMissing
from openmvne.services import ledger
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


def test_rows_updated_in_place_leave_room_for_hot_updates(backend: Backend) -> None:
    """On PostgreSQL, ledger accounts and period rows are stored with half of each page free,
    as tables.py says: a batch that updates every account once (a rating batch) writes each
    new version in its page (HOT), with no new index entries."""
    if backend.name != "postgres":
        pytest.skip("fillfactor is PostgreSQL's")
    with backend.db.engine.connect() as conn:
        for table in (t.ledger_account, t.usage_period):
            options = conn.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = :name"),
                {"name": table.name},
            ).scalar_one()
            assert options == [f"fillfactor={t.HOT_FILLFACTOR}"]
            assert table.dialect_options["postgresql"]["with"] == {"fillfactor": t.HOT_FILLFACTOR}
        conn.rollback()
        with conn.begin() as transaction:
            now = clock.now()
            accounts = [ids.new_id() for _ in range(600)]
            bulk.insert_rows(conn, t.ledger_account, [
                {
                    "id": a, "kind": AccountKind.CASH.value, "mvno_id": None, "owner_id": a,
                    "msisdn": None,
                    "natural_key": ledger.natural_key(AccountKind.CASH, None, a, None),
                    "no_overdraft": False, "debits_posted": 0, "credits_posted": 0,
                    "debits_pending": 0, "credits_pending": 0, "created_at": now,
                }
                for a in accounts
            ])  # fmt: skip
            ledger.bump(conn, {a: [0, 1, 0, 0] for a in accounts})
            hot = conn.execute(
                text("SELECT pg_stat_get_xact_tuples_hot_updated('ledger_account'::regclass)")
            ).scalar_one()
            transaction.rollback()
    assert hot == len(accounts)


def test_online_usage_answered_before_0015_becomes_records_with_the_sessions_totals(
    tmp_path: Path,
) -> None:
    """A session's requests answered before the online usage records: its whole use goes
    on its last request, in the network's units (bytes for data), its other charging
    requests carry 0 and its initial request none, so a rerating sees the online totals."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url, "0014")
    engine = create_engine(url)  # foreign keys off: the rows stand alone
    started = datetime(2026, 11, 3, 8, tzinfo=UTC)
    sessions = {"voice": (ids.new_id(), 180, 2), "data": (ids.new_id(), 300, 1)}
    with engine.begin() as conn:
        for kind, (sid, used, last) in sessions.items():
            conn.execute(
                text(
                    "INSERT INTO charging_session (id, session_key, subscription_id, mvno_id, "
                    "host_id, msisdn, period, type, direction, state, allowance_units, "
                    "money_units, used_units, last_request, expires_at, created_at, updated_at) "
                    "VALUES (:id, :key, :id, :id, :id, '17100000001', '2026-11', :kind, 'mo', "
                    "'closed', 0, 0, :used, :last, :at, :at, :at)"
                ),
                {"id": sid.hex, "key": kind, "kind": kind, "used": used, "last": last,
                 "at": started},
            )  # fmt: skip
            for number in range(last + 1):
                conn.execute(
                    text("INSERT INTO charging_request VALUES (:sid, :n, 'x', '{}')"),
                    {"sid": sid.hex, "n": number},
                )
    engine.dispose()
    migrate.upgrade(url)
    db = Database(url)
    cr = t.charging_request
    with db.read() as conn:
        rows = conn.execute(
            select(cr.c.session_id, cr.c.request_number, cr.c.used_quantity, cr.c.used_since)
        ).all()
    db.dispose()
    got = {(r.session_id, r.request_number): (r.used_quantity, r.used_since) for r in rows}
    voice, data = sessions["voice"][0], sessions["data"][0]
    assert got == {
        (voice, 0): (None, None),
        (voice, 1): (0, started),
        (voice, 2): (180, started),
        (data, 0): (None, None),
        (data, 1): (300 * 1024, started),
    }


def test_barrings_for_missing_real_name_before_0016_are_read_back_from_the_audit_trail(
    tmp_path: Path,
) -> None:
    """Every lifecycle move is audited with its time and states: a barring that ended
    becomes a closed span, a line barred now an open one from its state's start; other
    moves and other lines make none."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url, "0015")
    engine = create_engine(url)  # foreign keys off: the rows stand alone
    t0 = datetime(2026, 11, 3, 8, tzinfo=UTC)
    day = [t0 + timedelta(days=n) for n in range(4)]
    again, bar_once, never = ids.new_id(), ids.new_id(), ids.new_id()
    lines = {again: ("nonRealNameBarred", day[3]), bar_once: ("operatorBarred", day[2]),
             never: ("suspended", day[1])}  # fmt: skip
    moves = [
        (again, day[0], "active", "nonRealNameBarred"),
        (again, day[1], "nonRealNameBarred", "active"),
        (again, day[3], "active", "nonRealNameBarred"),
        (bar_once, day[1], "active", "nonRealNameBarred"),
        (bar_once, day[2], "nonRealNameBarred", "operatorBarred"),
        (never, day[1], "active", "suspended"),
    ]
    with engine.begin() as conn:
        for n, (line_id, (state, since)) in enumerate(lines.items()):
            conn.execute(
                text(
                    "INSERT INTO subscription (id, mvno_id, msisdn, individual_id, "
                    "id_fingerprint, offering_id, host_id, sim_id, iccid, outlet_id, state, "
                    "state_since, network_level, network_in_sync, debt_fen, evidence, "
                    "created_at, updated_at) VALUES (:id, :id, :msisdn, :id, 'f', :id, "
                    ":id, :id, 'i', :id, :state, :at, 'open', 1, 0, '{}', :at, :at)"
                ),
                {"id": line_id.hex, "msisdn": f"1710000000{n}", "state": state, "at": since},
            )
        for line_id, at, before, after in moves:
            conn.execute(
                text(
                    "INSERT INTO audit_event (id, at, actor_username, action, object_type, "
                    "object_id, data) VALUES (:id, :at, 'op', 'line.x', 'subscription', :obj, "
                    ":data)"
                ),
                {"id": ids.new_id().hex, "at": at, "obj": line_id.hex,
                 "data": json.dumps({"msisdn": "1", "from": before, "to": after})},
            )  # fmt: skip
    engine.dispose()
    migrate.upgrade(url)
    db = Database(url)
    rnb = t.real_name_barring
    with db.read() as conn:
        rows = conn.execute(select(rnb.c.subscription_id, rnb.c.since, rnb.c.until)).all()
    db.dispose()
    assert sorted(rows, key=lambda r: (r[0].int, r[1])) == sorted(
        [(again, day[0], day[1]), (again, day[3], None), (bar_once, day[1], day[2])],
        key=lambda r: (r[0].int, r[1]),
    )

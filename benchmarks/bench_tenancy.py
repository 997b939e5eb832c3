"""What tenancy costs: a partner listing its subtree through the scoping function, against
the baseline of a hand-written query that already knows the subtree's path prefix.

Also: authenticating a request by API token (one indexed lookup + SHA-256) against the
baseline of verifying an argon2id password, which is why tokens, not passwords, go on
every request.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

from openmvne import clock, ids
from openmvne.db import migrate
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain.access import Scope, ScopeKind
from openmvne.domain.parties import Role
from openmvne.services import users

PROVINCES, CITIES, OUTLETS = 30, 10, 6


def _timeit(fn: Callable[[], object], seconds: float = 2.0) -> float:
    """Calls per second over about `seconds`."""
    fn()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - started)


def _build(db: Database) -> tuple[object, str]:
    """One MVNO, a national contractor, 30 provinces x 10 cities x 6 outlets (2,131 edges)."""
    now = clock.now()
    orgs, edges = [], []
    mvno = ids.new_id()
    orgs.append({"id": mvno, "kind": "mvno", "name": "bench-mvno"})

    def edge(party: object, parent: dict | None, level: str) -> dict:
        edge_id = ids.new_id()
        row = {
            "id": edge_id,
            "mvno_id": mvno,
            "party_id": party,
            "parent_id": parent["id"] if parent else None,
            "path": (parent["path"] if parent else "/") + edge_id.hex + "/",
            "level": level,
            "region_code": None,
            "exclusive": False,
            "status": "approved",
            "requested_by_party_id": mvno,
            "created_at": now,
            "updated_at": now,
        }
        edges.append(row)
        return row

    def org(kind: str, name: str) -> object:
        org_id = ids.new_id()
        orgs.append(
            {
                "id": org_id,
                "kind": kind,
                "name": name,
                "partner_type": "provincialContractor" if kind == "partner" else None,
            }
        )
        return org_id

    top = edge(org("partner", "national"), None, "national")
    watched = None
    for p in range(PROVINCES):
        province_party = org("partner", f"p{p}")
        prov = edge(province_party, top, "province")
        if watched is None:
            watched = province_party
        for c in range(CITIES):
            city = edge(org("partner", f"p{p}c{c}"), prov, "prefecture")
            for o in range(OUTLETS):
                edge(org("outlet", f"p{p}c{c}o{o}"), city, "outlet")
    with db.write() as conn:
        conn.execute(
            insert(t.organization),
            [
                {
                    "partner_type": None,
                    "trading_name": None,
                    "region_code": None,
                    "legal_representative_id": None,
                    "created_by_party_id": None,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                    **o,
                }
                for o in orgs
            ],
        )
        conn.execute(
            insert(t.channel_authorisation),
            [
                {"plaque_number": None, "status_reason": None, "approved_at": now, **e}
                for e in edges
            ],
        )
    prefix = next(e["path"] for e in edges if e["party_id"] == watched)
    return watched, prefix


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        db = Database(url)
        partner, prefix = _build(db)
        ca = t.channel_authorisation
        scope = Scope(ScopeKind.CHANNEL, partner)  # type: ignore[arg-type]

        def scoped_list() -> int:
            with db.read() as conn:
                return len(conn.execute(scoped(select(ca), ca, scope)).all())

        def baseline_list() -> int:
            with db.read() as conn:
                where = (ca.c.path >= prefix, ca.c.path < prefix + "~")  # the best index use
                stmt = unscoped(select(ca).where(*where), "baseline")
                return len(conn.execute(stmt).all())

        assert scoped_list() == baseline_list() == 1 + CITIES + CITIES * OUTLETS
        fast = _timeit(baseline_list)
        ours = _timeit(scoped_list)
        print(
            f"subtree list ({baseline_list()} of {PROVINCES * (1 + CITIES * (1 + OUTLETS)) + 1}"
            f" edges), SQLite: scoped {ours:,.0f}/s, baseline hand-written prefix query "
            f"{fast:,.0f}/s, ratio {ours / fast:.2f}"
        )

        op = users.operator(db)
        users.add_user(
            db,
            op,
            username="bench",
            party_id=op.party_id,
            roles=frozenset({Role.PLATFORM_ADMIN}),
            password="bench-password",
        )
        token = users.create_token(db, op, "bench")
        by_token = _timeit(lambda: users.actor_from_token(db, token))
        by_password = _timeit(lambda: users.actor_from_password(db, "bench", "bench-password"))
        print(
            f"authenticate a request: token {by_token:,.0f}/s, baseline argon2id password "
            f"{by_password:,.1f}/s, ratio {by_token / by_password:,.0f}x"
        )
        db.dispose()

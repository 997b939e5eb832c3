"""Tenancy, in one place: the WHERE clause each scope gets on each tenant-owned table.

`scoped(stmt, table, scope)` is the only way to read tenant data for a caller. A SELECT
that touches a tenant table without a scope (or an explicit `unscoped(stmt, why)`, used
by services for rule checks that must see across tenants) raises ScopeMissing before it
reaches the database: tenancy fails closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    event,
    false,
    or_,
    select,
    true,
)
from sqlalchemy.sql.util import find_tables

from openmvne.db import tables as t
from openmvne.domain.access import Scope, ScopeKind
from openmvne.domain.parties import OrgKind
from openmvne.errors import ScopeMissing

_SCOPE = "openmvne_scope"
_UNSCOPED = "openmvne_unscoped"

ca = t.channel_authorisation


def _subtree_ids(party: Any) -> Select[Any]:
    """Ids of the edges in the subtrees rooted at `party`'s own authorisations.

    A subtree is a path prefix. Written as a range (path >= P and path < P + '~', '~' sorting
    after every hex digit and '/') and driven from the party's own edges, so both databases
    walk the path index instead of testing every edge of the tree.
    """
    mine = ca.alias("mine")
    below = ca.alias("below")
    return (
        select(below.c.id)
        .select_from(mine)
        .join(below, and_(below.c.path >= mine.c.path, below.c.path < mine.c.path + "~"))
        .where(mine.c.party_id == party)
    )


def _channel_rule(s: Scope) -> ColumnElement[bool]:
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return ca.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return ca.c.id.in_(_subtree_ids(s.party_id))
        case ScopeKind.OUTLET:
            return ca.c.party_id == s.party_id
        case _:
            return false()


def _organisation_rule(s: Scope) -> ColumnElement[bool]:
    o = t.organization
    if s.kind is ScopeKind.PLATFORM:
        return true()
    # Host networks are public reference data (everyone needs their names and ids).
    base = or_(o.c.id == s.party_id, o.c.kind == OrgKind.HOST_NETWORK.value)
    mine = ca.alias("own")
    authorising_mvnos = select(mine.c.mvno_id).where(mine.c.party_id == s.party_id)
    match s.kind:
        case ScopeKind.MVNO:
            tree = select(ca.c.party_id).where(ca.c.mvno_id == s.party_id)
            return or_(base, o.c.id.in_(tree), o.c.created_by_party_id == s.party_id)
        case ScopeKind.CHANNEL:
            below = select(ca.c.party_id).where(ca.c.id.in_(_subtree_ids(s.party_id)))
            return or_(
                base,
                o.c.id.in_(below),
                o.c.id.in_(authorising_mvnos),
                o.c.created_by_party_id == s.party_id,
            )
        case ScopeKind.OUTLET:
            return or_(base, o.c.id.in_(authorising_mvnos))
        case ScopeKind.SUBSCRIBER:
            i = t.individual
            return or_(base, o.c.id.in_(select(i.c.mvno_id).where(i.c.id == s.party_id)))
        case _:
            return base


def _individual_rule(s: Scope) -> ColumnElement[bool]:
    i = t.individual
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.SUBSCRIBER:
            return i.c.id == s.party_id
        case ScopeKind.MVNO:
            return or_(i.c.mvno_id == s.party_id, i.c.registered_by_party_id == s.party_id)
        case _:
            return i.c.registered_by_party_id == s.party_id


def _blacklist_rule(s: Scope) -> ColumnElement[bool]:
    b = t.blacklist_entry
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return b.c.mvno_id == s.party_id
        case _:
            return false()


def _brand_rule(s: Scope) -> ColumnElement[bool]:
    b = t.brand
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return b.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            return b.c.mvno_id.in_(select(ca.c.mvno_id).where(ca.c.party_id == s.party_id))
        case ScopeKind.SUBSCRIBER:
            i = t.individual
            return b.c.mvno_id.in_(select(i.c.mvno_id).where(i.c.id == s.party_id))
        case _:
            return false()


def _audit_rule(s: Scope) -> ColumnElement[bool]:
    a = t.audit_event
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return a.c.mvno_id == s.party_id
        case _:
            return a.c.actor_party_id == s.party_id


S = TypeVar("S", bound=Select[Any])

RULES: dict[str, Callable[[Scope], ColumnElement[bool]]] = {
    t.channel_authorisation.name: _channel_rule,
    t.organization.name: _organisation_rule,
    t.individual.name: _individual_rule,
    t.blacklist_entry.name: _blacklist_rule,
    t.brand.name: _brand_rule,
    t.audit_event.name: _audit_rule,
}


def visible(table: Table, scope: Scope) -> ColumnElement[bool]:
    return RULES[table.name](scope)


def scoped(stmt: S, table: Table, scope: Scope) -> S:
    """Restrict `stmt` to the rows of `table` that `scope` may see."""
    return stmt.where(visible(table, scope)).execution_options(**{_SCOPE: scope})


def unscoped(stmt: S, why: str) -> S:
    """Mark a deliberate cross-tenant read (a rule check, authentication). Say why."""
    return stmt.execution_options(**{_UNSCOPED: why})


def _tenant_tables(stmt: ClauseElement) -> set[str]:
    names = set()
    for found in find_tables(stmt, include_aliases=True, include_joins=True, include_crud=False):
        table = getattr(found, "element", found)
        if isinstance(table, Table) and table.info.get("tenant"):
            names.add(table.name)
    return names


def install_scope_guard(engine: Engine) -> None:
    @event.listens_for(engine, "before_execute")
    def _guard(
        conn: Any, clause: Any, multiparams: Any, params: Any, execution_options: Any
    ) -> None:
        if not isinstance(clause, Select):
            return
        options = {**clause.get_execution_options(), **execution_options}
        if _SCOPE in options or _UNSCOPED in options:
            return
        touched = _tenant_tables(clause)
        if touched:
            raise ScopeMissing(
                f"unscoped query on tenant table(s) {sorted(touched)}: use scoped() or unscoped()"
            )

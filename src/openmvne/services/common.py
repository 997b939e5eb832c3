"""Small helpers every service uses: scoped fetch-or-404 and filter application."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Select, Table, select

from openmvne import ids
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped
from openmvne.domain.access import Actor, Scope, ScopeKind
from openmvne.errors import InvalidInput, NotFound


def fetch_visible(
    conn: Connection,
    table: Table,
    scope: Scope,
    object_id: uuid.UUID,
    *,
    what: str,
    field: str | None = None,
    for_update: bool = False,
) -> dict[str, Any]:
    """The row if the scope may see it; otherwise NotFound, whether it exists or not."""
    stmt = scoped(select(table).where(table.c.id == object_id), table, scope)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(f"no {what} with that id", field=field)
    return dict(row)


def tenant_named(
    actor: Actor, named: uuid.UUID | None, own: ScopeKind, *, what: str, field: str
) -> uuid.UUID | None:
    """The tenant a body or query names (mvnoId, outletId, hostId...) for this caller.

    A caller that is itself a tenant of that kind (`own`) names itself or nothing (meaning
    itself); any other id is NotFound, as a made-up one is, never silently replaced by the
    caller's own. Other callers (the platform) get `named` back, to check as they do."""
    if actor.scope.kind is not own:
        return named
    if named is not None and named != actor.party_id:
        raise NotFound(f"no {what} with that id", field=field)
    return actor.party_id


def refuse_removing_required(table: Table, changes: Mapping[str, Any]) -> None:
    """A merge patch's null removes an attribute (RFC 7386): not one the table requires.
    Refused here, with the attribute's API name, rather than by the database (a 500)."""
    for name, value in changes.items():
        if value is None and not table.c[name].nullable:
            head, *rest = name.split("_")
            field = head + "".join(part.title() for part in rest)
            raise InvalidInput(f"{field} cannot be removed", code="required", field=field)


# A filterable attribute: its column and how to turn the query-string text into a value.
Filter = tuple[Column[Any], Callable[[str], Any]]


def as_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("expected true or false")
    return text == "true"


def one_of(values: Iterable[str]) -> Callable[[str], str]:
    """A filter on a column of a few values: any other is a 400 bad_filter_value (an empty
    list would say nothing matched, when nothing could)."""
    allowed = sorted(values)

    def convert(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return text

    return convert


def as_public_id(kind: str) -> Callable[[str], uuid.UUID]:
    def convert(text: str) -> uuid.UUID:
        value = ids.from_public(kind, text)
        if value is None:
            raise ValueError(f"not a {kind} id")
        return value

    return convert


def check_filter_names(filters: Iterable[str], allowed: Iterable[str]) -> None:
    """A filter on an attribute the list does not filter on is a 400, never ignored."""
    filterable = sorted(allowed)
    for name in filters:
        if name not in filterable:
            raise InvalidInput(
                f"cannot filter on {name!r}; filterable: {', '.join(filterable) or 'nothing'}",
                code="unknown_filter",
                field=name,
            )


def apply_filters(
    stmt: Select[Any], filters: Mapping[str, str], allowed: Mapping[str, Filter]
) -> Select[Any]:
    """Equality filters on named attributes; an unknown attribute is a 400, not ignored."""
    check_filter_names(filters, allowed)
    for name, text in filters.items():
        column, convert = allowed[name]
        try:
            value = convert(text)
        except ValueError as exc:
            raise InvalidInput(
                f"bad value for filter {name!r}: {exc}", code="bad_filter_value", field=name
            ) from exc
        stmt = stmt.where(column == value)
    return stmt


def list_page(
    db: Database,
    scope: Scope,
    table: Table,
    filters: Mapping[str, str],
    allowed: Mapping[str, Filter],
    *,
    order_by: Sequence[ColumnElement[Any]],
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of a tenant table, as the scope sees it, with equality filters."""
    stmt = apply_filters(scoped(select(table), table, scope), filters, allowed)
    with db.read() as conn:
        return page(conn, stmt, order_by=order_by, offset=offset, limit=limit)


def get_one(
    db: Database, scope: Scope, table: Table, object_id: uuid.UUID, *, what: str
) -> dict[str, Any]:
    """One row the scope may see, in a read transaction of its own; else NotFound."""
    with db.read() as conn:
        return fetch_visible(conn, table, scope, object_id, what=what)

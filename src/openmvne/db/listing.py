"""One page of a scoped query, with the total the paging headers need."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select


def page(
    conn: Connection,
    stmt: Select[Any],
    *,
    order_by: Sequence[ColumnElement[Any]],
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    options = stmt.get_execution_options()
    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = conn.execute(counted.execution_options(**options)).scalar_one()
    rows = conn.execute(stmt.order_by(*order_by).offset(offset).limit(limit)).mappings().all()
    return [dict(r) for r in rows], total

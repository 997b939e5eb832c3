"""when each line was barred for missing real-name registration

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29

Rating charged nothing for a line's usage if the line was barred for missing real-name
registration when the batch ran, whatever its state when the usage happened: a line barred on
the 20th had its whole month refunded by a rerating, and a line registered again was charged
for what it used while barred. Each barring is now kept with its times. The barrings before
this migration are read back from the audit trail, which records every lifecycle move with
its time and its states (`line.<event>`, from → to); a line barred now is barred from the
time its state began.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BARRED = "nonRealNameBarred"
_audit = sa.table(
    "audit_event",
    sa.column("id", sa.Uuid()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.Uuid()),
    sa.column("data", sa.JSON()),
)
_line = sa.table(
    "subscription",
    sa.column("id", sa.Uuid()),
    sa.column("state", sa.String()),
    sa.column("state_since", sa.DateTime(timezone=True)),
)
_span = sa.table(
    "real_name_barring",
    sa.column("id", sa.Uuid()),
    sa.column("subscription_id", sa.Uuid()),
    sa.column("since", sa.DateTime(timezone=True)),
    sa.column("until", sa.DateTime(timezone=True)),
)


def _barrings(bind: sa.Connection) -> list[dict[str, Any]]:
    """Every barring the audit trail shows ended, and one open span per line barred now.
    Only the moves into or out of the barring are read (the database picks them out of the
    JSON), streamed: a trail of tens of millions of lifecycle moves never sits in memory."""
    to, from_ = _audit.c.data["to"].as_string(), _audit.c.data["from"].as_string()
    moves = bind.execute(
        sa.select(_audit.c.object_id, _audit.c.at, _audit.c.data)
        .where(
            _audit.c.object_type == "subscription",
            _audit.c.action.like("line.%"),
            sa.or_(to == BARRED, from_ == BARRED),
        )
        .order_by(_audit.c.object_id, _audit.c.at, _audit.c.id)
        .execution_options(yield_per=10_000)
    )
    spans: list[dict[str, Any]] = []
    since: dict[uuid.UUID, datetime] = {}
    for line_id, at, data in moves:
        move = data if isinstance(data, dict) else json.loads(data)
        if move.get("to") == BARRED and move.get("from") != BARRED:
            since[line_id] = at
        elif move.get("from") == BARRED and move.get("to") != BARRED and line_id in since:
            spans.append({"subscription_id": line_id, "since": since.pop(line_id), "until": at})
    barred = bind.execute(sa.select(_line.c.id, _line.c.state_since).where(_line.c.state == BARRED))
    spans += [{"subscription_id": i, "since": at, "until": None} for i, at in barred]
    return [{"id": uuid.uuid4(), **span} for span in spans]


def upgrade() -> None:
    op.create_table(
        "real_name_barring",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "until IS NULL OR until >= since", name=op.f("ck_real_name_barring_span_in_order")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_real_name_barring_subscription_id_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_real_name_barring")),
    )
    op.create_index(
        op.f("ix_real_name_barring_subscription_id"), "real_name_barring", ["subscription_id"]
    )
    op.create_index(
        "uq_real_name_barring_open",
        "real_name_barring",
        ["subscription_id"],
        unique=True,
        sqlite_where=sa.text("until IS NULL"),
        postgresql_where=sa.text("until IS NULL"),
    )
    spans = _barrings(op.get_bind())
    if spans:
        op.get_bind().execute(sa.insert(_span), spans)


def downgrade() -> None:
    op.drop_index("uq_real_name_barring_open", table_name="real_name_barring")
    op.drop_index("ix_real_name_barring_subscription_id", table_name="real_name_barring")
    op.drop_table("real_name_barring")

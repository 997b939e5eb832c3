"""when each line was barred for missing real-name registration

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29

Rating charged nothing for a line's usage if the line was barred for missing real-name
registration when the batch ran, whatever its state when the usage happened: a line barred on
the 20th had its whole month refunded by a rerating, and a line registered again was charged
for what it used while barred. Each barring is now kept with its times. Lines barred when
this migration runs get a span from the time their state began; earlier barrings, already
ended, were not kept and get none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


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
    # The span's id is the line's: one open span per line at most, and a value both
    # databases can copy without generating one.
    op.execute(
        """
        INSERT INTO real_name_barring (id, subscription_id, since, until)
        SELECT id, id, state_since, NULL FROM subscription WHERE state = 'nonRealNameBarred'
        """
    )


def downgrade() -> None:
    op.drop_index("uq_real_name_barring_open", table_name="real_name_barring")
    op.drop_index("ix_real_name_barring_subscription_id", table_name="real_name_barring")
    op.drop_table("real_name_barring")

"""payment orders

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_order",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gateway_txn_id", sa.String(length=64), nullable=True),
        sa.Column("payer_party_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_payment_order_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_order")),
        sa.UniqueConstraint("gateway_txn_id", name=op.f("uq_payment_order_gateway_txn_id")),
    )
    with op.batch_alter_table("payment_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_order_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_order_mvno_id"), ["mvno_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_order_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_payment_order_msisdn"))

    op.drop_table("payment_order")

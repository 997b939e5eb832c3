"""settlement

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_settlement_run_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_run")),
    )
    with op.batch_alter_table("settlement_run", schema=None) as batch_op:
        batch_op.create_index("uq_settlement_run_mvno_id_month", ["mvno_id", "month"], unique=True)

    op.create_table(
        "customer_bill",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["organization.id"], name=op.f("fk_customer_bill_host_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_customer_bill_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["settlement_run.id"], name=op.f("fk_customer_bill_run_id_settlement_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_bill")),
    )
    with op.batch_alter_table("customer_bill", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_bill_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_bill_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            "uq_customer_bill_mvno_id_host_id_month", ["mvno_id", "host_id", "month"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_bill", schema=None) as batch_op:
        batch_op.drop_index("uq_customer_bill_mvno_id_host_id_month")
        batch_op.drop_index(batch_op.f("ix_customer_bill_run_id"))
        batch_op.drop_index(batch_op.f("ix_customer_bill_mvno_id"))

    op.drop_table("customer_bill")
    with op.batch_alter_table("settlement_run", schema=None) as batch_op:
        batch_op.drop_index("uq_settlement_run_mvno_id_month")

    op.drop_table("settlement_run")

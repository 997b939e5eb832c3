"""usage

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rating_batch",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("records_in", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("rated", sa.BigInteger(), nullable=False),
        sa.Column("charged_fen", sa.BigInteger(), nullable=False),
        sa.Column("wholesale_fen", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_batch")),
    )
    op.create_table(
        "usage_claim",
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("bitmap", sa.LargeBinary(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "block", name=op.f("pk_usage_claim")),
    )
    op.create_table(
        "usage_cost",
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("wholesale_exact", sa.BigInteger(), nullable=False),
        sa.Column("wholesale_fen", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["organization.id"], name=op.f("fk_usage_cost_host_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_usage_cost_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("mvno_id", "host_id", "period", name=op.f("pk_usage_cost")),
    )
    op.create_table(
        "usage_reject",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.BigInteger(), nullable=True),
        sa.Column("node_id", sa.String(length=32), nullable=True),
        sa.Column("seq", sa.String(length=40), nullable=True),
        sa.Column("msisdn", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["rating_batch.id"], name=op.f("fk_usage_reject_batch_id_rating_batch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_reject")),
    )
    with op.batch_alter_table("usage_reject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_reject_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "usage_period",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("voice_allow_s", sa.BigInteger(), nullable=False),
        sa.Column("sms_allow", sa.BigInteger(), nullable=False),
        sa.Column("data_allow_kb", sa.BigInteger(), nullable=False),
        sa.Column("rollover_kb", sa.BigInteger(), nullable=False),
        sa.Column("voice_used_s", sa.BigInteger(), nullable=False),
        sa.Column("sms_used", sa.BigInteger(), nullable=False),
        sa.Column("data_used_kb", sa.BigInteger(), nullable=False),
        sa.Column("data_over_kb", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("charge_exact", sa.BigInteger(), nullable=False),
        sa.Column("charged_fen", sa.BigInteger(), nullable=False),
        sa.Column("unpaid_fen", sa.BigInteger(), nullable=False),
        sa.Column("wholesale_exact", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_usage_period_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_usage_period_subscription_id_subscription"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", "period", name=op.f("pk_usage_period")),
    )
    with op.batch_alter_table("usage_period", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_period_mvno_id"), ["mvno_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_period", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_period_mvno_id"))

    op.drop_table("usage_period")
    with op.batch_alter_table("usage_reject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_reject_batch_id"))

    op.drop_table("usage_reject")
    op.drop_table("usage_cost")
    op.drop_table("usage_claim")
    op.drop_table("rating_batch")

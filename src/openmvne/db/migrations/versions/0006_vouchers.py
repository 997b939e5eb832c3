"""vouchers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voucher_batch",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("face_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("card_count", sa.Integer(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_voucher_batch_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_batch")),
    )
    with op.batch_alter_table("voucher_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_batch_mvno_id"), ["mvno_id"], unique=False)

    op.create_table(
        "voucher",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("pin_hmac", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("holder_party_id", sa.Uuid(), nullable=True),
        sa.Column("used_msisdn", sa.String(length=11), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["voucher_batch.id"], name=op.f("fk_voucher_batch_id_voucher_batch")
        ),
        sa.ForeignKeyConstraint(
            ["holder_party_id"],
            ["organization.id"],
            name=op.f("fk_voucher_holder_party_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_voucher_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher")),
        sa.UniqueConstraint("pin_hmac", name=op.f("uq_voucher_pin_hmac")),
        sa.UniqueConstraint("serial", name=op.f("uq_voucher_serial")),
    )
    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_batch_id"))

    op.drop_table("voucher")
    with op.batch_alter_table("voucher_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_batch_mvno_id"))

    op.drop_table("voucher_batch")

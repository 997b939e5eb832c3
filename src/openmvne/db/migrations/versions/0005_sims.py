"""sims

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sim_batch",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("card_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["organization.id"], name=op.f("fk_sim_batch_host_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_sim_batch_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_batch")),
    )
    with op.batch_alter_table("sim_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sim_batch_mvno_id"), ["mvno_id"], unique=False)

    op.create_table(
        "sim_card",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("imsi", sa.String(length=15), nullable=False),
        sa.Column("ki_enc", sa.LargeBinary(), nullable=False),
        sa.Column("opc_enc", sa.LargeBinary(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("holder_party_id", sa.Uuid(), nullable=False),
        sa.Column("holder_auth_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["sim_batch.id"], name=op.f("fk_sim_card_batch_id_sim_batch")
        ),
        sa.ForeignKeyConstraint(
            ["holder_auth_id"],
            ["channel_authorisation.id"],
            name=op.f("fk_sim_card_holder_auth_id_channel_authorisation"),
        ),
        sa.ForeignKeyConstraint(
            ["holder_party_id"],
            ["organization.id"],
            name=op.f("fk_sim_card_holder_party_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_sim_card_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_card")),
        sa.UniqueConstraint("iccid", name=op.f("uq_sim_card_iccid")),
        sa.UniqueConstraint("imsi", name=op.f("uq_sim_card_imsi")),
        sa.UniqueConstraint("msisdn", name=op.f("uq_sim_card_msisdn")),
    )
    with op.batch_alter_table("sim_card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sim_card_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            "ix_sim_card_holder_party_id_state", ["holder_party_id", "state"], unique=False
        )
        batch_op.create_index("ix_sim_card_mvno_id_state", ["mvno_id", "state"], unique=False)

    op.create_table(
        "stock_transfer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("from_party_id", sa.Uuid(), nullable=False),
        sa.Column("to_party_id", sa.Uuid(), nullable=False),
        sa.Column("to_auth_id", sa.Uuid(), nullable=True),
        sa.Column("card_count", sa.Integer(), nullable=False),
        sa.Column("iccids", sa.JSON(), nullable=False),
        sa.Column("by_user", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_party_id"],
            ["organization.id"],
            name=op.f("fk_stock_transfer_from_party_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_stock_transfer_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["to_auth_id"],
            ["channel_authorisation.id"],
            name=op.f("fk_stock_transfer_to_auth_id_channel_authorisation"),
        ),
        sa.ForeignKeyConstraint(
            ["to_party_id"],
            ["organization.id"],
            name=op.f("fk_stock_transfer_to_party_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_transfer")),
    )
    with op.batch_alter_table("stock_transfer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stock_transfer_from_party_id"), ["from_party_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_stock_transfer_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_stock_transfer_to_party_id"), ["to_party_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stock_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stock_transfer_to_party_id"))
        batch_op.drop_index(batch_op.f("ix_stock_transfer_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_stock_transfer_from_party_id"))

    op.drop_table("stock_transfer")
    with op.batch_alter_table("sim_card", schema=None) as batch_op:
        batch_op.drop_index("ix_sim_card_mvno_id_state")
        batch_op.drop_index("ix_sim_card_holder_party_id_state")
        batch_op.drop_index(batch_op.f("ix_sim_card_batch_id"))

    op.drop_table("sim_card")
    with op.batch_alter_table("sim_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_batch_mvno_id"))

    op.drop_table("sim_batch")

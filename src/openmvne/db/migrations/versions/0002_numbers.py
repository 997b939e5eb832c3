"""numbers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "number_policy",
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("utilisation_threshold_pct", sa.Integer(), nullable=False),
        sa.Column("quarantine_days", sa.Integer(), nullable=False),
        sa.Column("reservation_minutes", sa.Integer(), nullable=False),
        sa.Column("pretty_rules", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_number_policy_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("mvno_id", name=op.f("pk_number_policy")),
    )
    op.create_table(
        "number_reservation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mvno_id"],
            ["organization.id"],
            name=op.f("fk_number_reservation_mvno_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["organization.id"],
            name=op.f("fk_number_reservation_party_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_reservation")),
    )
    with op.batch_alter_table("number_reservation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_number_reservation_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_number_reservation_mvno_id"), ["mvno_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_number_reservation_party_id"), ["party_id"], unique=False
        )

    op.create_table(
        "number_segment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=4), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["organization.id"], name=op.f("fk_number_segment_host_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_segment")),
        sa.UniqueConstraint("prefix", name=op.f("uq_number_segment_prefix")),
    )
    with op.batch_alter_table("number_segment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_segment_host_id"), ["host_id"], unique=False)

    op.create_table(
        "number_allocation_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("segment_id", sa.Uuid(), nullable=False),
        sa.Column("block_count", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("granted_prefixes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mvno_id"],
            ["organization.id"],
            name=op.f("fk_number_allocation_request_mvno_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["number_segment.id"],
            name=op.f("fk_number_allocation_request_segment_id_number_segment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_allocation_request")),
    )
    with op.batch_alter_table("number_allocation_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_number_allocation_request_mvno_id"), ["mvno_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_number_allocation_request_segment_id"), ["segment_id"], unique=False
        )

    op.create_table(
        "number_block",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=7), nullable=False),
        sa.Column("first_number", sa.BigInteger(), nullable=False),
        sa.Column("segment_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=True),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("taken", sa.LargeBinary(), nullable=False),
        sa.Column("taken_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_number_block_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_number_block_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["number_segment.id"],
            name=op.f("fk_number_block_segment_id_number_segment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_block")),
        sa.UniqueConstraint("first_number", name=op.f("uq_number_block_first_number")),
        sa.UniqueConstraint("prefix", name=op.f("uq_number_block_prefix")),
    )
    with op.batch_alter_table("number_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_block_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            "ix_number_block_mvno_id_first_number", ["mvno_id", "first_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_number_block_segment_id"), ["segment_id"], unique=False
        )

    op.create_table(
        "sale_right",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("holder_id", sa.Uuid(), nullable=False),
        sa.Column("first_number", sa.BigInteger(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("first_number <= last_number", name=op.f("ck_sale_right_ordered")),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["channel_authorisation.id"],
            name=op.f("fk_sale_right_holder_id_channel_authorisation"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_sale_right_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sale_right")),
    )
    with op.batch_alter_table("sale_right", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sale_right_holder_id"), ["holder_id"], unique=False)
        batch_op.create_index(
            "ix_sale_right_mvno_id_status_first_number",
            ["mvno_id", "status", "first_number"],
            unique=False,
        )

    op.create_table(
        "number",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("block_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("holder_party_id", sa.Uuid(), nullable=True),
        sa.Column("state_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sale_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["block_id"], ["number_block.id"], name=op.f("fk_number_block_id_number_block")
        ),
        sa.ForeignKeyConstraint(
            ["holder_party_id"],
            ["organization.id"],
            name=op.f("fk_number_holder_party_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_number_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["number_reservation.id"],
            name=op.f("fk_number_reservation_id_number_reservation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number")),
        sa.UniqueConstraint("msisdn", name=op.f("uq_number_msisdn")),
    )
    with op.batch_alter_table("number", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_block_id"), ["block_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_number_holder_party_id"), ["holder_party_id"], unique=False
        )
        batch_op.create_index("ix_number_mvno_id_state", ["mvno_id", "state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_number_reservation_id"), ["reservation_id"], unique=False
        )
        batch_op.create_index("ix_number_state_state_until", ["state", "state_until"], unique=False)

    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hotline", sa.String(length=32), nullable=True))

    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("network_code", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("network_code")

    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.drop_column("hotline")

    with op.batch_alter_table("number", schema=None) as batch_op:
        batch_op.drop_index("ix_number_state_state_until")
        batch_op.drop_index(batch_op.f("ix_number_reservation_id"))
        batch_op.drop_index("ix_number_mvno_id_state")
        batch_op.drop_index(batch_op.f("ix_number_holder_party_id"))
        batch_op.drop_index(batch_op.f("ix_number_block_id"))

    op.drop_table("number")
    with op.batch_alter_table("sale_right", schema=None) as batch_op:
        batch_op.drop_index("ix_sale_right_mvno_id_status_first_number")
        batch_op.drop_index(batch_op.f("ix_sale_right_holder_id"))

    op.drop_table("sale_right")
    with op.batch_alter_table("number_block", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_number_block_segment_id"))
        batch_op.drop_index("ix_number_block_mvno_id_first_number")
        batch_op.drop_index(batch_op.f("ix_number_block_mvno_id"))

    op.drop_table("number_block")
    with op.batch_alter_table("number_allocation_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_number_allocation_request_segment_id"))
        batch_op.drop_index(batch_op.f("ix_number_allocation_request_mvno_id"))

    op.drop_table("number_allocation_request")
    with op.batch_alter_table("number_segment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_number_segment_host_id"))

    op.drop_table("number_segment")
    with op.batch_alter_table("number_reservation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_number_reservation_party_id"))
        batch_op.drop_index(batch_op.f("ix_number_reservation_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_number_reservation_expires_at"))

    op.drop_table("number_reservation")
    op.drop_table("number_policy")

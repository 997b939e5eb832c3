"""subscribers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_policy",
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("out_to_both_days", sa.Integer(), nullable=False),
        sa.Column("both_to_pre_cancel_days", sa.Integer(), nullable=False),
        sa.Column("pre_cancel_to_cancel_days", sa.Integer(), nullable=False),
        sa.Column("keep_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_lifecycle_policy_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("mvno_id", name=op.f("pk_lifecycle_policy")),
    )
    op.create_table(
        "subscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("individual_id", sa.Uuid(), nullable=False),
        sa.Column("id_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("offering_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("sim_id", sa.Uuid(), nullable=False),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("outlet_id", sa.Uuid(), nullable=False),
        sa.Column("outlet_auth_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("previous_state", sa.String(length=24), nullable=True),
        sa.Column("state_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("network_level", sa.String(length=16), nullable=False),
        sa.Column("network_in_sync", sa.Boolean(), nullable=False),
        sa.Column("debt_fen", sa.BigInteger(), nullable=False),
        sa.Column("next_fee_on", sa.Date(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("debt_fen >= 0", name=op.f("ck_subscription_debt_not_negative")),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_subscription_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["organization.id"], name=op.f("fk_subscription_host_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_subscription_individual_id_individual"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_subscription_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["product_offering.id"],
            name=op.f("fk_subscription_offering_id_product_offering"),
        ),
        sa.ForeignKeyConstraint(
            ["outlet_auth_id"],
            ["channel_authorisation.id"],
            name=op.f("fk_subscription_outlet_auth_id_channel_authorisation"),
        ),
        sa.ForeignKeyConstraint(
            ["outlet_id"], ["organization.id"], name=op.f("fk_subscription_outlet_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["sim_id"], ["sim_card.id"], name=op.f("fk_subscription_sim_id_sim_card")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription")),
    )
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscription_individual_id"), ["individual_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subscription_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(
            "ix_subscription_mvno_id_id_fingerprint", ["mvno_id", "id_fingerprint"], unique=False
        )
        batch_op.create_index("ix_subscription_next_fee_on", ["next_fee_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscription_outlet_id"), ["outlet_id"], unique=False)
        batch_op.create_index(
            "ix_subscription_state_state_until", ["state", "state_until"], unique=False
        )
        batch_op.create_index(
            "uq_subscription_msisdn_live",
            ["msisdn"],
            unique=True,
            sqlite_where=sa.text("state NOT IN ('cancelled', 'failed')"),
            postgresql_where=sa.text("state NOT IN ('cancelled', 'failed')"),
        )

    op.create_table(
        "product_order",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_product_order_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_product_order_subscription_id_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_order")),
    )
    with op.batch_alter_table("product_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_order_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_order_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_order_party_id"), ["party_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_product_order_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "subscription_service",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("offering_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mvno_id"],
            ["organization.id"],
            name=op.f("fk_subscription_service_mvno_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["product_offering.id"],
            name=op.f("fk_subscription_service_offering_id_product_offering"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_subscription_service_subscription_id_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_service")),
    )
    with op.batch_alter_table("subscription_service", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscription_service_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "provisioning_command",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("host_network", sa.String(length=16), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=False),
        sa.Column("imsi", sa.String(length=15), nullable=True),
        sa.Column("iccid", sa.String(length=20), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("network_ref", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"],
            ["organization.id"],
            name=op.f("fk_provisioning_command_mvno_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["product_order.id"],
            name=op.f("fk_provisioning_command_order_id_product_order"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_provisioning_command_subscription_id_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_command")),
    )
    with op.batch_alter_table("provisioning_command", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provisioning_command_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            "ix_provisioning_command_state_next_attempt_at",
            ["state", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_provisioning_command_subscription_id"), ["subscription_id"], unique=False
        )

    with op.batch_alter_table("individual", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_type", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("id_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("id_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("id_masked", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("id_expires_on", sa.Date(), nullable=True))
        batch_op.create_index(
            "uq_individual_mvno_id_id_fingerprint", ["mvno_id", "id_fingerprint"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("individual", schema=None) as batch_op:
        batch_op.drop_index("uq_individual_mvno_id_id_fingerprint")
        batch_op.drop_column("id_expires_on")
        batch_op.drop_column("id_masked")
        batch_op.drop_column("id_fingerprint")
        batch_op.drop_column("id_sealed")
        batch_op.drop_column("id_type")

    with op.batch_alter_table("provisioning_command", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisioning_command_subscription_id"))
        batch_op.drop_index("ix_provisioning_command_state_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_provisioning_command_order_id"))

    op.drop_table("provisioning_command")
    with op.batch_alter_table("subscription_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_service_subscription_id"))

    op.drop_table("subscription_service")
    with op.batch_alter_table("product_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_order_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_product_order_party_id"))
        batch_op.drop_index(batch_op.f("ix_product_order_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_product_order_msisdn"))

    op.drop_table("product_order")
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_subscription_msisdn_live",
            sqlite_where=sa.text("state NOT IN ('cancelled', 'failed')"),
            postgresql_where=sa.text("state NOT IN ('cancelled', 'failed')"),
        )
        batch_op.drop_index("ix_subscription_state_state_until")
        batch_op.drop_index(batch_op.f("ix_subscription_outlet_id"))
        batch_op.drop_index("ix_subscription_next_fee_on")
        batch_op.drop_index("ix_subscription_mvno_id_id_fingerprint")
        batch_op.drop_index(batch_op.f("ix_subscription_msisdn"))
        batch_op.drop_index(batch_op.f("ix_subscription_individual_id"))

    op.drop_table("subscription")
    op.drop_table("lifecycle_policy")

"""catalog

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commission_scheme",
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("revenue_share_bp", sa.JSON(), nullable=False),
        sa.Column("mvno_margin_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_commission_scheme_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("mvno_id", name=op.f("pk_commission_scheme")),
    )
    op.create_table(
        "host_average_price",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("voice_rate", sa.BigInteger(), nullable=False),
        sa.Column("sms_rate", sa.BigInteger(), nullable=False),
        sa.Column("data_rate", sa.BigInteger(), nullable=False),
        sa.Column("results_published_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["organization.id"],
            name=op.f("fk_host_average_price_host_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_average_price")),
    )
    with op.batch_alter_table("host_average_price", schema=None) as batch_op:
        batch_op.create_index(
            "uq_host_average_price_host_id_year", ["host_id", "year"], unique=True
        )

    op.create_table(
        "wholesale_price_list",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("voice_rate", sa.BigInteger(), nullable=True),
        sa.Column("sms_rate", sa.BigInteger(), nullable=True),
        sa.Column("data_rate", sa.BigInteger(), nullable=True),
        sa.Column("revenue_tiers", sa.JSON(), nullable=False),
        sa.Column("annual_revenue_fen", sa.BigInteger(), nullable=False),
        sa.Column("host_packages", sa.JSON(), nullable=False),
        sa.Column("per_number_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("review_due_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["organization.id"],
            name=op.f("fk_wholesale_price_list_host_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"],
            ["organization.id"],
            name=op.f("fk_wholesale_price_list_mvno_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wholesale_price_list")),
    )
    with op.batch_alter_table("wholesale_price_list", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wholesale_price_list_mvno_id_host_id", ["mvno_id", "host_id"], unique=False
        )

    op.create_table(
        "product_offering",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("monthly_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("voice_min", sa.BigInteger(), nullable=False),
        sa.Column("sms", sa.BigInteger(), nullable=False),
        sa.Column("data_mb", sa.BigInteger(), nullable=False),
        sa.Column("voice_rate", sa.BigInteger(), nullable=False),
        sa.Column("sms_rate", sa.BigInteger(), nullable=False),
        sa.Column("data_rate", sa.BigInteger(), nullable=False),
        sa.Column("voice_increment_s", sa.Integer(), nullable=False),
        sa.Column("data_increment_kb", sa.Integer(), nullable=False),
        sa.Column("data_cap_mb", sa.BigInteger(), nullable=True),
        sa.Column("rollover_data", sa.Boolean(), nullable=False),
        sa.Column("terminating_voice_free", sa.Boolean(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("min_monthly_spend_fen", sa.BigInteger(), nullable=True),
        sa.Column("term_months", sa.Integer(), nullable=True),
        sa.Column("host_package_code", sa.String(length=40), nullable=True),
        sa.Column("shared_with_channels", sa.Boolean(), nullable=False),
        sa.Column("design_id", sa.Uuid(), nullable=True),
        sa.Column("designer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_product_offering_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["designer_id"],
            ["channel_authorisation.id"],
            name=op.f("fk_product_offering_designer_id_channel_authorisation"),
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["organization.id"], name=op.f("fk_product_offering_host_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_product_offering_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_offering")),
    )
    with op.batch_alter_table("product_offering", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_offering_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index("uq_product_offering_mvno_id_name", ["mvno_id", "name"], unique=True)

    op.create_table(
        "inversion_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("offering_id", sa.Uuid(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_inversion_alert_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["product_offering.id"],
            name=op.f("fk_inversion_alert_offering_id_product_offering"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inversion_alert")),
    )
    with op.batch_alter_table("inversion_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inversion_alert_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_inversion_alert_offering_id"), ["offering_id"], unique=False
        )

    op.create_table(
        "package_design",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("designer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_offering_id", sa.Uuid(), nullable=False),
        sa.Column("addon_ids", sa.JSON(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("offering_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_offering_id"],
            ["product_offering.id"],
            name=op.f("fk_package_design_base_offering_id_product_offering"),
        ),
        sa.ForeignKeyConstraint(
            ["designer_id"],
            ["channel_authorisation.id"],
            name=op.f("fk_package_design_designer_id_channel_authorisation"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_package_design_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["product_offering.id"],
            name=op.f("fk_package_design_offering_id_product_offering"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_design")),
    )
    with op.batch_alter_table("package_design", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_package_design_designer_id"), ["designer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_package_design_mvno_id"), ["mvno_id"], unique=False)

    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.add_column(sa.Column("website", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("highlights", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("service_channels", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.drop_column("service_channels")
        batch_op.drop_column("highlights")
        batch_op.drop_column("website")

    with op.batch_alter_table("package_design", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_package_design_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_package_design_designer_id"))

    op.drop_table("package_design")
    with op.batch_alter_table("inversion_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inversion_alert_offering_id"))
        batch_op.drop_index(batch_op.f("ix_inversion_alert_mvno_id"))

    op.drop_table("inversion_alert")
    with op.batch_alter_table("product_offering", schema=None) as batch_op:
        batch_op.drop_index("uq_product_offering_mvno_id_name")
        batch_op.drop_index(batch_op.f("ix_product_offering_mvno_id"))

    op.drop_table("product_offering")
    with op.batch_alter_table("wholesale_price_list", schema=None) as batch_op:
        batch_op.drop_index("ix_wholesale_price_list_mvno_id_host_id")

    op.drop_table("wholesale_price_list")
    with op.batch_alter_table("host_average_price", schema=None) as batch_op:
        batch_op.drop_index("uq_host_average_price_host_id_year")

    op.drop_table("host_average_price")
    op.drop_table("commission_scheme")

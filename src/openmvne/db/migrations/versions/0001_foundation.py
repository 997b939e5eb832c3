"""foundation: parties, channel tree, users, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=False),
        sa.Column("actor_party_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            "ix_audit_event_object_type_object_id", ["object_type", "object_id"], unique=False
        )

    op.create_table(
        "organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("partner_type", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("trading_name", sa.String(length=200), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("legal_representative_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_party_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
    )
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_created_by_party_id"), ["created_by_party_id"], unique=False
        )
        batch_op.create_index("uq_organization_kind_name", ["kind", "name"], unique=True)

    op.create_table(
        "brand",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_brand_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand")),
        sa.UniqueConstraint("name", name=op.f("uq_brand_name")),
    )
    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_brand_mvno_id"), ["mvno_id"], unique=False)

    op.create_table(
        "channel_authorisation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("plaque_number", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("requested_by_party_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "NOT exclusive OR region_code IS NOT NULL",
            name=op.f("ck_channel_authorisation_exclusive_has_region"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"],
            ["organization.id"],
            name=op.f("fk_channel_authorisation_mvno_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["channel_authorisation.id"],
            name=op.f("fk_channel_authorisation_parent_id_channel_authorisation"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["organization.id"],
            name=op.f("fk_channel_authorisation_party_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_party_id"],
            ["organization.id"],
            name=op.f("fk_channel_authorisation_requested_by_party_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_authorisation")),
    )
    with op.batch_alter_table("channel_authorisation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_channel_authorisation_mvno_id_status", ["mvno_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_channel_authorisation_parent_id"), ["parent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_channel_authorisation_party_id"), ["party_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_channel_authorisation_path"), ["path"], unique=False)
        batch_op.create_index(
            "uq_channel_authorisation_exclusive_seat",
            ["mvno_id", "level", "region_code"],
            unique=True,
            sqlite_where=sa.text("exclusive AND status IN ('approved', 'suspended')"),
            postgresql_where=sa.text("exclusive AND status IN ('approved', 'suspended')"),
        )
        batch_op.create_index(
            "uq_channel_authorisation_mvno_id_plaque_number",
            ["mvno_id", "plaque_number"],
            unique=True,
        )

    op.create_table(
        "individual",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=True),
        sa.Column("registered_by_party_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_individual_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_party_id"],
            ["organization.id"],
            name=op.f("fk_individual_registered_by_party_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_individual")),
    )
    with op.batch_alter_table("individual", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_individual_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_individual_registered_by_party_id"),
            ["registered_by_party_id"],
            unique=False,
        )

    op.create_table(
        "blacklist_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("individual_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(organization_id IS NULL) <> (individual_id IS NULL)",
            name=op.f("ck_blacklist_entry_one_party"),
        ),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_blacklist_entry_individual_id_individual"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_blacklist_entry_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_blacklist_entry_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist_entry")),
    )
    with op.batch_alter_table("blacklist_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_blacklist_entry_individual_id"), ["individual_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_blacklist_entry_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_blacklist_entry_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("individual_id", sa.Uuid(), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(organization_id IS NULL) <> (individual_id IS NULL)",
            name=op.f("ck_user_account_one_party"),
        ),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_user_account_individual_id_individual"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_user_account_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_account_individual_id"), ["individual_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_user_account_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "api_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_api_token_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "user_role",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_user_role_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_role")),
    )


def downgrade() -> None:
    op.drop_table("user_role")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_account_organization_id"))
        batch_op.drop_index(batch_op.f("ix_user_account_individual_id"))

    op.drop_table("user_account")
    with op.batch_alter_table("blacklist_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blacklist_entry_organization_id"))
        batch_op.drop_index(batch_op.f("ix_blacklist_entry_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_blacklist_entry_individual_id"))

    op.drop_table("blacklist_entry")
    with op.batch_alter_table("individual", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_individual_registered_by_party_id"))
        batch_op.drop_index(batch_op.f("ix_individual_mvno_id"))

    op.drop_table("individual")
    with op.batch_alter_table("channel_authorisation", schema=None) as batch_op:
        batch_op.drop_index("uq_channel_authorisation_mvno_id_plaque_number")
        batch_op.drop_index(
            "uq_channel_authorisation_exclusive_seat",
            sqlite_where=sa.text("exclusive AND status IN ('approved', 'suspended')"),
            postgresql_where=sa.text("exclusive AND status IN ('approved', 'suspended')"),
        )
        batch_op.drop_index(batch_op.f("ix_channel_authorisation_path"))
        batch_op.drop_index(batch_op.f("ix_channel_authorisation_party_id"))
        batch_op.drop_index(batch_op.f("ix_channel_authorisation_parent_id"))
        batch_op.drop_index("ix_channel_authorisation_mvno_id_status")

    op.drop_table("channel_authorisation")
    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_brand_mvno_id"))

    op.drop_table("brand")
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_index("uq_organization_kind_name")
        batch_op.drop_index(batch_op.f("ix_organization_created_by_party_id"))

    op.drop_table("organization")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_object_type_object_id")
        batch_op.drop_index(batch_op.f("ix_audit_event_mvno_id"))

    op.drop_table("audit_event")

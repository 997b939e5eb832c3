"""care

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_verification",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("code_hmac", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_verification")),
    )
    with op.batch_alter_table("care_verification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_verification_msisdn_created_at", ["msisdn", "created_at"], unique=False
        )

    op.create_table(
        "care_team",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("owner_party_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("main_of", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_care_team_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["owner_party_id"],
            ["organization.id"],
            name=op.f("fk_care_team_owner_party_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team")),
        sa.UniqueConstraint("main_of", name=op.f("uq_care_team_main_of")),
    )
    with op.batch_alter_table("care_team", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_team_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_care_team_owner_party_id"), ["owner_party_id"], unique=False
        )
        batch_op.create_index("uq_care_team_mvno_id_name", ["mvno_id", "name"], unique=True)

    op.create_table(
        "care_route",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("ticket_type", sa.String(length=24), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("rule_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_care_route_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_care_route_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_team.id"], name=op.f("fk_care_route_team_id_care_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_route")),
    )
    with op.batch_alter_table("care_route", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_route_team_id"), ["team_id"], unique=False)
        batch_op.create_index(
            "uq_care_route_mvno_id_rule_key", ["mvno_id", "rule_key"], unique=True
        )

    op.create_table(
        "care_team_area",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("region_prefix", sa.String(length=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_care_team_area_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_team.id"], name=op.f("fk_care_team_area_team_id_care_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team_area")),
    )
    with op.batch_alter_table("care_team_area", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_team_area_team_id"), ["team_id"], unique=False)

    op.create_table(
        "care_team_member",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_team.id"], name=op.f("fk_care_team_member_team_id_care_team")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_care_team_member_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_care_team_member")),
    )
    with op.batch_alter_table("care_team_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_team_member_user_id"), ["user_id"], unique=False)

    op.create_table(
        "trouble_ticket",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("individual_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_type", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=12), nullable=False),
        sa.Column("priority", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("first_team_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("opened_by_party_id", sa.Uuid(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_s", sa.BigInteger(), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_trouble_ticket_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["first_team_id"],
            ["care_team.id"],
            name=op.f("fk_trouble_ticket_first_team_id_care_team"),
        ),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_trouble_ticket_individual_id_individual"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_trouble_ticket_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_trouble_ticket_subscription_id_subscription"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_team.id"], name=op.f("fk_trouble_ticket_team_id_care_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trouble_ticket")),
    )
    with op.batch_alter_table("trouble_ticket", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trouble_ticket_individual_id"), ["individual_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trouble_ticket_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(
            "ix_trouble_ticket_mvno_id_created_at", ["mvno_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trouble_ticket_opened_by_party_id"), ["opened_by_party_id"], unique=False
        )
        batch_op.create_index(
            "ix_trouble_ticket_status_sla_due_at", ["status", "sla_due_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trouble_ticket_team_id"), ["team_id"], unique=False)

    op.create_table(
        "care_sla_breach",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("escalated_to_team_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_type", sa.String(length=24), nullable=False),
        sa.Column("priority", sa.String(length=12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalated_to_team_id"],
            ["care_team.id"],
            name=op.f("fk_care_sla_breach_escalated_to_team_id_care_team"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_care_sla_breach_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_team.id"], name=op.f("fk_care_sla_breach_team_id_care_team")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["trouble_ticket.id"],
            name=op.f("fk_care_sla_breach_ticket_id_trouble_ticket"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_sla_breach")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_care_sla_breach_ticket_id")),
    )
    with op.batch_alter_table("care_sla_breach", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_sla_breach_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_care_sla_breach_team_id"), ["team_id"], unique=False)

    op.create_table(
        "ticket_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("text", sa.String(length=2000), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("author_party_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("action_key", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["trouble_ticket.id"],
            name=op.f("fk_ticket_event_ticket_id_trouble_ticket"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_event")),
    )
    with op.batch_alter_table("ticket_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_event_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(
            "uq_ticket_event_ticket_id_action_key", ["ticket_id", "action_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_event", schema=None) as batch_op:
        batch_op.drop_index("uq_ticket_event_ticket_id_action_key")
        batch_op.drop_index(batch_op.f("ix_ticket_event_ticket_id"))

    op.drop_table("ticket_event")
    with op.batch_alter_table("care_sla_breach", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_sla_breach_team_id"))
        batch_op.drop_index(batch_op.f("ix_care_sla_breach_mvno_id"))

    op.drop_table("care_sla_breach")
    with op.batch_alter_table("trouble_ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trouble_ticket_team_id"))
        batch_op.drop_index("ix_trouble_ticket_status_sla_due_at")
        batch_op.drop_index(batch_op.f("ix_trouble_ticket_opened_by_party_id"))
        batch_op.drop_index("ix_trouble_ticket_mvno_id_created_at")
        batch_op.drop_index(batch_op.f("ix_trouble_ticket_msisdn"))
        batch_op.drop_index(batch_op.f("ix_trouble_ticket_individual_id"))

    op.drop_table("trouble_ticket")
    with op.batch_alter_table("care_team_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_team_member_user_id"))

    op.drop_table("care_team_member")
    with op.batch_alter_table("care_team_area", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_team_area_team_id"))

    op.drop_table("care_team_area")
    with op.batch_alter_table("care_route", schema=None) as batch_op:
        batch_op.drop_index("uq_care_route_mvno_id_rule_key")
        batch_op.drop_index(batch_op.f("ix_care_route_team_id"))

    op.drop_table("care_route")
    with op.batch_alter_table("care_team", schema=None) as batch_op:
        batch_op.drop_index("uq_care_team_mvno_id_name")
        batch_op.drop_index(batch_op.f("ix_care_team_owner_party_id"))
        batch_op.drop_index(batch_op.f("ix_care_team_mvno_id"))

    op.drop_table("care_team")
    with op.batch_alter_table("care_verification", schema=None) as batch_op:
        batch_op.drop_index("ix_care_verification_msisdn_created_at")

    op.drop_table("care_verification")

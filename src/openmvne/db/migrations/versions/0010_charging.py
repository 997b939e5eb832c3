"""charging

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charging_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_key", sa.String(length=128), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("direction", sa.String(length=2), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("allowance_units", sa.BigInteger(), nullable=False),
        sa.Column("money_units", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.Column("used_units", sa.BigInteger(), nullable=False),
        sa.Column("last_request", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["organization.id"], name=op.f("fk_charging_session_host_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_charging_session_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_charging_session_subscription_id_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_session")),
        sa.UniqueConstraint("session_key", name=op.f("uq_charging_session_session_key")),
    )
    with op.batch_alter_table("charging_session", schema=None) as batch_op:
        batch_op.create_index(
            "ix_charging_session_state_expires_at", ["state", "expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_charging_session_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "charging_request",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("request_number", sa.Integer(), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_session.id"],
            name=op.f("fk_charging_request_session_id_charging_session"),
        ),
        sa.PrimaryKeyConstraint("session_id", "request_number", name=op.f("pk_charging_request")),
    )


def downgrade() -> None:
    op.drop_table("charging_request")
    with op.batch_alter_table("charging_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charging_session_subscription_id"))
        batch_op.drop_index("ix_charging_session_state_expires_at")

    op.drop_table("charging_session")

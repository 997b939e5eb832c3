"""money

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from openmvne.db.tables import APPEND_ONLY_POSTGRES, APPEND_ONLY_SQLITE

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
    )
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.create_index("uq_idempotency_key_caller_key", ["caller", "key"], unique=True)

    op.create_table(
        "ledger_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("msisdn", sa.String(length=11), nullable=True),
        sa.Column("natural_key", sa.String(length=160), nullable=False),
        sa.Column("no_overdraft", sa.Boolean(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT no_overdraft OR debits_posted + debits_pending <= credits_posted",
            name=op.f("ck_ledger_account_no_overdraft"),
        ),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
            name=op.f("ck_ledger_account_non_negative_totals"),
        ),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_ledger_account_mvno_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account")),
        sa.UniqueConstraint("natural_key", name=op.f("uq_ledger_account_natural_key")),
    )
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_account_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_account_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_account_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "recharge_order",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("outlet_id", sa.Uuid(), nullable=False),
        sa.Column("channel_order_number", sa.String(length=64), nullable=False),
        sa.Column("msisdn", sa.String(length=11), nullable=False),
        sa.Column("mvno_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mvno_id"], ["organization.id"], name=op.f("fk_recharge_order_mvno_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["outlet_id"],
            ["organization.id"],
            name=op.f("fk_recharge_order_outlet_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recharge_order")),
    )
    with op.batch_alter_table("recharge_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recharge_order_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(batch_op.f("ix_recharge_order_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(
            "uq_recharge_order_outlet_id_channel_order_number",
            ["outlet_id", "channel_order_number"],
            unique=True,
        )

    op.create_table(
        "ledger_transfer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("debit_account_id", sa.Uuid(), nullable=False),
        sa.Column("credit_account_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pending_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mvno_id", sa.Uuid(), nullable=True),
        sa.Column("party_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ledger_transfer_positive_amount")),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name=op.f("ck_ledger_transfer_two_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_ledger_transfer_credit_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_ledger_transfer_debit_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"],
            ["ledger_transfer.id"],
            name=op.f("fk_ledger_transfer_pending_id_ledger_transfer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfer")),
        sa.UniqueConstraint("pending_id", name=op.f("uq_ledger_transfer_pending_id")),
    )
    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_credit_account_id"), ["credit_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_debit_account_id"), ["debit_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_transfer_mvno_id"), ["mvno_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_transfer_party_id"), ["party_id"], unique=False)

    with op.batch_alter_table("commission_scheme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recharge_bp", sa.JSON(), nullable=True))
    # Posted ledger transfers can be neither updated nor deleted, by anyone.
    dialect = op.get_bind().dialect.name
    for statement in APPEND_ONLY_POSTGRES if dialect == "postgresql" else APPEND_ONLY_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_transfer_no_change ON ledger_transfer")
        op.execute("DROP FUNCTION ledger_append_only()")
    else:
        op.execute("DROP TRIGGER ledger_transfer_no_update")
        op.execute("DROP TRIGGER ledger_transfer_no_delete")
    with op.batch_alter_table("commission_scheme", schema=None) as batch_op:
        batch_op.drop_column("recharge_bp")

    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_party_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_debit_account_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_credit_account_id"))

    op.drop_table("ledger_transfer")
    with op.batch_alter_table("recharge_order", schema=None) as batch_op:
        batch_op.drop_index("uq_recharge_order_outlet_id_channel_order_number")
        batch_op.drop_index(batch_op.f("ix_recharge_order_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_recharge_order_msisdn"))

    op.drop_table("recharge_order")
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_account_owner_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_account_mvno_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_account_msisdn"))

    op.drop_table("ledger_account")
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_index("uq_idempotency_key_caller_key")

    op.drop_table("idempotency_key")

"""activation commission amounts in the MVNO's commission scheme

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("commission_scheme") as batch_op:
        batch_op.add_column(sa.Column("activation_fen", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commission_scheme") as batch_op:
        batch_op.drop_column("activation_fen")

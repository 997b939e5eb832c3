"""online usage kept as records: what each charging update or termination charged

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29

Rerating a period rates its usage again from records; online charging kept only totals, so
periods with online usage could not be rerated. Each request that charges now keeps its
quantity and the time it was used from. Requests answered before this migration: a session's
whole use goes on its last request (from the session's start), its other charging requests
carry 0, so a rerating sees as many records and as many units as the online totals counted.
Their rating per record was never kept: it stays NULL until a rerating that changes the period
rates them (the rated-usage reads leave out a record without one).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# A record's rating: NULL on requests answered before, until a rerating changes their period.
RATING = ("units", "in_allowance", "billed_overage", "charge_exact", "wholesale_exact")


def upgrade() -> None:
    with op.batch_alter_table("charging_request") as batch_op:
        batch_op.add_column(sa.Column("used_quantity", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("used_since", sa.DateTime(timezone=True), nullable=True))
        for name in RATING:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
    # Units were kept as billed: seconds, messages, KB (a record's data is in bytes).
    op.execute(
        """
        UPDATE charging_request SET
          used_since = (SELECT s.created_at FROM charging_session s
                        WHERE s.id = charging_request.session_id),
          used_quantity = (SELECT CASE WHEN charging_request.request_number = s.last_request
                                       THEN s.used_units * CASE WHEN s.type = 'data'
                                                                THEN 1024 ELSE 1 END
                                       ELSE 0 END
                           FROM charging_session s WHERE s.id = charging_request.session_id)
        WHERE request_number > 0
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("charging_request") as batch_op:
        for name in RATING:
            batch_op.drop_column(name)
        batch_op.drop_column("used_since")
        batch_op.drop_column("used_quantity")

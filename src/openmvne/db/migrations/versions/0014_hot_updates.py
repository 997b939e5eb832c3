"""room in each page for the rows every batch updates in place (PostgreSQL fillfactor)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28

A ledger account's cached balance changes with every recharge, charge and rating batch, and a
line's period row with every rating batch. PostgreSQL writes an updated row as a new version;
when the new version fits in the same page and no indexed column changed, it is a HOT update:
no new entry in any of the table's indexes. Pages packed full (the default) leave no room, so
each first update in a page writes one entry per index (five on ledger_account). Half of each
page left free lets a rating batch that updates every account once do them all HOT. SQLite
has no such setting. Pages written before this migration keep their packing until rewritten.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("ledger_account", "usage_period")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")

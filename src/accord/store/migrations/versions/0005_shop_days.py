"""pos transactions: the shop's calendar date of each sale

Revision ID: 0005_shop_days
Revises: 0002_web
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_shop_days"
down_revision = "0002_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pos_transactions", sa.Column("local_date", sa.String(length=10)))
    # Transactions posted before this were counted by their UTC date: they keep it.
    op.execute("UPDATE pos_transactions SET local_date = substr(at, 1, 10)")
    with op.batch_alter_table("pos_transactions") as batch:
        batch.alter_column("local_date", existing_type=sa.String(length=10), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("pos_transactions") as batch:
        batch.drop_column("local_date")

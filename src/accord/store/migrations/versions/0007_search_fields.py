"""customer_search: the code, email and phone searched each on its own

A search looks only in the fields the person's card layout shows; one text of them all
could not tell which one matched. The rows are rebuilt at the next search.

Revision ID: 0007_search_fields
Revises: 0005_shop_days
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_search_fields"
down_revision = "0005_shop_days"
branch_labels = None
depends_on = None

_COLUMNS = ("code_text", "email_text", "phone_text")
_WATERMARK = "web.customer_search_seq"


def upgrade() -> None:
    for name in _COLUMNS:
        op.add_column("customer_search", sa.Column(name, sa.Text()))
    # Forget how far the index had got: the next search rewrites every row.
    op.execute(sa.text("DELETE FROM settings WHERE key = :key").bindparams(key=_WATERMARK))


def downgrade() -> None:
    with op.batch_alter_table("customer_search") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
    op.execute(sa.text("DELETE FROM settings WHERE key = :key").bindparams(key=_WATERMARK))

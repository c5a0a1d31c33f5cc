"""records: a person's company as a column of its own, indexed

Finding a company's contacts (its primary contact, on every write that names a new one)
read every person's JSON data; the column makes it an index lookup.

Revision ID: 0006_record_company
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_record_company"
down_revision = "0001"
branch_labels = None
depends_on = None

_FILL = {
    "sqlite": "UPDATE records SET company = json_extract(data, '$.company')"
    " WHERE entity = 'person' AND json_type(data, '$.company') = 'integer'",
    "postgresql": "UPDATE records SET company = (data ->> 'company')::bigint"
    " WHERE entity = 'person' AND jsonb_typeof(data -> 'company') = 'number'"
    " AND (data ->> 'company') ~ '^[0-9]+$'",
}


def upgrade() -> None:
    op.add_column("records", sa.Column("company", sa.BigInteger()))
    op.execute(_FILL[op.get_bind().dialect.name])
    op.create_index("ix_records_company", "records", ["company"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_records_company", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("company")

"""people: natural-person links, merges, card layouts

Revision ID: 0004_people
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0004_people"
down_revision = "0001"
branch_labels = ("people",)
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "person_links",
        sa.Column("record_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("natural_person", sa.BigInteger(), nullable=False),
        sa.Column("linked_at", sa.String(length=27), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_person_links_natural_person", "person_links", ["natural_person"])
    op.create_table(
        "merges",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("survivor_id", sa.BigInteger(), nullable=False),
        sa.Column("loser_id", sa.BigInteger(), nullable=False),
        sa.Column("choices", _JSON, nullable=False),
        sa.Column("outcome", _JSON, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_merges_survivor", "merges", ["survivor_id"])
    op.create_index("ix_merges_loser", "merges", ["loser_id"])
    op.create_table(
        "card_fields",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("access", sa.String(length=8), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "role", "field"),
    )


def downgrade() -> None:
    op.drop_table("card_fields")
    op.drop_index("ix_merges_loser", table_name="merges")
    op.drop_index("ix_merges_survivor", table_name="merges")
    op.drop_table("merges")
    op.drop_index("ix_person_links_natural_person", table_name="person_links")
    op.drop_table("person_links")

"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 08:37:36.131166
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "conflicts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column(
            "base_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "hub_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "system_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("hub_time", sa.String(length=27), nullable=True),
        sa.Column("system_time", sa.String(length=27), nullable=True),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("winner", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("resolved_at", sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conflicts_record", "conflicts", ["record_id"], unique=False)
    op.create_index("ix_conflicts_status", "conflicts", ["status", "system"], unique=False)
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    op.bulk_insert(counters, [{"name": "record", "value": 0}, {"name": "journal", "value": 0}])
    op.create_table(
        "cursors",
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("pull_cursor", sa.Text(), nullable=True),
        sa.Column("push_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("system", "entity"),
    )
    op.create_table(
        "errors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("field", sa.String(length=128), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("transient", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_errors_open", "errors", ["system", "entity", "direction", "status"], unique=False
    )
    op.create_table(
        "journal",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_journal_record", "journal", ["record_id", "seq"], unique=False)
    op.create_table(
        "links",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("hub_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "base",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("base_version", sa.String(length=128), nullable=True),
        sa.Column(
            "held",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "sending",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("marker", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system", "entity", "external_id", name="uq_links_external"),
        sa.UniqueConstraint("system", "entity", "hub_id", name="uq_links_hub"),
    )
    op.create_index("ix_links_marker", "links", ["marker"], unique=False)
    op.create_table(
        "records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "provenance",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("match_key", sa.String(length=400), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.String(length=27), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_records_entity_code", "records", ["entity", "code"], unique=False)
    op.create_index("ix_records_entity_match", "records", ["entity", "match_key"], unique=False)
    op.create_index("ix_records_entity_seq", "records", ["entity", "seq"], unique=False)
    op.create_index("ix_records_label", "records", ["label"], unique=False)
    op.create_table(
        "runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("started_at", sa.String(length=27), nullable=False),
        sa.Column("finished_at", sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_index("ix_links_marker", table_name="links")

    op.drop_table("settings")
    op.drop_table("runs")
    op.drop_index("ix_records_label", table_name="records")
    op.drop_index("ix_records_entity_seq", table_name="records")
    op.drop_index("ix_records_entity_match", table_name="records")
    op.drop_index("ix_records_entity_code", table_name="records")
    op.drop_table("records")
    op.drop_table("links")
    op.drop_index("ix_journal_record", table_name="journal")
    op.drop_table("journal")
    op.drop_index("ix_errors_open", table_name="errors")
    op.drop_table("errors")
    op.drop_table("cursors")
    op.drop_table("counters")
    op.drop_index("ix_conflicts_status", table_name="conflicts")
    op.drop_index("ix_conflicts_record", table_name="conflicts")
    op.drop_table("conflicts")

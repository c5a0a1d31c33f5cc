"""Exact Online: secrets, connection, financials, import profiles

Revision ID: 0003_exact
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_exact"
down_revision = "0001"
branch_labels = ("exact",)
depends_on = None

TIME = sa.String(length=27)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=128), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "exact_connections",
        sa.Column("system", sa.String(length=64), primary_key=True),
        sa.Column("division", sa.BigInteger(), nullable=False),
        sa.Column("user_name", sa.String(length=200)),
        sa.Column("financial_year_start", sa.String(length=5)),
        sa.Column("connected_at", TIME, nullable=False),
        sa.Column("last_budget", sa.String(length=400)),
    )
    op.create_table(
        "exact_financials",
        sa.Column("system", sa.String(length=64), primary_key=True),
        sa.Column("account_id", sa.String(length=64), primary_key=True),
        sa.Column("hub_id", sa.BigInteger()),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("overdue_cents", sa.BigInteger(), nullable=False),
        sa.Column("open_invoices", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", TIME, nullable=False),
    )
    op.create_index("ix_exact_financials_hub", "exact_financials", ["hub_id"])
    op.create_table(
        "exact_invoices",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_number", sa.String(length=32), nullable=False),
        sa.Column("invoice_date", sa.String(length=10)),
        sa.Column("due_date", sa.String(length=10)),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("description", sa.String(length=200)),
        sa.Column("your_ref", sa.String(length=100)),
    )
    op.create_index("ix_exact_invoices_account", "exact_invoices", ["system", "account_id"])
    op.create_table(
        "import_profiles",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(length=200), nullable=False, unique=True),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("key_field", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "import_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("outcomes", JSON, nullable=False),
    )
    op.create_index("ix_import_runs_profile", "import_runs", ["profile_id"])


def downgrade() -> None:
    for table in (
        "import_runs",
        "import_profiles",
        "exact_invoices",
        "exact_financials",
        "exact_connections",
        "secrets",
    ):
        op.drop_table(table)

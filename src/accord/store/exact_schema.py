"""Tables of the Exact Online feature: encrypted secrets, the connection, financials,
import profiles and their runs. Amounts are integer cents (exact on every database)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from accord.store.schema import Id, Json, Time

metadata = MetaData()

# Values encrypted with the key from the environment; never stored or shown in clear.
secrets = Table(
    "secrets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Time, nullable=False),
)

exact_connections = Table(
    "exact_connections",
    metadata,
    Column("system", String(64), primary_key=True),
    Column("division", BigInteger, nullable=False),
    Column("user_name", String(200)),
    Column("financial_year_start", String(5)),  # MM-DD
    Column("connected_at", Time, nullable=False),
    Column("last_budget", String(400)),  # the rate-limit budget the last run used
)

exact_financials = Table(
    "exact_financials",
    metadata,
    Column("system", String(64), primary_key=True),
    Column("account_id", String(64), primary_key=True),
    Column("hub_id", BigInteger),
    Column("currency", String(8), nullable=False),
    Column("balance_cents", BigInteger, nullable=False),
    Column("overdue_cents", BigInteger, nullable=False),
    Column("open_invoices", Integer, nullable=False),
    Column("refreshed_at", Time, nullable=False),
    Index("ix_exact_financials_hub", "hub_id"),
)

exact_invoices = Table(
    "exact_invoices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("system", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("invoice_number", String(32), nullable=False),
    Column("invoice_date", String(10)),
    Column("due_date", String(10)),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("description", String(200)),
    Column("your_ref", String(100)),
    Index("ix_exact_invoices_account", "system", "account_id"),
)

import_profiles = Table(
    "import_profiles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("title", String(200), nullable=False, unique=True),
    Column("system", String(64), nullable=False),
    Column("target", String(16), nullable=False),  # company | contact
    Column("source", String(16), nullable=False),  # account | contact
    Column("mapping", Json, nullable=False),  # hub field -> Exact field
    Column("key_field", String(64), nullable=False),  # the Exact field naming a record
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("profile_id", BigInteger, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("started_at", Time, nullable=False),
    Column("finished_at", Time, nullable=False),
    Column("counts", Json, nullable=False),
    Column("outcomes", Json, nullable=False),  # [{key, label, outcome, reason}]
    Index("ix_import_runs_profile", "profile_id"),
)

"""Tables of the web app and the customer-record features around the hub records.

Users, API tokens and login sessions; and what a customer record shows besides its
canonical fields: point-of-sale transactions (history, visit counts, campaign points),
orders, the credit account's history and the photo. Secrets are stored only as hashes.
Money is kept in cents so sums are exact on every database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from accord.store.schema import Id, Time

metadata = MetaData()

users = Table(
    "web_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(16), nullable=False),  # admin | editor | viewer
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Time, nullable=False),
)

tokens = Table(
    "web_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex
    Column("created_at", Time, nullable=False),
    Column("last_used_at", Time),
    Column("revoked", Boolean, nullable=False, default=False),
)

sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 hex of the cookie value
    Column("user_id", BigInteger, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
)

transactions = Table(
    "pos_transactions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, nullable=False),
    Column("number", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # sale | return
    Column("amount_cents", BigInteger, nullable=False),
    Column("points", Integer, nullable=False, default=0),  # campaign points earned (or lost)
    Column("location", String(128)),
    Column("at", Time, nullable=False),
    # The shop's calendar date of the sale (YYYY-MM-DD): visits and the history go by it.
    Column("local_date", String(10), nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_pos_transactions_record", "record_id", "at"),
)

orders = Table(
    "customer_orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, nullable=False),
    Column("number", String(64), nullable=False, unique=True),
    Column("order_type", String(32), nullable=False),  # work | back | special | layaway
    Column("status", String(16), nullable=False),  # pending | completed
    Column("location", String(128)),
    Column("amount_due_cents", BigInteger, nullable=False, default=0),
    Column("placed_at", Time, nullable=False),
    Column("closed_at", Time),
    Index("ix_customer_orders_record", "record_id", "placed_at"),
)

credit_entries = Table(
    "credit_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # charge | payment | adjustment
    Column("amount_cents", BigInteger, nullable=False),  # positive raises the balance
    Column("reference", String(64)),
    Column("note", Text),
    Column("at", Time, nullable=False),
    Index("ix_credit_entries_record", "record_id", "at"),
)

photos = Table(
    "customer_photos",
    metadata,
    Column("record_id", BigInteger, primary_key=True),
    Column("content_type", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("updated_at", Time, nullable=False),
)


# The customer list's search (S002-11): one narrow row per customer with the searchable
# values folded into one lower-case text, so a search is one LIKE over a small table
# instead of decoding every record's JSON. Caught up from the records' journal sequence
# before each search, so it follows every writer (web app, sync, CLI) without triggers.
customer_search = Table(
    "customer_search",
    metadata,
    Column("record_id", BigInteger, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("label", String(256), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("text", Text, nullable=False),  # the name; the rest by field, see below
    # Each searched field on its own, so a search looks only in what the person's card
    # layout shows (a hidden email must not find its customer).
    Column("code_text", Text),
    Column("email_text", Text),
    Column("phone_text", Text),  # the digits of E.164
    Index("ix_customer_search_label", "deleted", "active", "label"),
)

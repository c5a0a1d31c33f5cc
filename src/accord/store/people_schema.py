"""Tables for people (S003): natural-person links, merges, card layouts.

The person and account data themselves stay in ``records`` (journaled like every other
field); these tables index what the records cannot: which records are the same natural
person, which records were merged into which, and how a card is laid out per role.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from accord.store.schema import Id, Json, Time

metadata = MetaData()

# One row per person record linked to a natural person (S003-02). The natural person's id
# is the id of the first record linked, kept when more records join.
person_links = Table(
    "person_links",
    metadata,
    Column("record_id", BigInteger, primary_key=True, autoincrement=False),
    Column("natural_person", BigInteger, nullable=False),
    Column("linked_at", Time, nullable=False),
    Column("actor", String(128)),
    Index("ix_person_links_natural_person", "natural_person"),
)

# One row per merge of two records (S003-03, S003-04): who won, what was chosen, what moved.
merges = Table(
    "merges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entity", String(32), nullable=False),
    Column("survivor_id", BigInteger, nullable=False),
    Column("loser_id", BigInteger, nullable=False),
    Column("choices", Json, nullable=False),  # field group -> record id whose value won
    Column("outcome", Json, nullable=False),  # records updated, links re-pointed, contacts moved
    Column("actor", String(128)),
    Column("at", Time, nullable=False),
    Index("ix_merges_survivor", "survivor_id"),
    Index("ix_merges_loser", "loser_id"),
)

# Card customisation (S003-05): per entity, role ("*" for every role) and field, whether the
# field is editable, shown read-only or hidden, whether it is mandatory, and its position.
card_fields = Table(
    "card_fields",
    metadata,
    Column("entity", String(32), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("field", String(128), primary_key=True),
    Column("access", String(8), nullable=False),  # edit | show | hidden
    Column("mandatory", Boolean, nullable=False, default=False),
    Column("position", Integer, nullable=False, default=0),
)

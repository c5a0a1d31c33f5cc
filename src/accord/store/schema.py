"""The hub's tables. Times are fixed-width ISO 8601 UTC strings (see accord.clock)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

Json = JSON().with_variant(JSONB(), "postgresql")
Time = String(27)
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants 64 bits for sequences.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Number ranges handed out under a row lock: journal sequence numbers then follow commit
# order on every database, which is what makes the journal usable as a change feed.
counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("entity", String(32), nullable=False),
    Column("data", Json, nullable=False),
    # field -> [system, run id, origin time]: who last wrote the field, and when it was
    # written where it came from (the time last-writer-wins compares).
    Column("provenance", Json, nullable=False),
    Column("label", String(256), nullable=False, default=""),
    Column("code", String(64)),
    Column("match_key", String(400)),
    Column("company", BigInteger),  # a person's company (its hub id), to find its contacts
    Column("active", Boolean, nullable=False, default=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("seq", BigInteger, nullable=False),
    Column("changed_at", Time, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_records_entity_seq", "entity", "seq"),
    Index("ix_records_entity_code", "entity", "code"),
    Index("ix_records_entity_match", "entity", "match_key"),
    Index("ix_records_label", "label"),
    Index("ix_records_company", "company"),
)

links = Table(
    "links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("system", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("external_id", String(256)),  # None while a create is pending
    Column("hub_id", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # active | pending | tombstone
    Column("base", Json, nullable=False),  # last agreed canonical values
    Column("base_version", String(128)),  # the system's version the base was read at
    Column("held", Json, nullable=False),  # fields held by open conflicts: not pushed
    # Values being sent, saved before the system is written: if the run dies before the
    # base is saved, the next pull recognises them as ours rather than a user's change.
    Column("sending", JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")),
    Column("marker", String(64)),  # idempotency marker of a pending create
    Column("updated_at", Time, nullable=False),
    UniqueConstraint("system", "entity", "external_id", name="uq_links_external"),
    UniqueConstraint("system", "entity", "hub_id", name="uq_links_hub"),
    Index("ix_links_marker", "marker"),
)

journal = Table(
    "journal",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", BigInteger, nullable=False),
    Column("entity", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # create | update | delete | restore
    Column("changes", Json, nullable=False),  # field -> [old, new]
    Column("system", String(64), nullable=False),  # where the change came from
    Column("run_id", BigInteger),
    Column("actor", String(128)),
    Column("at", Time, nullable=False),
    Index("ix_journal_record", "record_id", "seq"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("system", String(64), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("pull_cursor", Text),
    Column("push_seq", BigInteger, nullable=False, default=0),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("system", String(64), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),  # running | ok | failed
    Column("counts", Json, nullable=False),
    Column("message", Text),
    Column("started_at", Time, nullable=False),
    Column("finished_at", Time),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger),
    Column("system", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("external_id", String(256)),
    Column("field", String(128), nullable=False),
    Column("base_value", Json),
    Column("hub_value", Json),
    Column("system_value", Json),
    Column("hub_time", Time),
    Column("system_time", Time),
    Column("policy", String(32), nullable=False),
    Column("winner", String(16)),  # hub | system | agreed (sides settled it) | None while held
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # resolved | open
    Column("created_at", Time, nullable=False),
    Column("resolved_at", Time),
    Index("ix_conflicts_status", "status", "system"),
    Index("ix_conflicts_record", "record_id"),
)

errors = Table(
    "errors",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger),
    Column("system", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("direction", String(8), nullable=False),  # pull | push
    Column("record_id", BigInteger),
    Column("external_id", String(256)),
    Column("field", String(128)),
    Column("message", Text, nullable=False),
    Column("transient", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("attempts", Integer, nullable=False, default=1),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_errors_open", "system", "entity", "direction", "status"),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Json, nullable=False),
)

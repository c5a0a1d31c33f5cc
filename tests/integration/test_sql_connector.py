"""SqlConnector against real databases: SQLite files, and PostgreSQL when configured."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    CHAR,
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    Identity,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import mysql

from accord.clock import ManualClock, to_iso
from accord.connectors.base import Connector, ExternalRecord, Operation
from accord.connectors.sql import FULL_SCAN, FanOut, SqlConnector, TableSpec
from accord.errors import ConfigError, TransientError
from accord.store.database import make_system_engine

T0 = datetime(2026, 3, 2, 9, 0)  # naive UTC, as the ERP stores it

# Microseconds everywhere: MariaDB's DATETIME keeps whole seconds unless asked for more.
STAMP = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

metadata = MetaData()
t_contacts = Table(
    "CONTACTS",
    metadata,
    Column("SEQNO", Integer, Identity(), primary_key=True),
    Column("FIRSTNAME", String(30)),
    Column("EMAIL", String(60)),
    Column("ISACTIVE", CHAR(1)),
    Column("LAST_UPDATED", STAMP),
    UniqueConstraint("EMAIL"),
)
t_links = Table(
    "DR_CONTACTS",
    metadata,
    Column("SEQNO", Integer, Identity(), primary_key=True),
    Column("ACCNO", Integer, nullable=False),
    Column("CONTACT_SEQNO", Integer, nullable=False),
    Column("DEFCONTACT", CHAR(1)),
)
t_notes = Table(  # no modified column: hash mode
    "NOTES",
    metadata,
    Column("ID", Integer, Identity(), primary_key=True),
    Column("BODY", String(100)),
)
t_items = Table(  # an integer row version
    "ITEMS",
    metadata,
    Column("ID", Integer, Identity(), primary_key=True),
    Column("NAME", String(30)),
    Column("ROWV", Integer),
)
t_marked = Table(
    "MARKED",
    metadata,
    Column("SEQNO", Integer, Identity(), primary_key=True),
    Column("NAME", String(30)),
    Column("ACCORD_MARKER", String(64)),
    Column("LAST_UPDATED", STAMP),
)

t_people = Table(  # server defaults, padded CHAR columns and numbers, behind a fan-out
    "PEOPLE",
    metadata,
    Column("ID", Integer, Identity(), primary_key=True),
    Column("CODE", CHAR(4)),
    Column("AGE", Integer),
    Column("EMAIL", String(60), unique=True),
    Column("ACTIVE", CHAR(1), nullable=False, server_default="Y"),
    Column("BALANCE", Numeric(10, 2), nullable=False, server_default="0"),
    Column("STAMP", STAMP),
    Column("MARK", String(64)),
)
t_memberships = Table(
    "MEMBERSHIPS",
    metadata,
    Column("ID", Integer, Identity(), primary_key=True),
    Column("GROUPNO", Integer, nullable=False),
    Column("PERSON_ID", Integer, nullable=False),
    Column("ROLE", CHAR(3), nullable=False, server_default="MEM"),
    Column("NOTE", String(20)),
    UniqueConstraint("GROUPNO", "PERSON_ID"),
)

CONTACT_COLUMNS = ("FIRSTNAME", "EMAIL", "ISACTIVE")
CONTACTS_SPEC = TableSpec("contacts", "CONTACTS", "SEQNO", CONTACT_COLUMNS, modified="LAST_UPDATED")
PAIRS_SPEC = TableSpec(
    "account_contacts",
    "CONTACTS",
    "SEQNO",
    CONTACT_COLUMNS,
    modified="LAST_UPDATED",
    fan_out=FanOut("DR_CONTACTS", "ACCNO", "CONTACT_SEQNO", ("DEFCONTACT",)),
)
NOTES_SPEC = TableSpec("notes", "NOTES", "ID", ("BODY",))
ITEMS_SPEC = TableSpec("items", "ITEMS", "ID", ("NAME",), rowversion="ROWV")
MARKED_SPEC = TableSpec(
    "marked", "MARKED", "SEQNO", ("NAME",), modified="LAST_UPDATED", marker="ACCORD_MARKER"
)
ALL_SPECS = [CONTACTS_SPEC, PAIRS_SPEC, NOTES_SPEC, ITEMS_SPEC, MARKED_SPEC]
MEMBERS_SPEC = TableSpec(
    "members",
    "PEOPLE",
    "ID",
    ("CODE", "AGE", "EMAIL", "ACTIVE", "BALANCE"),
    modified="STAMP",
    marker="MARK",
    fan_out=FanOut("MEMBERSHIPS", "GROUPNO", "PERSON_ID", ("ROLE", "NOTE")),
)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'erp.db'}"
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_url"))
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def erp(db_url: str) -> Iterator[Engine]:
    """The ERP's own engine: what its users write through."""
    engine = make_system_engine(db_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connect(db_url: str, erp: Engine) -> Iterator[Callable[..., SqlConnector]]:
    opened: list[SqlConnector] = []

    def open_(
        specs: list[TableSpec] | None = None, clock: ManualClock | None = None
    ) -> SqlConnector:
        connector = SqlConnector("erp", db_url, specs or ALL_SPECS, clock or ManualClock())
        opened.append(connector)
        return connector

    yield open_
    for connector in opened:
        connector.close()


def pk(table: Table) -> Column[Any]:
    (column,) = table.primary_key.columns
    return column


def add(engine: Engine, table: Table, *rows: dict[str, Any]) -> list[int]:
    with engine.begin() as conn:
        keys = [conn.execute(insert(table).values(row)).inserted_primary_key for row in rows]
    return [int(key[0]) for key in keys if key is not None]


def contact(n: int, at: datetime | None = T0, **extra: Any) -> dict[str, Any]:
    return {
        "FIRSTNAME": f"Ann{n}",
        "EMAIL": f"ann{n}@example.com",
        "ISACTIVE": "Y",
        "LAST_UPDATED": at,
        **extra,
    }


def read_all(
    connector: SqlConnector, entity: str, cursor: str | None = None, batch: int = 100
) -> tuple[list[ExternalRecord], str | None]:
    records: list[ExternalRecord] = []
    for chunk in connector.read_changes(entity, cursor, batch):
        records += chunk.records
        cursor = chunk.cursor
    return records, cursor


def test_is_a_connector_with_declared_entities_and_capabilities(
    connect: Callable[..., SqlConnector],
) -> None:
    connector = connect()
    assert isinstance(connector, Connector)
    assert list(connector.entities()) == [s.name for s in ALL_SPECS]
    contacts, notes, marked = (connector.capabilities(e) for e in ("contacts", "notes", "marked"))
    assert contacts.modified_time and contacts.conditional_update and contacts.list_keys
    assert not contacts.idempotent_create and marked.idempotent_create
    assert not notes.modified_time


def test_reads_everything_then_the_changes_since_the_cursor(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    k1, k2, k3 = add(
        erp,
        t_contacts,
        contact(1, T0),
        contact(2, T0 + timedelta(minutes=10)),
        contact(3, T0 + timedelta(minutes=20)),
    )
    connector = connect()
    first, cursor = read_all(connector, "contacts")
    assert [r.key for r in first] == [str(k1), str(k2), str(k3)]
    assert first[0].values == {"FIRSTNAME": "Ann1", "EMAIL": "ann1@example.com", "ISACTIVE": "Y"}
    assert first[0].modified_at == "2026-03-02T09:00:00.000000Z"
    assert cursor is not None and json.loads(cursor) == {
        "t": "2026-03-02T09:20:00.000000Z",
        "k": [k3],
    }

    with erp.begin() as conn:
        later = T0 + timedelta(hours=1)
        conn.execute(
            update(t_contacts)
            .where(pk(t_contacts) == k1)
            .values(FIRSTNAME="Anne", LAST_UPDATED=later)
        )
    (k4,) = add(erp, t_contacts, contact(4, T0 + timedelta(hours=1, minutes=5)))
    again, _ = read_all(connector, "contacts", cursor)
    # Row 3 lies within the overlap window: re-read with an unchanged version, which the
    # engine skips. Row 2 lies before the window.
    assert [r.key for r in again] == [str(k3), str(k1), str(k4)]
    assert again[0].version == first[2].version
    assert again[1].values["FIRSTNAME"] == "Anne"

    strict = connect([TableSpec(**{**CONTACTS_SPEC.__dict__, "overlap_seconds": 0})])
    assert [r.key for r in read_all(strict, "contacts", cursor)[0]] == [str(k1), str(k4)]


def test_a_row_stamped_in_the_future_does_not_carry_the_cursor_past_later_edits(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    # A typo in a year (or a clock set wrong) stamps a row decades ahead: the cursor stops
    # before it, and the row is read again until its time comes (dropped by version).
    k1, k2 = add(erp, t_contacts, contact(1, T0), contact(2, datetime(2062, 3, 2, 9, 0)))
    connector = connect()
    first, cursor = read_all(connector, "contacts")
    assert sorted(r.key for r in first) == sorted([str(k1), str(k2)])
    assert cursor is not None and json.loads(cursor)["t"] < "2062"
    with erp.begin() as conn:
        conn.execute(
            update(t_contacts)
            .where(pk(t_contacts) == k1)
            .values(FIRSTNAME="Anne", LAST_UPDATED=T0 + timedelta(hours=1))
        )
    again, _ = read_all(connector, "contacts", cursor)
    assert [r.values["FIRSTNAME"] for r in again if r.key == str(k1)] == ["Anne"]


def test_rows_sharing_one_modified_time_are_all_read(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    with erp.begin() as conn:
        conn.execute(insert(t_contacts), [contact(n) for n in range(3000)])
    connector = connect()
    statements: list[str] = []
    event.listen(
        connector.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    batches = list(connector.read_changes("contacts", None, 100))
    keys = [r.key for batch in batches for r in batch.records]
    assert len(keys) == 3000 == len(set(keys))
    assert all(len(batch.records) == 100 for batch in batches)
    # Keyset paging: one query per batch, plus the empty query for unstamped rows, the
    # last short one and the database's time (the cursor's horizon); never a growing
    # OFFSET.
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 33

    # Resuming strictly after a batch (no overlap) reads exactly the rest.
    strict = connect([TableSpec(**{**CONTACTS_SPEC.__dict__, "overlap_seconds": 0})])
    rest, _ = read_all(strict, "contacts", batches[9].cursor, 100)
    assert [r.key for r in rest] == keys[1000:]


def test_a_row_stamped_minutes_before_the_cursor_is_still_read(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    add(erp, t_contacts, contact(1, T0), contact(2, T0 + timedelta(minutes=1)))
    connector = connect()
    _, cursor = read_all(connector, "contacts")
    # Committed late by a client whose clock runs two minutes behind the cursor's time.
    (late,) = add(erp, t_contacts, contact(3, T0 - timedelta(minutes=1)))
    again, _ = read_all(connector, "contacts", cursor)
    assert str(late) in [r.key for r in again]


def test_rows_without_a_modified_time_are_read_on_the_first_run(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    unstamped, stamped = add(erp, t_contacts, contact(1, None), contact(2, T0))
    connector = connect()
    records, cursor = read_all(connector, "contacts", batch=1)
    assert [r.key for r in records] == [str(unstamped), str(stamped)]
    assert records[0].modified_at is None and records[0].version is not None
    assert [r.key for r in read_all(connector, "contacts", cursor)[0]] == [str(stamped)]


def test_version_changes_when_content_changes_within_one_modified_time(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    (key,) = add(erp, t_contacts, contact(1))
    connector = connect()
    (before,) = connector.read_by_keys("contacts", [str(key)])
    with erp.begin() as conn:  # a coarse clock: same LAST_UPDATED, new content
        conn.execute(update(t_contacts).where(pk(t_contacts) == key).values(EMAIL="new@x.org"))
    (after,) = connector.read_by_keys("contacts", [str(key)])
    assert after.modified_at == before.modified_at
    assert before.version and after.version and before.version != after.version
    assert after.version.startswith(f"{before.modified_at}|")


def test_writes_return_the_version_a_later_read_sees(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    connector = connect(clock=clock)
    created = connector.apply(
        "contacts",
        [Operation("create", None, {"FIRSTNAME": f"N{n}", "EMAIL": f"n{n}@x"}) for n in range(5)],
    )
    assert all(r.ok for r in created)
    keys = [r.key for r in created]
    read = {r.key: r for r in read_all(connector, "contacts")[0]}
    assert list(read) == keys  # generated keys come back in the order of the operations
    assert [read[k].values["FIRSTNAME"] for k in keys if k] == [f"N{n}" for n in range(5)]
    assert all(read[r.key].version == r.version for r in created if r.key)
    assert created[0].modified_at == "2026-03-02T12:00:00.000000Z"

    clock.advance(timedelta(minutes=5))
    (updated,) = connector.apply(
        "contacts",
        [Operation("update", keys[0], {"FIRSTNAME": "Z"}, expected_version=created[0].version)],
    )
    (fresh,) = connector.read_by_keys("contacts", [str(keys[0])])
    assert updated.ok and updated.version == fresh.version != created[0].version
    assert updated.modified_at == fresh.modified_at == "2026-03-02T12:05:00.000000Z"


def test_stale_update_is_refused_and_writes_nothing(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    (key,) = add(erp, t_contacts, contact(1))
    connector = connect()
    (seen,) = connector.read_by_keys("contacts", [str(key)])
    with erp.begin() as conn:  # someone in the ERP edits it meanwhile
        conn.execute(update(t_contacts).where(pk(t_contacts) == key).values(FIRSTNAME="Erp"))
    (result,) = connector.apply(
        "contacts",
        [Operation("update", str(key), {"FIRSTNAME": "Hub"}, expected_version=seen.version)],
    )
    assert not result.ok and result.stale and result.error == "changed since read"
    with erp.connect() as conn:
        assert conn.scalar(select(t_contacts.c.FIRSTNAME)) == "Erp"


def test_over_long_value_is_refused_naming_the_column_while_the_others_succeed(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    (key,) = add(erp, t_contacts, contact(1))
    connector = connect()
    results = connector.apply(
        "contacts",
        [
            Operation("create", None, {"FIRSTNAME": "Bo", "EMAIL": "bo@x"}),
            Operation("create", None, {"FIRSTNAME": "x" * 31, "EMAIL": "long@x"}),
            Operation("update", str(key), {"EMAIL": "y" * 61}),
            Operation("update", str(key), {"ISACTIVE": "N"}),
            Operation("update", str(key), {"FAX": "1"}),
        ],
    )
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert results[1].field == "FIRSTNAME"
    assert results[1].error == "FIRSTNAME holds at most 30 characters, got 31"
    assert results[2].field == "EMAIL"
    assert results[2].error == "EMAIL holds at most 60 characters, got 61"
    assert results[4].field == "FAX" and "FAX" in (results[4].error or "")
    with erp.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t_contacts)) == 2
        assert conn.scalar(select(t_contacts.c.ISACTIVE).where(pk(t_contacts) == key)) == "N"


def test_a_database_refusal_fails_only_its_own_record(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    add(erp, t_contacts, contact(1))
    connector = connect()
    results = connector.apply(
        "contacts",
        [
            Operation("create", None, {"FIRSTNAME": "A", "EMAIL": "a@x"}),
            Operation("create", None, {"FIRSTNAME": "B", "EMAIL": "ann1@example.com"}),
            Operation("create", None, {"FIRSTNAME": "C", "EMAIL": "c@x"}),
        ],
    )
    assert [r.ok for r in results] == [True, False, True]
    assert _unique_violation(results[1].error)
    assert results[0].key and results[2].key
    got = connector.read_by_keys("contacts", [results[0].key, results[2].key])
    assert [r.values["FIRSTNAME"] for r in got] == ["A", "C"]


def test_a_value_the_database_refuses_fails_only_its_own_record_everywhere(
    db_url: str, erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    # MariaDB's driver reports a failed CHECK or an impossible date as an OperationalError,
    # the class of connection trouble: it must still fail its record, not the batch.
    checked = MetaData()
    table = Table(
        "CHECKED",
        checked,
        Column("ID", Integer, Identity(), primary_key=True),
        Column("NAME", String(30)),
        Column("ISACTIVE", CHAR(1)),
        Column("LAST_UPDATED", STAMP),
    )
    # Quoted as each dialect quotes (MariaDB reads "ISACTIVE" as a string).
    CheckConstraint(table.c.ISACTIVE.in_(("Y", "N")), name="CK_ISACTIVE", table=table)
    checked.create_all(erp)
    spec = TableSpec("checked", "CHECKED", "ID", ("NAME", "ISACTIVE"), modified="LAST_UPDATED")
    connector = connect([spec])
    results = connector.apply(
        "checked",
        [
            Operation("create", None, {"NAME": "good", "ISACTIVE": "Y"}),
            Operation("create", None, {"NAME": "bad", "ISACTIVE": "X"}),
            Operation("create", None, {"NAME": "also good", "ISACTIVE": "N"}),
        ],
    )
    assert [r.ok for r in results] == [True, False, True]
    assert not results[1].transient and results[1].error
    with erp.connect() as conn:
        assert sorted(conn.scalars(select(table.c.NAME)).all()) == ["also good", "good"]


def test_create_with_a_marker_is_idempotent(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    connector = connect()
    first = connector.apply("marked", [Operation("create", None, {"NAME": "A"}, marker="m-1")])
    again = connector.apply(
        "marked",
        [
            Operation("create", None, {"NAME": "A"}, marker="m-1"),
            Operation("create", None, {"NAME": "B"}, marker="m-2"),
            Operation("create", None, {"NAME": "B"}, marker="m-2"),
        ],
    )
    assert first[0].ok and again[0] == first[0]
    assert again[1].ok and again[2].key == again[1].key != first[0].key
    with erp.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t_marked)) == 2
        stored = conn.scalar(select(t_marked.c.ACCORD_MARKER).where(t_marked.c.NAME == "B"))
        assert stored == "m-2"


def test_fan_out_exposes_one_record_per_link_and_shares_child_columns(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    c1, c2 = add(erp, t_contacts, contact(1), contact(2, T0 + timedelta(minutes=1)))
    add(
        erp,
        t_links,
        {"ACCNO": 10, "CONTACT_SEQNO": c1, "DEFCONTACT": "Y"},
        {"ACCNO": 20, "CONTACT_SEQNO": c1, "DEFCONTACT": "N"},
        {"ACCNO": 10, "CONTACT_SEQNO": c2, "DEFCONTACT": "N"},
    )
    connector = connect()
    records, _ = read_all(connector, "account_contacts")
    assert [r.key for r in records] == [f"{c1}@10", f"{c1}@20", f"{c2}@10"]
    assert records[0].values == {
        "FIRSTNAME": "Ann1",
        "EMAIL": "ann1@example.com",
        "ISACTIVE": "Y",
        "ACCNO": 10,
        "DEFCONTACT": "Y",
    }
    assert records[0].version != records[1].version  # the link row is part of the hash
    assert sorted(connector.list_keys("account_contacts")) == sorted(r.key for r in records)

    results = connector.apply(
        "account_contacts",
        [
            Operation(
                "update",
                f"{c1}@10",
                {"FIRSTNAME": "Anna", "DEFCONTACT": "N"},
                expected_version=records[0].version,
            ),
            Operation("update", f"{c1}@20", {"DEFCONTACT": "Y"}),
        ],
    )
    assert all(r.ok for r in results)
    pair10, pair20 = connector.read_by_keys("account_contacts", [f"{c1}@10", f"{c1}@20"])
    assert pair10.values["FIRSTNAME"] == pair20.values["FIRSTNAME"] == "Anna"
    assert (pair10.values["DEFCONTACT"], pair20.values["DEFCONTACT"]) == ("N", "Y")
    # The record at 20 holds the name written for the one at 10 too, which its own write
    # did not carry: no version, so the next read compares it in full and its hub record
    # takes the name.
    assert results[0].version == pair10.version and results[1].version is None

    (created,) = connector.apply(
        "account_contacts",
        [Operation("create", None, {"FIRSTNAME": "New", "EMAIL": "new@x", "ACCNO": 30})],
    )
    assert created.ok and created.key and created.key.endswith("@30")
    (removed,) = connector.apply("account_contacts", [Operation("delete", f"{c1}@20", {})])
    assert removed.ok
    assert sorted(connector.list_keys("account_contacts")) == sorted(
        [f"{c1}@10", f"{c2}@10", created.key]
    )
    missing_parent = connector.apply(
        "account_contacts", [Operation("create", None, {"FIRSTNAME": "X"})]
    )
    assert not missing_parent[0].ok and missing_parent[0].field == "ACCNO"


def test_delete_removes_the_row_and_a_missing_row_is_reported(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    k1, k2 = add(erp, t_contacts, contact(1), contact(2))
    connector = connect()
    results = connector.apply(
        "contacts", [Operation("delete", str(k1)), Operation("delete", "999999")]
    )
    assert results[0].ok and results[0].key == str(k1)
    assert not results[1].ok and "999999" in (results[1].error or "")
    assert list(connector.list_keys("contacts")) == [str(k2)]
    (update_missing,) = connector.apply(
        "contacts", [Operation("update", "999999", {"FIRSTNAME": "x"})]
    )
    assert not update_missing.ok and "no contacts" in (update_missing.error or "")


def test_list_keys_streams_every_key(erp: Engine, connect: Callable[..., SqlConnector]) -> None:
    with erp.begin() as conn:
        conn.execute(insert(t_notes), [{"BODY": f"note {n}"} for n in range(12_000)])
    keys = list(connect().list_keys("notes"))
    assert len(keys) == 12_000 == len(set(keys))


def test_read_by_keys_returns_one_result_per_key_in_order(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    k1, k2 = add(erp, t_contacts, contact(1), contact(2))
    connector = connect()
    wanted = [str(k2), "424242", "not-a-number", str(k1)]
    records = connector.read_by_keys("contacts", wanted)
    assert [r.key for r in records] == wanted
    assert [r.deleted for r in records] == [False, True, True, False]
    assert records[1].values == {} and records[0].values["FIRSTNAME"] == "Ann2"
    many = connector.read_by_keys("contacts", [str(n) for n in range(1, 1300)])
    assert len(many) == 1299 and sum(not r.deleted for r in many) == 2


def test_hash_mode_scans_the_whole_table_every_time(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    add(erp, t_notes, *({"BODY": f"note {n}"} for n in range(25)))
    connector = connect()
    batches = list(connector.read_changes("notes", None, 10))
    assert [len(b.records) for b in batches] == [10, 10, 5]
    assert [b.cursor for b in batches] == [None, None, FULL_SCAN]
    first = batches[0].records[0]
    assert first.modified_at is None and first.version and len(first.version) == 16
    with erp.begin() as conn:
        conn.execute(update(t_notes).where(pk(t_notes) == int(first.key)).values(BODY="changed"))
    again = list(connector.read_changes("notes", FULL_SCAN, 10))
    assert sum(len(b.records) for b in again) == 25
    assert again[0].records[0].version != first.version


def test_rowversion_mode_reads_rows_after_the_cursor_version(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    k1, k2 = add(erp, t_items, {"NAME": "a", "ROWV": 5}, {"NAME": "b", "ROWV": 6})
    connector = connect()
    records, cursor = read_all(connector, "items")
    assert [r.key for r in records] == [str(k1), str(k2)]
    assert cursor is not None and json.loads(cursor) == {"v": 6, "k": [k2]}
    assert records[0].version and records[0].version.startswith("5|")
    assert read_all(connector, "items", cursor)[0] == []
    with erp.begin() as conn:
        conn.execute(update(t_items).where(pk(t_items) == k1).values(NAME="A", ROWV=7))
    assert [r.key for r in read_all(connector, "items", cursor)[0]] == [str(k1)]
    (result,) = connector.apply("items", [Operation("update", str(k2), {"NAME": "B"})])
    assert result.ok and result.version and result.version.startswith("7|")


def test_undeclared_columns_and_tables_are_configuration_errors(db_url: str, erp: Engine) -> None:
    bad_column = TableSpec("contacts", "CONTACTS", "SEQNO", ("FIRSTNAME", "DEPARTMENT"))
    with pytest.raises(ConfigError, match="CONTACTS has no column DEPARTMENT"):
        SqlConnector("erp", db_url, [bad_column])
    with pytest.raises(ConfigError, match="NOPE does not exist"):
        SqlConnector("erp", db_url, [TableSpec("x", "NOPE", "ID", ())])
    copies_missing = replace(
        PAIRS_SPEC, fan_out=FanOut("DR_CONTACTS", "ACCNO", "CONTACT_SEQNO", copies=("EMAIL",))
    )
    with pytest.raises(ConfigError, match="DR_CONTACTS has no column EMAIL"):
        SqlConnector("erp", db_url, [copies_missing])
    not_synced = replace(
        PAIRS_SPEC, fan_out=FanOut("DR_CONTACTS", "ACCNO", "CONTACT_SEQNO", copies=("SEQNO",))
    )
    with pytest.raises(ConfigError, match="copies of columns CONTACTS does not sync: SEQNO"):
        SqlConnector("erp", db_url, [not_synced])


def test_close_leaves_a_given_engine_open(erp: Engine, db_url: str) -> None:
    connector = SqlConnector("erp", db_url, [NOTES_SPEC], engine=erp)
    connector.close()
    with erp.connect() as conn:  # still usable
        assert conn.scalar(select(func.count()).select_from(t_notes)) == 0


def test_modified_at_is_iso_utc(erp: Engine, connect: Callable[..., SqlConnector]) -> None:
    add(erp, t_contacts, contact(1, datetime(2026, 3, 2, 9, 0, 0, 123456)))
    (record,) = read_all(connect(), "contacts")[0]
    assert record.modified_at == to_iso(datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC))


def test_a_plain_sqlite_engine_keeps_checks_and_writes_in_one_transaction(tmp_path: Path) -> None:
    # Without make_system_engine's BEGIN handling, pysqlite opens no transaction before a SELECT;
    # the connector must still roll a failed batch back before redoing it row by row.
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    metadata.create_all(engine)
    (key,) = add(engine, t_contacts, contact(1))
    connector = SqlConnector("erp", "unused", [CONTACTS_SPEC], engine=engine)
    (seen,) = connector.read_by_keys("contacts", [str(key)])
    results = connector.apply(
        "contacts",
        [
            Operation("create", None, {"FIRSTNAME": "A", "EMAIL": "a@x"}),
            Operation("update", str(key), {"FIRSTNAME": "B"}, expected_version=seen.version),
            Operation("create", None, {"FIRSTNAME": "C", "EMAIL": "ann1@example.com"}),
        ],
    )
    assert [r.ok for r in results] == [True, True, False]
    with engine.connect() as conn:
        names = conn.scalars(select(t_contacts.c.FIRSTNAME).order_by(t_contacts.c.SEQNO)).all()
    assert names == ["B", "A"]
    connector.close()
    engine.dispose()


def test_a_locked_database_raises_a_transient_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    metadata.create_all(engine)
    (key,) = add(engine, t_contacts, contact(1))
    connector = SqlConnector("erp", "unused", [CONTACTS_SPEC], engine=engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(TransientError) as raised:
            connector.apply("contacts", [Operation("update", str(key), {"FIRSTNAME": "x"})])
        assert raised.value.system == "erp" and raised.value.entity == "contacts"
        assert "locked" in str(raised.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def test_a_sqlite_system_file_keeps_its_journal_mode(tmp_path: Path) -> None:
    # WAL is recorded in the file and fails on network shares: a customer's database file
    # stays in the mode its owner chose, whatever the hub uses.
    path = tmp_path / "customer.db"
    owner = sqlite3.connect(path)
    owner.close()
    metadata.create_all(create_engine(f"sqlite:///{path}"))
    connector = SqlConnector("erp", f"sqlite:///{path}", [CONTACTS_SPEC])
    try:
        (result,) = connector.apply("contacts", [Operation("create", None, {"FIRSTNAME": "Ann"})])
        assert result.ok, result.error
        assert [r.key for r in read_all(connector, "contacts")[0]] == [result.key]
    finally:
        connector.close()
    owner = sqlite3.connect(path)
    assert owner.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    owner.close()


def test_an_unreachable_database_raises_a_transient_error() -> None:
    with pytest.raises(TransientError):
        SqlConnector("erp", "postgresql://postgres@127.0.0.1:1/none", [NOTES_SPEC])


def test_a_fan_out_create_needs_a_valid_parent_key(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    results = connect().apply(
        "account_contacts",
        [
            Operation("create", None, {"FIRSTNAME": "X"}),
            Operation("create", None, {"FIRSTNAME": "Y", "ACCNO": "not-a-number"}),
            Operation("create", None, {"FIRSTNAME": "Z", "ACCNO": "40"}),
        ],
    )
    assert [(r.ok, r.field) for r in results] == [(False, "ACCNO"), (False, "ACCNO"), (True, None)]
    assert results[2].key and results[2].key.endswith("@40")


def versions_match_a_read(connector: SqlConnector, entity: str, results: list[Any]) -> None:
    """Every successful write returned the version (and time) a read now sees."""
    keys = [r.key for r in results if r.ok]
    read = {r.key: r for r in connector.read_by_keys(entity, keys)}
    for result in results:
        if result.ok:
            assert not read[result.key].deleted
            assert (result.version, result.modified_at) == (
                read[result.key].version,
                read[result.key].modified_at,
            ), result.key


def test_written_versions_allow_for_defaults_padding_and_coercion(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), step=timedelta(milliseconds=1))
    connector = connect([MEMBERS_SPEC], clock)
    created = connector.apply(
        "members",
        [
            # Text for integer columns, short values for CHAR columns, defaults left out.
            Operation("create", None, {"CODE": "AB", "AGE": "42", "GROUPNO": "7"}, marker="m1"),
            Operation("create", None, {"AGE": 5, "GROUPNO": 7, "ROLE": "BOS"}, marker="m2"),
            Operation("create", None, {"CODE": None, "GROUPNO": 8, "NOTE": "n"}, marker="m3"),
            Operation("create", None, {"ACTIVE": "N", "BALANCE": "1.5", "GROUPNO": 8}),
        ],
    )
    assert all(r.ok for r in created), created
    versions_match_a_read(connector, "members", created)
    first, second, third, fourth = connector.read_by_keys("members", [r.key for r in created])
    assert first.values["AGE"] == 42 and first.values["ACTIVE"] == "Y"
    assert second.values["ROLE"] == "BOS" and third.values["ROLE"].strip() == "MEM"
    assert third.values["NOTE"] == "n" and fourth.values["ACTIVE"] == "N"

    clock.advance(timedelta(minutes=1))
    bumped = {"AGE": "43", "ROLE": "X"}  # text for an integer; padded on PostgreSQL
    updated = connector.apply(
        "members",
        [
            Operation("update", first.key, bumped, expected_version=first.version),
            Operation("update", second.key, {"NOTE": "only the link"}),
            Operation("update", third.key, {"CODE": "Q", "BALANCE": 2}),
            Operation("deactivate", fourth.key, {"ACTIVE": "N"}, expected_version=fourth.version),
        ],
    )
    assert all(r.ok for r in updated), updated
    versions_match_a_read(connector, "members", updated)
    # One modified time for every row a batch writes: the clock is read once per batch.
    assert updated[0].modified_at == "2026-03-02T12:01:00.001000Z"
    assert updated[2].modified_at == updated[0].modified_at
    assert updated[1].modified_at == second.modified_at  # the child row was not written


def test_a_marker_whose_child_exists_without_the_requested_link_adds_the_link(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    connector = connect([MEMBERS_SPEC])
    (first,) = connector.apply(
        "members", [Operation("create", None, {"AGE": 1, "GROUPNO": 10}, marker="m1")]
    )
    assert first.ok and first.key
    person = first.key.split("@")[0]
    results = connector.apply(
        "members",
        [
            Operation("create", None, {"AGE": 1, "GROUPNO": 20, "ROLE": "BOS"}, marker="m1"),
            Operation("create", None, {"AGE": 1, "GROUPNO": 10}, marker="m1"),
            Operation("create", None, {"AGE": 1, "GROUPNO": 20}, marker="m1"),
            # A new child and, within the same batch, a second link to it.
            Operation("create", None, {"AGE": 2, "GROUPNO": 10}, marker="m2"),
            Operation("create", None, {"AGE": 2, "GROUPNO": 30, "NOTE": "x"}, marker="m2"),
        ],
    )
    assert all(r.ok for r in results), results
    assert results[0].key == f"{person}@20" and results[2] == results[0]
    assert results[1] == first
    new_person = (results[3].key or "").split("@")[0]
    assert new_person != person and results[4].key == f"{new_person}@30"
    versions_match_a_read(connector, "members", [first, *results])
    with erp.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t_people)) == 2
        assert conn.scalar(select(func.count()).select_from(t_memberships)) == 4
    (added,) = connector.read_by_keys("members", [f"{person}@20"])
    assert added.values["ROLE"] == "BOS"

    # A child whose every link was deleted gets its link back, still with no second child.
    assert connector.apply("members", [Operation("delete", f"{person}@10")])[0].ok
    assert connector.apply("members", [Operation("delete", f"{person}@20")])[0].ok
    (again,) = connector.apply(
        "members", [Operation("create", None, {"AGE": 1, "GROUPNO": 10}, marker="m1")]
    )
    assert again.ok and again.key == f"{person}@10"
    versions_match_a_read(connector, "members", [again])
    with erp.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t_people)) == 2


def test_a_batch_of_creates_and_updates_takes_a_few_statements(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    connector = connect([MEMBERS_SPEC])
    statements: list[str] = []
    event.listen(
        connector.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    ops = [
        Operation("create", None, {"AGE": n, "GROUPNO": n % 7, "NOTE": f"{n}"}, marker=f"m{n}")
        for n in range(1200)
    ]
    created = connector.apply("members", ops)
    assert all(r.ok for r in created)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(selects) == 3  # the markers, in chunks of 500
    assert len(inserts) <= 4  # child rows and link rows (paged by parameter count)
    versions_match_a_read(connector, "members", created)

    statements.clear()
    updates = [
        Operation("update", r.key, {"AGE": n, "ROLE": "UPD"}, expected_version=r.version)
        for n, r in enumerate(created)
    ]
    updated = connector.apply("members", updates)
    assert all(r.ok for r in updated)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # The version checks, in chunks of 500; where UPDATE has no RETURNING (MariaDB), one
    # read-back per chunk too, never a read per row.
    read_back = 0 if connector.engine.dialect.update_returning else 3
    assert len(selects) == 3 + read_back
    versions_match_a_read(connector, "members", updated)


def shared_contact(erp: Engine, n: int) -> int:
    """A contact linked to accounts 10 (its default contact) and 20."""
    (key,) = add(erp, t_contacts, contact(n))
    add(
        erp,
        t_links,
        {"ACCNO": 10, "CONTACT_SEQNO": key, "DEFCONTACT": "Y"},
        {"ACCNO": 20, "CONTACT_SEQNO": key, "DEFCONTACT": "N"},
    )
    return key


def test_a_shared_child_written_for_another_record_of_the_batch_is_no_stale_change(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    c1 = shared_contact(erp, 1)
    connector = connect()
    pair10, pair20 = connector.read_by_keys("account_contacts", [f"{c1}@10", f"{c1}@20"])
    results = connector.apply(
        "account_contacts",
        [
            Operation("update", pair10.key, {"FIRSTNAME": "B"}, expected_version=pair10.version),
            Operation("update", pair20.key, {"DEFCONTACT": "Y"}, expected_version=pair20.version),
        ],
    )
    # The batch's own write of the shared row is nobody else's change: both go. The second
    # record holds the first's name too, which its sender does not know of: it gets no
    # version, so the next read compares it in full.
    assert [(r.ok, r.stale) for r in results] == [(True, False)] * 2
    versions_match_a_read(connector, "account_contacts", results[:1])
    assert results[1].version is None
    read = connector.read_by_keys("account_contacts", [pair20.key])[0].values
    assert (read["FIRSTNAME"], read["DEFCONTACT"]) == ("B", "Y")
    # Somebody else's write of the shared row is a change: a conditional update of another
    # record of that row then writes nothing.
    (seen,) = connector.read_by_keys("account_contacts", [pair20.key])
    with erp.begin() as conn:
        conn.execute(update(t_contacts).where(pk(t_contacts) == c1).values(FIRSTNAME="Erp"))
    (late,) = connector.apply(
        "account_contacts",
        [Operation("update", seen.key, {"DEFCONTACT": "N"}, expected_version=seen.version)],
    )
    assert late.stale


def test_a_shared_child_written_by_an_earlier_batch_is_no_stale_change_but_a_later_edit_is(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    c1 = shared_contact(erp, 1)
    connector = connect()
    pair10, pair20 = connector.read_by_keys("account_contacts", [f"{c1}@10", f"{c1}@20"])
    first = Operation("update", pair10.key, {"FIRSTNAME": "B"}, expected_version=pair10.version)
    second = Operation("update", pair20.key, {"EMAIL": "b@x"}, expected_version=pair20.version)
    # Each in a batch of its own.
    (one,) = connector.apply("account_contacts", [first])
    (two,) = connector.apply("account_contacts", [second])
    assert one.ok and two.ok and two.version is None  # it holds the name written before
    read = connector.read_by_keys("account_contacts", [pair20.key])[0].values
    assert (read["FIRSTNAME"], read["EMAIL"]) == ("B", "b@x")
    # Somebody else's write of the row since ours is a change again.
    with erp.begin() as conn:
        conn.execute(
            update(t_contacts)
            .where(pk(t_contacts) == c1)
            .values(FIRSTNAME="Erp", LAST_UPDATED=T0 + timedelta(hours=1))
        )
    (late,) = connector.apply(
        "account_contacts",
        [Operation("update", pair20.key, {"EMAIL": "c@x"}, expected_version=pair20.version)],
    )
    assert late.stale


def test_a_later_change_of_a_shared_child_goes_on_top_when_the_batch_is_redone_one_by_one(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    connector = connect([MEMBERS_SPEC])
    one, two, other = connector.apply(
        "members",
        [
            Operation("create", None, {"EMAIL": "a@x", "GROUPNO": 1}, marker="a"),
            Operation("create", None, {"EMAIL": "a@x", "GROUPNO": 2}, marker="a"),
            Operation("create", None, {"EMAIL": "b@x", "GROUPNO": 3}, marker="b"),
        ],
    )
    results = connect([MEMBERS_SPEC]).apply(
        "members",
        [
            Operation("update", one.key, {"AGE": 1}, expected_version=one.version),
            Operation("update", two.key, {"AGE": 2}, expected_version=two.version),
            # A unique email taken: the batch rolls back and is redone a record at a time.
            Operation("update", other.key, {"EMAIL": "a@x"}, expected_version=other.version),
        ],
    )
    assert [(r.ok, r.stale) for r in results] == [(True, False), (True, False), (False, False)]


def test_one_value_written_for_every_record_of_a_shared_child_keeps_their_versions(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    c1 = shared_contact(erp, 1)
    connector = connect()
    pairs = connector.read_by_keys("account_contacts", [f"{c1}@10", f"{c1}@20"])
    results = connector.apply(
        "account_contacts",
        [
            Operation("update", p.key, {"FIRSTNAME": "Di"}, expected_version=p.version)
            for p in pairs
        ],
    )
    assert all(r.ok and r.version for r in results)
    versions_match_a_read(connector, "account_contacts", results)


def test_a_database_refusal_in_a_fan_out_batch_fails_only_its_own_record(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    connector = connect([MEMBERS_SPEC])
    results = connector.apply(
        "members",
        [
            Operation("create", None, {"EMAIL": "a@x", "GROUPNO": 1}, marker="a"),
            Operation("create", None, {"EMAIL": "a@x", "GROUPNO": 2}, marker="b"),
            Operation("create", None, {"EMAIL": "c@x", "GROUPNO": 3}, marker="c"),
            Operation("create", None, {"EMAIL": "a@x", "GROUPNO": 4}, marker="a"),
        ],
    )
    assert [r.ok for r in results] == [True, False, True, True]
    assert _unique_violation(results[1].error)
    assert results[3].key == f"{(results[0].key or '').split('@')[0]}@4"
    versions_match_a_read(connector, "members", results)


def test_without_returning_the_written_rows_are_read_back(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    connector = connect([MEMBERS_SPEC, ITEMS_SPEC])
    # As on a database that cannot return rows from inserts and updates.
    connector._bulk_returning = connector._bulk_returning_ordered = False
    connector._update_returning = False
    created = connector.apply(
        "members",
        [
            Operation("create", None, {"AGE": "1", "GROUPNO": 1}, marker="a"),
            Operation("create", None, {"CODE": "Z", "GROUPNO": 2, "ROLE": "B"}, marker="a"),
            Operation("create", None, {"GROUPNO": 1}),
        ],
    )
    assert all(r.ok for r in created) and len({r.key for r in created}) == 3
    versions_match_a_read(connector, "members", created)
    updated = connector.apply(
        "members",
        [
            Operation("update", created[0].key, {"AGE": 2}, expected_version=created[0].version),
            Operation("update", created[2].key, {"AGE": 3}, expected_version=created[2].version),
        ],
    )
    assert all(r.ok for r in updated)
    versions_match_a_read(connector, "members", updated)
    (item,) = connector.apply("items", [Operation("create", None, {"NAME": "a"})])
    (changed,) = connector.apply(
        "items", [Operation("update", item.key, {"NAME": "b"}, expected_version=item.version)]
    )
    assert changed.ok and (changed.version or "").startswith("2|")
    versions_match_a_read(connector, "items", [changed])


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda spec: spec.name)
def test_every_kind_of_table_returns_the_versions_a_read_sees(
    erp: Engine, connect: Callable[..., SqlConnector], spec: TableSpec
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), step=timedelta(milliseconds=1))
    connector = connect(ALL_SPECS, clock)
    name = spec.columns[0]
    parent = {spec.fan_out.parent_key: 5} if spec.fan_out else {}
    created = connector.apply(
        spec.name,
        [
            Operation("create", None, {name: f"n{n}", **parent}, f"m{n}" if spec.marker else None)
            for n in range(3)
        ],
    )
    assert all(r.ok for r in created), created
    versions_match_a_read(connector, spec.name, created)
    updated = connector.apply(
        spec.name,
        [
            Operation("update", r.key, {name: f"u{n}"}, expected_version=r.version)
            for n, r in enumerate(created)
        ],
    )
    assert all(r.ok for r in updated), updated
    assert all(u.version != c.version for u, c in zip(updated, created, strict=True))
    versions_match_a_read(connector, spec.name, updated)


def _unique_violation(error: str | None) -> bool:
    # SQLite and PostgreSQL say "unique"; MariaDB and MySQL say "Duplicate entry".
    text = (error or "").lower()
    return "unique" in text or "duplicate" in text


def test_a_read_leaves_our_own_writes_out_unless_they_changed_a_record_we_did_not_write(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    # Sub-millisecond stamps, as from the wall clock (the columns keep microseconds).
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, 0, 123457, tzinfo=UTC), timedelta(0, 0, 1001))
    c1 = shared_contact(erp, 1)
    (c2,) = add(erp, t_contacts, contact(2))
    add(erp, t_links, {"ACCNO": 10, "CONTACT_SEQNO": c2, "DEFCONTACT": "N"})
    connector = connect(clock=clock)
    entity = "account_contacts"
    state = {"cursor": read_all(connector, entity)[1]}

    def write_and_reread(*ops: Operation) -> list[str]:
        results = connector.apply(entity, list(ops))
        assert all(r.ok for r in results), results
        state["cursor"] = connector.note_writes(entity, state["cursor"], results)
        return sorted(r.key for r in read_all(connector, entity, state["cursor"])[0])

    # c2 has one record: writing it leaves nothing of it to read back (c1's rows, not
    # written yet, are still inside the overlap window).
    c1_pairs = [f"{c1}@10", f"{c1}@20"]
    assert write_and_reread(Operation("update", f"{c2}@10", {"FIRSTNAME": "Bo"})) == c1_pairs
    # c1's row is shared by two records: written for one, the other shows the new name
    # and must be read (and so is the written one: the stamp cannot tell them apart).
    changed = write_and_reread(Operation("update", f"{c1}@10", {"FIRSTNAME": "Cy"}))
    assert changed == c1_pairs
    # Both records of c1 written in one batch: nothing else saw the write.
    both = write_and_reread(
        Operation("update", f"{c1}@10", {"FIRSTNAME": "Di"}),
        Operation("update", f"{c1}@20", {"FIRSTNAME": "Di"}),
    )
    assert both == []


@pytest.mark.mariadb
def test_mariadb_sessions_read_and_write_times_in_utc(mariadb_url: str) -> None:
    # TIMESTAMP columns convert to the session's time zone (the server's unless set), and
    # Accord's stamps and cursors are UTC: a server in another zone must not shift them.
    engine = make_system_engine(mariadb_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT @@session.time_zone").scalar() == "+00:00"
    finally:
        engine.dispose()


@pytest.mark.mariadb
def test_mariadb_naive_datetimes_follow_the_system_zone_and_timestamps_stay_utc(
    mariadb_url: str,
) -> None:
    """An ERP app on a server in Auckland writes NOW() at 09:00 local (20:00 UTC) into a
    DATETIME column and a TIMESTAMP column: both are the same moment to Accord."""
    raw = create_engine(mariadb_url)
    try:
        with raw.begin() as conn:
            for table, kind in (("T_DT", "DATETIME(6)"), ("T_TS", "TIMESTAMP(6)")):
                conn.exec_driver_sql(
                    f"CREATE TABLE {table} (ID INT PRIMARY KEY, NAME VARCHAR(20),"
                    f" MODIFIED {kind} NULL)"
                )
            conn.exec_driver_sql("SET time_zone = '+13:00'")  # the ERP's own session
            for table in ("T_DT", "T_TS"):
                conn.exec_driver_sql(
                    f"INSERT INTO {table} VALUES (1, 'Acme', '2026-01-10 09:00:00')"
                )
    finally:
        raw.dispose()
    specs = [TableSpec(t, t, "ID", ("NAME",), modified="MODIFIED") for t in ("T_DT", "T_TS")]
    connector = SqlConnector("erp", mariadb_url, specs, time_zone="Pacific/Auckland")
    try:
        for table in ("T_DT", "T_TS"):
            ((record,), *_) = [b.records for b in connector.read_changes(table, None, 10)]
            assert record.modified_at == "2026-01-09T20:00:00.000000Z", table
    finally:
        connector.close()


# MariaDB compares text with trailing blanks ignored: 'A' and 'A ' are one key there.
@pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_text_keys_differing_only_by_trailing_blanks_are_separate_records(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    """SQLite and PostgreSQL tell VARCHAR 'A' from 'A ': a batch writes each its own row."""
    codes = _coded_table(erp, "CODES", String(10), {"A": "plain", "A ": "blank"})
    connector = connect(
        [_coded_spec("codes", codes)], ManualClock(datetime(2026, 3, 2, 12, tzinfo=UTC))
    )
    plain, blank = connector.read_by_keys("codes", ["A", "A "])
    assert (plain.values["NAME"], blank.values["NAME"]) == ("plain", "blank")

    results = connector.apply(
        "codes",
        [
            Operation("update", "A", {"NAME": "plain 2"}, expected_version=plain.version),
            Operation("update", "A ", {"NAME": "blank 2"}, expected_version=blank.version),
        ],
    )
    assert [r.ok for r in results] == [True, True], results
    assert [r.key for r in results] == ["A", "A "]
    versions_match_a_read(connector, "codes", results)
    with erp.connect() as conn:
        rows = dict(conn.execute(select(codes.c.CODE, codes.c.NAME)).all())
    assert rows == {"A": "plain 2", "A ": "blank 2"}


def test_fixed_width_text_keys_match_their_padded_rows(
    erp: Engine, connect: Callable[..., SqlConnector]
) -> None:
    """A CHAR key comes back padded to its width (PostgreSQL); it is still the key written."""
    codes = _coded_table(erp, "FIXED_CODES", CHAR(6), {"AB": "one"})
    connector = connect(
        [_coded_spec("fixed", codes)], ManualClock(datetime(2026, 3, 2, 12, tzinfo=UTC))
    )
    (seen,) = connector.read_by_keys("fixed", ["AB"])
    results = connector.apply(
        "fixed", [Operation("update", "AB", {"NAME": "two"}, expected_version=seen.version)]
    )
    assert [r.ok for r in results] == [True], results
    versions_match_a_read(connector, "fixed", results)


def _coded_table(erp: Engine, name: str, key_type: Any, rows: dict[str, str]) -> Table:
    """A table keyed by a text code, holding ``rows`` (code -> name)."""
    table = Table(
        name,
        MetaData(),
        Column("CODE", key_type, primary_key=True),
        Column("NAME", String(30)),
        Column("LAST_UPDATED", STAMP),
    )
    table.create(erp)
    with erp.begin() as conn:
        values = [{"CODE": c, "NAME": n, "LAST_UPDATED": T0} for c, n in rows.items()]
        conn.execute(insert(table), values)
    return table


def _coded_spec(entity: str, table: Table) -> TableSpec:
    return TableSpec(entity, table.name, "CODE", ("NAME",), modified="LAST_UPDATED")

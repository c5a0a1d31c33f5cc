"""The one suite every connector passes: read changes since a cursor, read by keys,
apply a batch with per-record results, idempotent create, capabilities honoured.

A connector joins by adding a subject factory to SUBJECTS; the tests only use the
connector protocol, never the system behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

from accord.clock import ManualClock
from accord.connectors.base import Connector, ExternalRecord, Operation
from accord.connectors.memory import MemoryConnector
from accord.connectors.sql import SqlConnector
from accord.connectors.sql_tables import TableSpec
from accord.store.database import make_system_engine

ENTITY = "things"
NAME_LIMIT = 30


@dataclass
class Subject:
    connector: Connector
    clock: ManualClock
    name_limit: int = NAME_LIMIT  # the longest NAME the system takes


def _memory(_: pytest.FixtureRequest, clock: ManualClock) -> Connector:
    connector = MemoryConnector("memory", entities=[ENTITY], clock=clock)
    connector.tables[ENTITY].max_lengths["NAME"] = NAME_LIMIT
    return connector


def _sql(url: str, clock: ManualClock) -> Connector:
    engine = make_system_engine(url)
    metadata = MetaData()
    Table(
        "THINGS",
        metadata,
        Column("SEQNO", Integer, primary_key=True, autoincrement=True),
        Column("NAME", String(NAME_LIMIT)),
        Column("EMAIL", String(60)),
        Column("LAST_UPDATED", DateTime),
        Column("X_MARKER", String(64)),
    )
    metadata.create_all(engine)
    engine.dispose()
    spec = TableSpec(
        name=ENTITY,
        table="THINGS",
        key="SEQNO",
        columns=("NAME", "EMAIL"),
        modified="LAST_UPDATED",
        marker="X_MARKER",
    )
    return SqlConnector("sql", url, [spec], clock)


def _sql_sqlite(request: pytest.FixtureRequest, clock: ManualClock) -> Connector:
    tmp: Path = request.getfixturevalue("tmp_path")
    return _sql(f"sqlite:///{tmp / 'system.db'}", clock)


def _sql_postgres(request: pytest.FixtureRequest, clock: ManualClock) -> Connector:
    return _sql(str(request.getfixturevalue("pg_schema_url")), clock)


def _sql_mariadb(request: pytest.FixtureRequest, clock: ManualClock) -> Connector:
    return _sql(str(request.getfixturevalue("mariadb_url")), clock)


def _exact_sandbox(request: pytest.FixtureRequest, clock: ManualClock) -> Connector:
    from tests.acceptance.exact_support import conformance_subject

    tmp: Path = request.getfixturevalue("tmp_path")
    return conformance_subject(tmp, request.getfixturevalue("monkeypatch"), ENTITY, clock)


SUBJECTS: dict[str, Callable[[pytest.FixtureRequest, ManualClock], Connector]] = {
    "memory": _memory,
    "sql-sqlite": _sql_sqlite,
    "sql-postgres": _sql_postgres,
    "sql-mariadb": _sql_mariadb,
    "exact-sandbox": _exact_sandbox,  # things are accounts: NAME is Name, EMAIL is Email
}
NAME_LIMITS = {"exact-sandbox": 50}  # Exact's account Name


def _marks(name: str) -> list[pytest.MarkDecorator]:
    return [getattr(pytest.mark, db) for db in ("postgres", "mariadb") if db in name]


@pytest.fixture(params=[pytest.param(name, marks=_marks(name)) for name in SUBJECTS])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    clock = ManualClock(step=timedelta(milliseconds=10))
    connector = SUBJECTS[request.param](request, clock)
    yield Subject(connector, clock, NAME_LIMITS.get(request.param, NAME_LIMIT))
    connector.close()


def _create(subject: Subject, *names: str) -> list[str]:
    ops = [
        Operation("create", None, {"NAME": n, "EMAIL": f"{n.lower()}@example.com"}) for n in names
    ]
    results = subject.connector.apply(ENTITY, ops)
    assert all(r.ok for r in results), results
    return [str(r.key) for r in results]


def _read_all(
    connector: Connector, cursor: str | None = None
) -> tuple[list[ExternalRecord], str | None]:
    found: list[ExternalRecord] = []
    last = cursor
    for batch in connector.read_changes(ENTITY, cursor, 2):
        found.extend(batch.records)
        last = batch.cursor if batch.cursor is not None else last
    return found, last


def test_reads_everything_then_only_changes_since_the_cursor(subject: Subject) -> None:
    keys = _create(subject, "Ann", "Bo", "Cy", "Di", "Ed")
    first, cursor = _read_all(subject.connector)
    assert sorted(r.key for r in first) == sorted(keys)
    versions = {r.key: r.version for r in first}
    subject.clock.advance(timedelta(minutes=30))
    result = subject.connector.apply(ENTITY, [Operation("update", keys[2], {"NAME": "Cyd"})])[0]
    assert result.ok and result.version != versions[keys[2]]
    again, _ = _read_all(subject.connector, cursor)
    changed = {r.key: r for r in again}
    assert changed[keys[2]].values["NAME"] == "Cyd"
    # A connector may re-read records near the cursor, but only with their unchanged version.
    for record in again:
        if record.key != keys[2]:
            assert record.version == versions[record.key]


def test_reads_by_keys_in_order_and_reports_missing_keys_as_deleted(subject: Subject) -> None:
    keys = _create(subject, "Ann", "Bo")
    missing = "999999"
    found = subject.connector.read_by_keys(ENTITY, [keys[1], missing, keys[0]])
    assert [r.key for r in found] == [keys[1], missing, keys[0]]
    assert found[0].values["NAME"] == "Bo" and not found[0].deleted
    assert found[1].deleted and not found[2].deleted


def test_a_bad_record_fails_alone_naming_its_field(subject: Subject) -> None:
    ops = [
        Operation("create", None, {"NAME": "Ann"}),
        Operation("create", None, {"NAME": "x" * (subject.name_limit + 5)}),
        Operation("create", None, {"NAME": "Cy"}),
    ]
    results = subject.connector.apply(ENTITY, ops)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].field == "NAME" and results[1].error
    names = sorted(r.values["NAME"] for r in _read_all(subject.connector)[0])
    assert names == ["Ann", "Cy"]


def test_refusals_write_nothing_and_apply_refuses_what_they_name(subject: Subject) -> None:
    """The dry run's view: what a connector says it would refuse, it does refuse."""
    ops = [
        Operation("create", None, {"NAME": "Ann"}),
        Operation("create", None, {"NAME": "x" * (subject.name_limit + 5)}),
    ]
    refusals = subject.connector.refusals(ENTITY, ops)
    assert len(refusals) == 2 and refusals[0] is None
    assert _read_all(subject.connector)[0] == []
    results = subject.connector.apply(ENTITY, ops)
    named = refusals[1]
    if named is not None:  # an API that judges only what it is sent names none
        assert not named.ok and named.field == "NAME" and named.error
        assert not results[1].ok and results[1].field == "NAME"


def test_create_with_a_known_marker_returns_the_earlier_record(subject: Subject) -> None:
    if not subject.connector.capabilities(ENTITY).idempotent_create:
        pytest.skip("this connector does not claim idempotent creates")
    op = Operation("create", None, {"NAME": "Ann"}, marker="m-1")
    first = subject.connector.apply(ENTITY, [op])[0]
    second = subject.connector.apply(ENTITY, [op])[0]
    assert first.ok and second.ok and first.key == second.key
    assert len(list(subject.connector.list_keys(ENTITY))) == 1


def test_a_conditional_update_against_a_moved_record_writes_nothing(subject: Subject) -> None:
    if not subject.connector.capabilities(ENTITY).conditional_update:
        pytest.skip("this connector does not claim conditional updates")
    (key,) = _create(subject, "Ann")
    (record,) = subject.connector.read_by_keys(ENTITY, [key])
    subject.connector.apply(ENTITY, [Operation("update", key, {"NAME": "Anna"})])
    stale = subject.connector.apply(
        ENTITY, [Operation("update", key, {"NAME": "Annie"}, expected_version=record.version)]
    )[0]
    assert not stale.ok and stale.stale
    assert subject.connector.read_by_keys(ENTITY, [key])[0].values["NAME"] == "Anna"


def test_keys_are_listed_and_deletes_remove_them(subject: Subject) -> None:
    keys = _create(subject, "Ann", "Bo", "Cy")
    assert sorted(subject.connector.list_keys(ENTITY)) == sorted(keys)
    assert subject.connector.count(ENTITY) == len(keys)
    caps = subject.connector.capabilities(ENTITY)
    result = subject.connector.apply(ENTITY, [Operation("delete", keys[0])])[0]
    if not caps.delete:
        assert not result.ok
        return
    assert result.ok
    assert sorted(subject.connector.list_keys(ENTITY)) == sorted(keys[1:])
    assert subject.connector.read_by_keys(ENTITY, [keys[0]])[0].deleted


def test_an_update_to_a_missing_record_fails_alone(subject: Subject) -> None:
    (key,) = _create(subject, "Ann")
    results = subject.connector.apply(
        ENTITY,
        [
            Operation("update", "999999", {"NAME": "Ghost"}),
            Operation("update", key, {"NAME": "Anna"}),
        ],
    )
    assert [r.ok for r in results] == [False, True] and results[0].error

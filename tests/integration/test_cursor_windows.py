"""Change detection against SQL systems: shared modified times and skewed clocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    CHAR,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    update,
)

from accord.clock import ManualClock
from accord.connectors.sql import SqlConnector
from accord.connectors.sql_tables import TableSpec
from accord.mapping.profile import EntityMap, FieldMap, Profile
from accord.store import HubStore, links
from accord.store.database import make_system_engine
from tests.support import run_sync

PROFILE = Profile(
    "t",
    [
        EntityMap(
            "company",
            "companies",
            [
                FieldMap("code", "CODE"),
                FieldMap("name", "NAME"),
                FieldMap("active", "ACTIVE", transform="yn"),
            ],
        )
    ],
)
SPEC = TableSpec(
    "companies",
    "COMPANIES",
    "ID",
    ("CODE", "NAME", "ACTIVE"),
    modified="MODIFIED",
    overlap_seconds=300,
)


def _companies(path: Path) -> tuple[Engine, Table]:
    """A SQLite ERP file with the COMPANIES table of SPEC."""
    engine = make_system_engine(f"sqlite:///{path}")
    metadata = MetaData()
    table = Table(
        "COMPANIES",
        metadata,
        Column("ID", Integer, primary_key=True, autoincrement=True),
        Column("CODE", String(20)),
        Column("NAME", String(60)),
        Column("ACTIVE", CHAR(1)),
        Column("MODIFIED", DateTime, index=True),
    )
    metadata.create_all(engine)
    return engine, table


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[Engine, Table]]:
    engine, table = _companies(tmp_path / "erp.db")
    yield engine, table
    engine.dispose()


def _count_selects(engine: Engine) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen


def test_thousands_of_rows_sharing_one_modified_time_are_all_synced_in_linear_time(
    sqlite_store: HubStore, clock: ManualClock, system: tuple[Engine, Table]
) -> None:
    engine, table = system
    moment = datetime(2026, 5, 1, 9, 0, 0)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"CODE": f"C{i}", "NAME": f"Company {i}", "ACTIVE": "Y", "MODIFIED": moment}
                for i in range(3000)
            ],
        )
    connector = SqlConnector("erp", "sqlite://", [SPEC], clock, engine=engine)
    selects = _count_selects(engine)
    run_sync(sqlite_store, connector, PROFILE, clock, batch_size=100)
    with sqlite_store.transaction() as conn:
        linked = {key for key, _ in links.external_ids(conn, "erp", "company")}
    assert len(linked) == 3000  # nothing missed
    # Keyset paging: one query per batch (plus a handful), never a rescan per batch.
    assert len(selects) <= 3000 // 100 + 10
    # 1,000 more rows stamped with the same time arrive later: all read, none twice.
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"CODE": f"D{i}", "NAME": f"Late {i}", "ACTIVE": "Y", "MODIFIED": moment}
                for i in range(1000)
            ],
        )
    plan = run_sync(sqlite_store, connector, PROFILE, clock, batch_size=100)
    assert plan.count("hub", "company", "create") == 1000
    connector.close()


def test_rows_stamped_by_a_clock_minutes_behind_are_not_missed(
    sqlite_store: HubStore, system: tuple[Engine, Table]
) -> None:
    engine, table = system
    ours = ManualClock(start=datetime(2026, 5, 1, 9, 0, tzinfo=UTC), step=timedelta(milliseconds=1))
    with engine.begin() as conn:
        conn.execute(
            insert(table).values(
                CODE="A", NAME="First", ACTIVE="Y", MODIFIED=datetime(2026, 5, 1, 9, 0, 0)
            )
        )
    connector = SqlConnector("erp", "sqlite://", [SPEC], ours, engine=engine)
    run_sync(sqlite_store, connector, PROFILE, ours)
    # Another client whose clock is 4 minutes behind writes after our sync.
    with engine.begin() as conn:
        conn.execute(
            insert(table).values(
                CODE="B", NAME="Skewed", ACTIVE="Y", MODIFIED=datetime(2026, 5, 1, 8, 56, 30)
            )
        )
        conn.execute(
            update(table)
            .where(table.c["CODE"] == "A")
            .values(NAME="Edited behind", MODIFIED=datetime(2026, 5, 1, 8, 57, 0))
        )
    plan = run_sync(sqlite_store, connector, PROFILE, ours)
    assert plan.count("hub", "company", "create") == 1
    assert plan.count("hub", "company", "update") == 1
    # Re-read rows inside the overlap window are recognised and cost no writes.
    assert run_sync(sqlite_store, connector, PROFILE, ours).writes == 0
    connector.close()


class _CountingConnector(SqlConnector):
    """Counts the records reads hand to the engine."""

    records_read = 0

    def read_changes(self, entity: str, cursor: str | None, batch_size: int) -> Iterator[Any]:
        for batch in super().read_changes(entity, cursor, batch_size):
            self.records_read += len(batch.records)
            yield batch


def _source_with_companies(tmp_path: Path, count: int) -> Engine:
    engine, table = _companies(tmp_path / "source.db")
    moment = datetime(2026, 5, 1, 8, 0, 0)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"CODE": f"C{i}", "NAME": f"Company {i}", "ACTIVE": "Y", "MODIFIED": moment}
                for i in range(count)
            ],
        )
    return engine


def _hub_name(store: HubStore, system: str, key: str) -> Any:
    from accord.store import records

    with store.transaction() as conn:
        hub_id = links.by_external(conn, system, "company", [key])[key].hub_id
        record = records.get(conn, hub_id)
    assert record is not None
    return record.data["name"]


def test_our_own_writes_are_not_read_back_but_an_edit_after_them_is(
    sqlite_store: HubStore, system: tuple[Engine, Table], tmp_path: Path
) -> None:
    engine, table = system
    # A clock with sub-millisecond digits, as the wall clock has: our stamps are ours alone.
    clock = ManualClock(
        start=datetime(2026, 5, 1, 9, 0, 0, 123457, tzinfo=UTC),
        step=timedelta(microseconds=1001),
    )
    source = SqlConnector(
        "erp1", "sqlite://", [SPEC], clock, engine=_source_with_companies(tmp_path, 250)
    )
    target = _CountingConnector("erp2", "sqlite://", [SPEC], clock, engine=engine)
    run_sync(sqlite_store, source, PROFILE, clock, batch_size=100)
    run_sync(sqlite_store, target, PROFILE, clock, batch_size=100)  # creates all 250 in erp2
    with engine.begin() as conn:
        assert len(conn.execute(table.select()).fetchall()) == 250
    target.records_read = 0
    # An import into erp2 that kept its rows' old modified times: erp2 had nothing to read
    # before our push, so the next read still reads everything, but ours.
    with engine.begin() as conn:
        conn.execute(
            insert(table).values(
                CODE="OLD1", NAME="Imported", ACTIVE="Y", MODIFIED=datetime(2025, 1, 1)
            )
        )

    plan = run_sync(sqlite_store, target, PROFILE, clock, batch_size=100)
    assert target.records_read == 1  # the 250 rows are as our push left them
    assert plan.count("hub", "company", "create") == 1
    target.records_read = 0
    assert run_sync(sqlite_store, target, PROFILE, clock, batch_size=100).writes == 0
    assert target.records_read == 0

    # Somebody edits one of them a minute later, by a clock 30 seconds behind ours.
    clock.advance(timedelta(minutes=1))
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c["CODE"] == "C7")
            .values(NAME="Edited in erp2", MODIFIED=datetime(2026, 5, 1, 9, 0, 30, 250001))
        )
        key = str(conn.execute(table.select().where(table.c["CODE"] == "C7")).one().ID)
    run_sync(sqlite_store, target, PROFILE, clock, batch_size=100)
    assert target.records_read == 1
    assert _hub_name(sqlite_store, "erp2", key) == "Edited in erp2"
    source.close()
    target.close()


def test_on_a_coarse_clock_an_edit_in_the_same_tick_as_our_write_is_still_read(
    sqlite_store: HubStore, system: tuple[Engine, Table], tmp_path: Path
) -> None:
    engine, table = system
    clock = ManualClock(start=datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC))  # whole seconds
    source = SqlConnector(
        "erp1", "sqlite://", [SPEC], clock, engine=_source_with_companies(tmp_path, 30)
    )
    target = _CountingConnector("erp2", "sqlite://", [SPEC], clock, engine=engine)
    run_sync(sqlite_store, source, PROFILE, clock)
    run_sync(sqlite_store, target, PROFILE, clock)
    # An edit stamped in the very tick of our write: only the values tell it apart.
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c["CODE"] == "C3")
            .values(NAME="Same tick", MODIFIED=datetime(2026, 5, 1, 9, 0, 0))
        )
        key = str(conn.execute(table.select().where(table.c["CODE"] == "C3")).one().ID)
    target.records_read = 0
    run_sync(sqlite_store, target, PROFILE, clock)
    assert target.records_read == 30  # nothing is skipped on the strength of a coarse stamp
    assert _hub_name(sqlite_store, "erp2", key) == "Same tick"
    source.close()
    target.close()

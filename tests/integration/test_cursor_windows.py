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
from accord.store.database import make_engine
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


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[Engine, Table]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'erp.db'}")
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

"""Change detection against SQL systems: shared modified times and skewed clocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError as PydanticError
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
    select,
    update,
)

from accord.clock import ManualClock
from accord.config import SystemConfig
from accord.connectors.base import Operation
from accord.connectors.sql import SqlConnector
from accord.connectors.sql_tables import TableSpec
from accord.errors import ConfigError
from accord.mapping.profile import ConflictPolicy, EntityMap, FieldMap, Profile
from accord.service.records import edit_record
from accord.store import HubStore, links, records
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
    """Counts the records reads hand to the engine, and the rows its pages fetch."""

    records_read = 0
    rows_fetched = 0

    def read_changes(self, entity: str, cursor: str | None, batch_size: int) -> Iterator[Any]:
        for batch in super().read_changes(entity, cursor, batch_size):
            self.records_read += len(batch.records)
            yield batch

    def _pages(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for rows in super()._pages(*args, **kwargs):
            self.rows_fetched += len(rows)
            yield rows


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
        # And one with no modified time at all.
        conn.execute(insert(table).values(CODE="NUL1", NAME="Unstamped", ACTIVE="Y"))

    target.rows_fetched = 0
    plan = run_sync(sqlite_store, target, PROFILE, clock, batch_size=100)
    assert target.records_read == 2  # the 250 rows are as our push left them
    # ... and the database leaves them out: only the two imported rows are fetched.
    assert target.rows_fetched == 2
    assert plan.count("hub", "company", "create") == 2
    target.records_read = target.rows_fetched = 0
    assert run_sync(sqlite_store, target, PROFILE, clock, batch_size=100).writes == 0
    assert target.records_read == 0 and target.rows_fetched == 0

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


# -- time zones of naive stamps -----------------------------------------------------------
# Exo stamps LAST_UPDATED with its server's local time. In January, Auckland is UTC+13.
NZ = "Pacific/Auckland"


def _only_company(store: HubStore) -> int:
    with store.transaction() as conn:
        ((_, hub_id),) = list(links.external_ids(conn, "erp", "company"))
    return hub_id


def test_naive_stamps_are_read_and_written_in_the_system_time_zone(
    clock: ManualClock, system: tuple[Engine, Table]
) -> None:
    engine, table = system
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            {"CODE": "C1", "NAME": "Acme", "ACTIVE": "Y", "MODIFIED": datetime(2026, 1, 10, 9)},
        )
    connector = SqlConnector("erp", "sqlite://", [SPEC], clock, engine=engine, time_zone=NZ)
    ((record,), *_) = [b.records for b in connector.read_changes("companies", None, 10)]
    assert record.modified_at == "2026-01-09T20:00:00.000000Z"  # 09:00 NZDT
    clock.set(datetime(2026, 1, 9, 21, 0, 0, 123456, tzinfo=UTC))
    (result,) = connector.apply("companies", [_rename(record.key, "Acme Ltd")])
    assert result.ok and result.modified_at == "2026-01-09T21:00:00.123456Z"
    with engine.connect() as conn:
        stored = conn.execute(select(table.c.MODIFIED)).scalar_one()
    assert stored == datetime(2026, 1, 10, 10, 0, 0, 123456)  # as the ERP's own writes


def _rename(key: str, name: str) -> Operation:
    return Operation("update", key, {"NAME": name})


def test_record_lww_compares_erp_local_stamps_with_hub_edits_in_real_time(
    sqlite_store: HubStore, clock: ManualClock, system: tuple[Engine, Table]
) -> None:
    """An ERP edit at 09:00 NZDT (20:00 UTC) is older than a hub edit at 21:00 UTC.

    Read as UTC, the ERP's 09:00 would be 13 hours newer and overwrite the hub's edit.
    """
    engine, table = system
    profile = Profile(
        "t", [replace(PROFILE.entities[0], conflict=ConflictPolicy(rule="record_lww"))]
    )
    connector = SqlConnector("erp", "sqlite://", [SPEC], clock, engine=engine, time_zone=NZ)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            {"CODE": "C1", "NAME": "Acme", "ACTIVE": "Y", "MODIFIED": datetime(2026, 1, 10, 7)},
        )
    clock.set(datetime(2026, 1, 9, 19, 0, tzinfo=UTC))
    run_sync(sqlite_store, connector, profile, clock)
    hub_id = _only_company(sqlite_store)
    with engine.begin() as conn:  # the office edits at 09:00 local
        conn.execute(update(table).values(NAME="Acme Office", MODIFIED=datetime(2026, 1, 10, 9)))
    clock.set(datetime(2026, 1, 9, 21, 0, tzinfo=UTC))  # a sales rep edits an hour later
    edit_record(sqlite_store, hub_id, {"name": "Acme Sales"}, clock=clock)
    run_sync(sqlite_store, connector, profile, clock)
    with sqlite_store.transaction() as conn:
        hub = records.get(conn, hub_id)
    assert hub is not None and hub.data["name"] == "Acme Sales"
    with engine.connect() as conn:
        assert conn.execute(select(table.c.NAME)).scalar_one() == "Acme Sales"


def test_a_changed_time_zone_setting_keeps_the_cursor_where_it_was(
    sqlite_store: HubStore, clock: ManualClock, system: tuple[Engine, Table]
) -> None:
    """A cursor remembers the zone it was written under; switching UTC -> Auckland must
    not move it 13 hours on and skip the edits made meanwhile."""
    engine, table = system
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            {"CODE": "C1", "NAME": "Acme", "ACTIVE": "Y", "MODIFIED": datetime(2026, 1, 10, 7)},
        )
    clock.set(datetime(2026, 1, 9, 19, 0, tzinfo=UTC))
    as_utc = SqlConnector("erp", "sqlite://", [SPEC], clock, engine=engine)
    run_sync(sqlite_store, as_utc, PROFILE, clock)
    with engine.begin() as conn:  # stamped two hours after the row the cursor stands on
        conn.execute(update(table).values(NAME="Acme Two", MODIFIED=datetime(2026, 1, 10, 9)))
    local = SqlConnector("erp", "sqlite://", [SPEC], clock, engine=engine, time_zone=NZ)
    clock.set(datetime(2026, 1, 9, 21, 0, tzinfo=UTC))
    run_sync(sqlite_store, local, PROFILE, clock)
    hub_id = _only_company(sqlite_store)
    with sqlite_store.transaction() as conn:
        hub = records.get(conn, hub_id)
    assert hub is not None and hub.data["name"] == "Acme Two"


def test_an_unknown_time_zone_is_refused_naming_the_setting(
    system: tuple[Engine, Table],
) -> None:
    engine, _ = system
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Base'") as caught:
        SqlConnector("erp", "sqlite://", [SPEC], engine=engine, time_zone="Mars/Base")
    assert caught.value.field == "time_zone" and caught.value.system == "erp"
    with pytest.raises(PydanticError, match="unknown time zone"):
        SystemConfig(kind="sql", preset="exo", url="sqlite://", time_zone="Mars/Base")


def test_rows_stamped_without_fractions_by_another_program_are_all_read(
    clock: ManualClock, system: tuple[Engine, Table]
) -> None:
    """SQLite keeps date-times as text: CURRENT_TIMESTAMP writes '2026-05-01 09:00:00',
    which sorts before the '2026-05-01 09:00:00.000000' SQLAlchemy binds. A page ending
    inside such a second must not skip the rest of it."""
    engine, _ = system
    _stamp_without_fractions(engine, [(f"C{i}", f"Company {i}") for i in range(250)])
    connector = SqlConnector("erp", "sqlite://", [SPEC], clock, engine=engine)
    batches = list(connector.read_changes("companies", None, 100))
    assert [len(b.records) for b in batches] == [100, 100, 50]
    assert len({r.key for b in batches for r in b.records}) == 250
    # Read on from where the pages left off: nothing new, nothing missed since.
    _stamp_without_fractions(engine, [("LATE", "Late")])
    later = list(connector.read_changes("companies", batches[-1].cursor, 100))
    assert "LATE" in {r.values["CODE"] for b in later for r in b.records}


def test_a_cursor_without_overlap_continues_inside_a_second_stored_without_fractions(
    clock: ManualClock, system: tuple[Engine, Table]
) -> None:
    engine, _ = system
    _stamp_without_fractions(engine, [(f"C{i}", f"Company {i}") for i in range(250)])
    exact = replace(SPEC, overlap_seconds=0)
    connector = SqlConnector("erp", "sqlite://", [exact], clock, engine=engine)
    first = next(iter(connector.read_changes("companies", None, 100)))
    rest = list(connector.read_changes("companies", first.cursor, 100))
    keys = [r.key for r in first.records] + [r.key for b in rest for r in b.records]
    assert len(keys) == len(set(keys)) == 250


def _stamp_without_fractions(engine: Engine, rows: list[tuple[str, str]]) -> None:
    """Companies inserted as another program does, stamped by CURRENT_TIMESTAMP's format."""
    with engine.begin() as conn:
        for code, name in rows:
            conn.exec_driver_sql(
                "INSERT INTO COMPANIES (CODE, NAME, ACTIVE, MODIFIED)"
                " VALUES (?, ?, 'Y', '2026-05-01 09:00:00')",
                (code, name),
            )


def test_an_edit_in_the_hour_repeated_when_daylight_saving_ends_is_read(
    clock: ManualClock, system: tuple[Engine, Table]
) -> None:
    """On 5 April 2026 Auckland's clocks go back from 03:00 NZDT to 02:00 NZST. An edit
    at 02:10 in the second pass is stamped (naive, local) before a row stamped 02:50 in
    the first pass: the read after must reach back past the hour, not only the overlap."""
    engine, table = system
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {
                    "CODE": "C1",
                    "NAME": "Ann",
                    "ACTIVE": "Y",
                    "MODIFIED": datetime(2026, 4, 5, 2, 50),
                },
                {"CODE": "C2", "NAME": "Bob", "ACTIVE": "Y", "MODIFIED": datetime(2026, 4, 5, 1)},
            ],
        )
    connector = SqlConnector("erp", "sqlite://", [SPEC], clock, engine=engine, time_zone=NZ)
    cursor = None
    for batch in connector.read_changes("companies", None, 10):
        cursor = batch.cursor or cursor
    with engine.begin() as conn:  # twenty minutes later, after the clocks went back
        conn.execute(
            update(table)
            .where(table.c.CODE == "C2")
            .values(NAME="Robert", MODIFIED=datetime(2026, 4, 5, 2, 10))
        )
    read = [
        r.values["NAME"] for b in connector.read_changes("companies", cursor, 10) for r in b.records
    ]
    assert "Robert" in read


class _EditBeforeTheTail(_CountingConnector):
    """Runs ``edit`` when a read past our own rows looks for the last of them: somebody's
    write landing between the read's pages and its last step."""

    edit: Callable[[], None] | None = None

    def _last_row(self, *args: Any, **kwargs: Any) -> Any:
        if self.edit is not None:
            self.edit()
            self.edit = None
        return super()._last_row(*args, **kwargs)


def test_a_read_moving_past_our_own_rows_does_not_skip_an_edit_made_meanwhile(
    sqlite_store: HubStore, system: tuple[Engine, Table], tmp_path: Path
) -> None:
    engine, table = system
    clock = ManualClock(
        start=datetime(2026, 5, 1, 9, 0, 0, 123457, tzinfo=UTC),
        step=timedelta(microseconds=1001),
    )
    exact = replace(SPEC, overlap_seconds=0)  # no window to catch it again by chance
    source = SqlConnector(
        "erp1", "sqlite://", [exact], clock, engine=_source_with_companies(tmp_path, 120)
    )
    target = _EditBeforeTheTail("erp2", "sqlite://", [exact], clock, engine=engine)
    run_sync(sqlite_store, source, PROFILE, clock, batch_size=50)
    run_sync(sqlite_store, target, PROFILE, clock, batch_size=50)  # our 120 rows in erp2

    def edit() -> None:
        with engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c["CODE"] == "C7")
                .values(NAME="Edited meanwhile", MODIFIED=datetime(2026, 5, 1, 9, 5))
            )

    target.edit = edit
    run_sync(sqlite_store, target, PROFILE, clock, batch_size=50)
    assert target.edit is None  # the edit was made during that read
    with engine.connect() as conn:
        key = str(conn.execute(table.select().where(table.c["CODE"] == "C7")).one().ID)
    run_sync(sqlite_store, target, PROFILE, clock, batch_size=50)
    assert _hub_name(sqlite_store, "erp2", key) == "Edited meanwhile"
    source.close()
    target.close()


def test_a_row_stamped_in_the_future_does_not_pin_the_cursor_before_our_rows(
    sqlite_store: HubStore, system: tuple[Engine, Table], tmp_path: Path
) -> None:
    import json

    from accord.store import bookkeeping

    engine, table = system
    clock = ManualClock(
        start=datetime(2026, 5, 1, 9, 0, 0, 123457, tzinfo=UTC),
        step=timedelta(microseconds=1001),
    )
    source = SqlConnector(
        "erp1", "sqlite://", [SPEC], clock, engine=_source_with_companies(tmp_path, 120)
    )
    target = _CountingConnector("erp2", "sqlite://", [SPEC], clock, engine=engine)
    run_sync(sqlite_store, source, PROFILE, clock, batch_size=50)
    with engine.begin() as conn:  # a typo in an import: stamped in 2099
        conn.execute(
            insert(table).values(
                CODE="F1", NAME="Future", ACTIVE="Y", MODIFIED=datetime(2099, 1, 1)
            )
        )
    run_sync(sqlite_store, target, PROFILE, clock, batch_size=50)  # our 120 rows in erp2
    for _ in range(2):
        run_sync(sqlite_store, target, PROFILE, clock, batch_size=50)
    with engine.connect() as conn:
        last_own = conn.execute(
            select(table.c.MODIFIED).where(table.c.CODE != "F1").order_by(table.c.MODIFIED.desc())
        ).first()[0]
    with sqlite_store.reading() as conn:
        cursor, _ = bookkeeping.get_cursor(conn, "erp2", "company")
    data = json.loads(cursor)
    assert data["t"] is not None and data["t"] >= last_own.isoformat(), data

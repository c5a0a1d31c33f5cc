"""The hub's bulk writer stores exactly what SQLAlchemy's own executemany would."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select, update

from accord.store import HubStore, records
from accord.store.bulk import insert_many, update_many
from accord.store.records import StaleRecordError
from accord.store.schema import links
from accord.store.types import HubRecord, RecordWrite

AT = "2026-01-02T03:04:05.000006Z"


def _link(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "system": "erp",
        "entity": "person",
        "external_id": f"K{n}",
        "hub_id": n,
        "state": "active",
        "base": {"name": f"Näme {n}", "phone": None, "tags": ["a", 1, True]},
        "base_version": None,
        "held": [],
        "marker": None,
        "sending": None,
        "updated_at": AT,
    }
    return {**row, **changes}


def _stored(store: HubStore) -> list[tuple[Any, ...]]:
    with store.reading() as conn:
        columns = [c for c in links.c if c.name != "id"]
        return [tuple(r) for r in conn.execute(select(*columns).order_by(links.c.hub_id))]


def _raw(store: HubStore, column: str) -> list[Any]:
    """The column as the database holds it (JSON as text), not decoded."""
    with store.reading() as conn:
        sql = f"SELECT {column} FROM links ORDER BY hub_id"
        return [row[0] for row in conn.exec_driver_sql(sql)]


def test_insert_many_stores_what_sqlalchemy_stores(store: HubStore) -> None:
    rows = [_link(1), _link(2, sending={"name": "x"}, held=["name"]), _link(3, state="pending")]
    with store.transaction() as conn:
        insert_many(conn, links, rows)
    ours, ours_raw = _stored(store), _raw(store, "sending")
    with store.transaction() as conn:
        conn.execute(links.delete())
        conn.execute(insert(links), rows)
    assert _stored(store) == ours
    # A None in a none-as-null JSON column is SQL NULL, not the JSON text null.
    assert _raw(store, "sending") == ours_raw
    assert ours_raw[0] is None and ours_raw[2] is None
    assert ours[1][8] == {"name": "x"}
    assert ours[0][5] == {"name": "Näme 1", "phone": None, "tags": ["a", 1, True]}


def test_update_many_changes_each_row_by_its_key(store: HubStore) -> None:
    with store.transaction() as conn:
        insert_many(conn, links, [_link(n) for n in range(1, 5)])
        ids = {r.hub_id: r.id for r in conn.execute(select(links.c.hub_id, links.c.id))}
    with store.transaction() as conn:
        update_many(
            conn,
            links,
            ("id",),
            [
                ({"state": "tombstone", "base": {"name": "two"}, "sending": None}, (ids[2],)),
                ({"state": "active", "base": {}, "sending": {"phone": "+64"}}, (ids[4],)),
            ],
        )
    rows = {r[3]: r for r in _stored(store)}
    assert (rows[2][4], rows[2][5], rows[2][8]) == ("tombstone", {"name": "two"}, None)
    assert (rows[4][4], rows[4][5], rows[4][8]) == ("active", {}, {"phone": "+64"})
    for untouched in (1, 3):  # rows not named keep their values
        assert (rows[untouched][4], rows[untouched][5]["name"]) == ("active", f"Näme {untouched}")


def test_an_unknown_column_is_named(store: HubStore) -> None:
    with pytest.raises(ValueError, match="nickname"), store.transaction() as conn:
        insert_many(conn, links, [_link(1, nickname="Bob")])


def test_sqlalchemy_update_path_agrees(sqlite_store: HubStore) -> None:
    """The same update through SQLAlchemy leaves the same row as update_many."""
    with sqlite_store.transaction() as conn:
        insert_many(conn, links, [_link(1), _link(2)])
        first, second = [r.id for r in conn.execute(select(links.c.id).order_by(links.c.id))]
        change = {"state": "tombstone", "base": {"name": None}, "sending": {"a": [1]}}
        update_many(conn, links, ("id",), [(change, (first,))])
        conn.execute(update(links).where(links.c.id == second).values(**change))
    one, two = _stored(sqlite_store)
    assert one[4:] == two[4:]


def _create(record_id: int, name: str) -> RecordWrite:
    data = {"name": name, "code": f"C{record_id}"}
    return RecordWrite(record_id, "company", "create", {}, "erp", AT, data, {"*": ["erp", 1, AT]})


def _rename(record: HubRecord, name: str, expected: int | None) -> RecordWrite:
    data = {**record.data, "name": name}
    return RecordWrite(
        record.id, "company", "update", {"name": [record.data["name"], name]}, "erp", AT,
        data, record.provenance, expected_seq=expected,
    )  # fmt: skip


def test_many_updates_check_each_records_sequence_number(store: HubStore) -> None:
    with store.transaction() as conn:
        records.apply_writes(conn, [_create(n, f"Firm {n}") for n in (1, 2, 3)], None, AT)
        now = records.get_many(conn, [1, 2, 3])
    # Every sequence number as read: all three change, in one go.
    with store.transaction() as conn:
        renames = [_rename(now[n], f"Renamed {n}", now[n].seq) for n in (1, 2, 3)]
        records.apply_writes(conn, renames, None, AT)
    with store.reading() as conn:
        after = records.get_many(conn, [1, 2, 3])
    assert [after[n].data["name"] for n in (1, 2, 3)] == ["Renamed 1", "Renamed 2", "Renamed 3"]
    assert all(after[n].seq > now[n].seq for n in (1, 2, 3))
    # Record 2 read before that change: the whole write is refused, naming record 2.
    stale = [_rename(after[1], "Again 1", after[1].seq), _rename(now[2], "Old 2", now[2].seq)]
    with pytest.raises(StaleRecordError) as refused, store.transaction() as conn:
        records.apply_writes(conn, stale, None, AT)
    assert refused.value.key == "2" and refused.value.entity == "company"
    with store.reading() as conn:
        kept = records.get_many(conn, [1, 2])
    assert [kept[1].data["name"], kept[2].data["name"]] == ["Renamed 1", "Renamed 2"]
    # An update without a sequence number to check (an operator's restore) always goes.
    with store.transaction() as conn:
        records.apply_writes(conn, [_rename(kept[2], "Forced 2", None)], None, AT)
    with store.reading() as conn:
        assert records.get_many(conn, [2])[2].data["name"] == "Forced 2"


def test_json_documents_that_are_bare_values_read_back_as_written(store: HubStore) -> None:
    # A held conflict of a numeric field keeps bare numbers; settings keep counters. SQLite
    # stores a JSON column's "5" as the number 5, which a JSON decoder refuses.
    from accord.store import bookkeeping
    from accord.store.types import ConflictEntry

    values: list[Any] = [5, 2.5, 0, -3, True, None, "12", "text", [1, "a"], {"k": 1.5}]
    with store.transaction() as conn:
        for n, value in enumerate(values):
            bookkeeping.set_setting(conn, f"test.value.{n}", value if value is not None else [])
        bookkeeping.add_conflicts(
            conn,
            [
                ConflictEntry(
                    "erp", "company", 1, "7", "credit_limit", 100, 250, 300,
                    None, None, "hold", None, "both changed",
                )
            ],
            None,
            "2026-12-02T00:00:00.000000Z",
        )  # fmt: skip
    with store.transaction() as conn:
        read = [bookkeeping.get_setting(conn, f"test.value.{n}") for n in range(len(values))]
        (conflict,) = bookkeeping.open_conflicts(conn)
    assert read == [v if v is not None else [] for v in values]
    assert (conflict.base_value, conflict.hub_value, conflict.system_value) == (100, 250, 300)

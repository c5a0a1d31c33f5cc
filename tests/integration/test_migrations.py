"""Alembic migrations on SQLite and PostgreSQL: what they build is what the code declares,
and a hub made by an earlier revision keeps its data through an upgrade."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, select, text

from accord.store import exact_schema, people_schema, schema, web_schema
from accord.store.database import alembic_config, make_engine, migrate


def _differences(url: str, metadata: MetaData) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    mine = set(metadata.tables)
    return [d for d in found if _table_of(d) in mine]


def _table_of(difference: Any) -> str | None:
    if isinstance(difference, list):  # column modifications: [(op, schema, table, ...)]
        return str(difference[0][2])
    item = difference[1]
    table = getattr(item, "table", item)
    return str(getattr(table, "name", None))


def test_the_migrations_build_the_tables_the_code_declares(hub_url: str) -> None:
    engine = make_engine(hub_url)
    migrate(engine)
    engine.dispose()
    for declared in (schema, web_schema, exact_schema, people_schema):
        assert _differences(hub_url, declared.metadata) == [], declared.__name__


def test_transactions_posted_before_shop_days_keep_their_utc_date(hub_url: str) -> None:
    engine = make_engine(hub_url)
    command.upgrade(alembic_config(engine), "0002_web")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pos_transactions"
                " (record_id, number, kind, amount_cents, points, at, created_at)"
                " VALUES (1, 'OLD-1', 'sale', 500, 5, :at, :at)"
            ),
            {"at": "2026-03-01T20:00:00.000000Z"},
        )
    migrate(engine)
    t = web_schema.transactions
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.number, t.c.local_date)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("OLD-1", "2026-03-01")]


def test_people_written_before_the_company_column_are_found_by_their_company(
    hub_url: str,
) -> None:
    engine = make_engine(hub_url)
    command.upgrade(alembic_config(engine), "0001")
    people = {1: {"company": 7, "is_primary": True}, 2: {"company": None}, 3: {}}
    with engine.begin() as conn:
        for record_id, data in [*people.items(), (7, {"name": "Tane Ltd"})]:
            conn.execute(
                schema.records.insert().values(
                    id=record_id,
                    entity="company" if record_id == 7 else "person",
                    data=data,
                    provenance={},
                    label="",
                    active=True,
                    deleted=False,
                    seq=record_id,
                    changed_at="2026-03-01T20:00:00.000000Z",
                    created_at="2026-03-01T20:00:00.000000Z",
                    updated_at="2026-03-01T20:00:00.000000Z",
                )
            )
    migrate(engine)
    r = schema.records
    with engine.connect() as conn:
        rows = conn.execute(select(r.c.id, r.c.company).order_by(r.c.id)).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(1, 7), (2, None), (3, None), (7, None)]

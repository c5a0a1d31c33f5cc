"""Links between hub records and outside records, with the base (last agreed state)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from accord.store.bulk import insert_many, update_many
from accord.store.records import _chunks
from accord.store.schema import links
from accord.store.types import Link

_ACTIVE = links.c.state == "active"


def _row_to_link(row: Any) -> Link:
    return Link(
        id=row.id,
        system=row.system,
        entity=row.entity,
        external_id=row.external_id,
        hub_id=row.hub_id,
        state=row.state,
        base=dict(row.base),
        base_version=row.base_version,
        held=list(row.held),
        marker=row.marker,
        sending=dict(row.sending) if row.sending is not None else None,
    )


def _rows_in(
    conn: Connection,
    columns: Sequence[Any],
    system: str,
    entity: str,
    column: Any,
    keys: Iterable[Any],
    *conditions: Any,
) -> Iterator[Any]:
    """Rows of one system's links of one entity whose ``column`` is among ``keys``."""
    for chunk in _chunks(sorted(set(keys)), 900):
        yield from conn.execute(
            select(*columns).where(
                links.c.system == system,
                links.c.entity == entity,
                column.in_(chunk),
                *conditions,
            )
        )


def by_external(
    conn: Connection, system: str, entity: str, external_ids: Iterable[str]
) -> dict[str, Link]:
    rows = _rows_in(conn, [links], system, entity, links.c.external_id, external_ids)
    return {row.external_id: _row_to_link(row) for row in rows}


def hub_ids_by_external(
    conn: Connection, system: str, entity: str, external_ids: Iterable[str]
) -> dict[str, int]:
    """The hub record of each link (in any state) holding one of these external ids."""
    columns = [links.c.external_id, links.c.hub_id]
    rows = _rows_in(conn, columns, system, entity, links.c.external_id, external_ids)
    return {row.external_id: row.hub_id for row in rows}


def by_hub(conn: Connection, system: str, entity: str, hub_ids: Iterable[int]) -> dict[int, Link]:
    rows = _rows_in(conn, [links], system, entity, links.c.hub_id, hub_ids)
    return {row.hub_id: _row_to_link(row) for row in rows}


def versions(
    conn: Connection, system: str, entity: str, external_ids: Iterable[str]
) -> dict[str, str]:
    """The base version of each active link with these external ids."""
    columns = [links.c.external_id, links.c.base_version]
    rows = _rows_in(conn, columns, system, entity, links.c.external_id, external_ids, _ACTIVE)
    return {row.external_id: row.base_version for row in rows if row.base_version}


def key_pairs(
    conn: Connection,
    system: str,
    entity: str,
    *,
    hub_ids: Iterable[int] = (),
    external_ids: Iterable[str] = (),
) -> list[tuple[str, int]]:
    """(external id, hub id) of active links, looked up either way; no base is decoded."""
    column, keys = (links.c.hub_id, hub_ids) if hub_ids else (links.c.external_id, external_ids)
    columns = [links.c.external_id, links.c.hub_id]
    rows = _rows_in(conn, columns, system, entity, column, keys, _ACTIVE)
    return [(row.external_id, row.hub_id) for row in rows]


def pending(conn: Connection, system: str, entity: str) -> list[Link]:
    rows = conn.execute(
        select(links).where(
            and_(links.c.system == system, links.c.entity == entity, links.c.state == "pending")
        )
    )
    return [_row_to_link(r) for r in rows]


def pending_by_markers(
    conn: Connection, system: str, entity: str, markers: Iterable[str]
) -> dict[str, Link]:
    """Pending creates to ``system`` carrying these idempotency markers."""
    pending = links.c.state == "pending"
    rows = _rows_in(conn, [links], system, entity, links.c.marker, markers, pending)
    return {row.marker: _row_to_link(row) for row in rows}


def count_active(conn: Connection, system: str, entity: str | None = None) -> int:
    """Live links of a system (of one entity, or of all)."""
    query = select(func.count()).where(links.c.system == system, _ACTIVE)
    if entity is not None:
        query = query.where(links.c.entity == entity)
    return int(conn.execute(query).scalar_one())


def external_ids(conn: Connection, system: str, entity: str) -> Iterator[tuple[str, int]]:
    """Every live link's (external id, hub id), for detecting records deleted outside."""
    rows = conn.execute(
        select(links.c.external_id, links.c.hub_id).where(
            and_(links.c.system == system, links.c.entity == entity, links.c.state == "active")
        )
    )
    for row in rows:
        yield row.external_id, row.hub_id


def external_ids_ending(
    conn: Connection, system: str, entity: str, suffixes: Iterable[str]
) -> list[str]:
    """Live links' external ids that end with one of ``suffixes`` (groups of a parent)."""
    found: list[str] = []
    # Two hundred LIKEs per statement: SQLite parses a chain of ORs as a tree that deep.
    for chunk in _chunks(sorted(set(suffixes)), 200):
        ending = or_(*(links.c.external_id.endswith(s, autoescape=True) for s in chunk))
        rows = conn.execute(
            select(links.c.external_id).where(
                links.c.system == system, links.c.entity == entity, _ACTIVE, ending
            )
        )
        found += [row.external_id for row in rows]
    return found


def save(conn: Connection, items: Sequence[Link], at: str) -> None:
    """Insert new links and update the others, each in one executemany statement.

    New links get their ids (so the caller can keep working with them): on SQLite the
    next ones after the highest, since the write transaction holds the database's only
    write lock and nobody else can take them (reading them back cost a twentieth of a
    first load); elsewhere looked up by hub id, unique per system and entity.

    A saved link keeps its hub record: only a merge moves a link (``people.repoint_link``),
    and a run that read the link before a merge moved it must not move it back (what the
    run agreed with the system is still the system record's base).
    """
    new = [link for link in items if link.id is None]
    old = [link for link in items if link.id is not None]
    if new and conn.dialect.name == "sqlite":
        top = int(conn.execute(select(func.max(links.c.id))).scalar_one() or 0)
        for offset, link in enumerate(new, 1):
            link.id = top + offset
        insert_many(conn, links, [{"id": link.id, **_values(link, at)} for link in new])
    elif new:
        insert_many(conn, links, [_values(link, at) for link in new])
        by_entity: dict[tuple[str, str], list[Link]] = {}
        for link in new:
            by_entity.setdefault((link.system, link.entity), []).append(link)
        for (system, entity), group in by_entity.items():
            ids = _ids_by_hub(conn, system, entity, [link.hub_id for link in group])
            for link in group:
                link.id = ids[link.hub_id]
    if old:
        update_many(conn, links, ("id",), [(_changes(link, at), (link.id,)) for link in old])


def _ids_by_hub(conn: Connection, system: str, entity: str, hub_ids: list[int]) -> dict[int, int]:
    rows = _rows_in(conn, [links.c.id, links.c.hub_id], system, entity, links.c.hub_id, hub_ids)
    return {row.hub_id: row.id for row in rows}


def release_external_ids(conn: Connection, system: str, entity: str, keys: Sequence[str]) -> None:
    """Detach retired links from keys the system now uses for new records.

    A system that reuses keys (SQLite rowids, some ERPs) can give a deleted record's key
    to a new one; the retired link keeps its hub record, without the key.
    """
    for chunk in _chunks(sorted(set(keys)), 900):
        conn.execute(
            update(links)
            .where(
                and_(
                    links.c.system == system,
                    links.c.entity == entity,
                    links.c.state == "tombstone",
                    links.c.external_id.in_(chunk),
                )
            )
            .values(external_id=None)
        )


def _values(link: Link, at: str) -> dict[str, Any]:
    return {
        "system": link.system,
        "entity": link.entity,
        "hub_id": link.hub_id,
        **_changes(link, at),
    }


def _changes(link: Link, at: str) -> dict[str, Any]:
    """The columns a saved link may change: not whose link it is."""
    return {
        "external_id": link.external_id,
        "state": link.state,
        "base": link.base,
        "base_version": link.base_version,
        "held": link.held,
        "marker": link.marker,
        "sending": link.sending,
        "updated_at": at,
    }

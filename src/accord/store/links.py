"""Links between hub records and outside records, with the base (last agreed state)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from accord.store.records import _chunks
from accord.store.schema import links
from accord.store.types import Link


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
    )


def by_external(
    conn: Connection, system: str, entity: str, external_ids: Iterable[str]
) -> dict[str, Link]:
    found: dict[str, Link] = {}
    for chunk in _chunks(sorted(set(external_ids)), 900):
        rows = conn.execute(
            select(links).where(
                and_(
                    links.c.system == system,
                    links.c.entity == entity,
                    links.c.external_id.in_(chunk),
                )
            )
        )
        for row in rows:
            found[row.external_id] = _row_to_link(row)
    return found


def by_hub(conn: Connection, system: str, entity: str, hub_ids: Iterable[int]) -> dict[int, Link]:
    found: dict[int, Link] = {}
    for chunk in _chunks(sorted(set(hub_ids)), 900):
        rows = conn.execute(
            select(links).where(
                and_(links.c.system == system, links.c.entity == entity, links.c.hub_id.in_(chunk))
            )
        )
        for row in rows:
            found[row.hub_id] = _row_to_link(row)
    return found


def for_record(conn: Connection, hub_id: int) -> list[Link]:
    return [_row_to_link(r) for r in conn.execute(select(links).where(links.c.hub_id == hub_id))]


def pending(conn: Connection, system: str, entity: str) -> list[Link]:
    rows = conn.execute(
        select(links).where(
            and_(links.c.system == system, links.c.entity == entity, links.c.state == "pending")
        )
    )
    return [_row_to_link(r) for r in rows]


def external_ids(conn: Connection, system: str, entity: str) -> Iterator[tuple[str, int]]:
    """Every live link's (external id, hub id), for detecting records deleted outside."""
    rows = conn.execute(
        select(links.c.external_id, links.c.hub_id).where(
            and_(links.c.system == system, links.c.entity == entity, links.c.state == "active")
        )
    )
    for row in rows:
        yield row.external_id, row.hub_id


def save(conn: Connection, items: Sequence[Link], at: str) -> None:
    """Insert new links (id None) in one statement, update the others one by one."""
    new = [link for link in items if link.id is None]
    if new:
        conn.execute(insert(links), [_values(link, at) for link in new])
    for link in items:
        if link.id is not None:
            conn.execute(update(links).where(links.c.id == link.id).values(**_values(link, at)))


def insert_returning_id(conn: Connection, link: Link, at: str) -> int:
    result = conn.execute(insert(links).values(**_values(link, at)).returning(links.c.id))
    link.id = int(result.scalar_one())
    return link.id


def remove(conn: Connection, link_id: int) -> None:
    conn.execute(delete(links).where(links.c.id == link_id))


def _values(link: Link, at: str) -> dict[str, Any]:
    return {
        "system": link.system,
        "entity": link.entity,
        "external_id": link.external_id,
        "hub_id": link.hub_id,
        "state": link.state,
        "base": link.base,
        "base_version": link.base_version,
        "held": link.held,
        "marker": link.marker,
        "updated_at": at,
    }

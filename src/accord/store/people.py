"""Queries for people (S003): natural-person links, merges, card layouts, account lookups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from accord.store import web_schema
from accord.store.database import LIKE_ESCAPE, contains_pattern, folded
from accord.store.links import _row_to_link
from accord.store.people_schema import card_fields, merges, person_links
from accord.store.records import _chunks
from accord.store.schema import links, records
from accord.store.types import Link

ACCOUNT_ENTITIES = ("company", "person")
PHOTOS = str(web_schema.photos.name)


# -- natural persons -----------------------------------------------------------------------
def natural_persons(conn: Connection, record_ids: Iterable[int]) -> dict[int, int]:
    """record id -> natural person, for the records that are linked to one."""
    found: dict[int, int] = {}
    for chunk in _chunks(sorted(set(record_ids)), 900):
        rows = conn.execute(
            select(person_links.c.record_id, person_links.c.natural_person).where(
                person_links.c.record_id.in_(chunk)
            )
        )
        found.update({int(row.record_id): int(row.natural_person) for row in rows})
    return found


def members(conn: Connection, natural_person: int) -> list[int]:
    rows = conn.execute(
        select(person_links.c.record_id)
        .where(person_links.c.natural_person == natural_person)
        .order_by(person_links.c.record_id)
    )
    return [int(row.record_id) for row in rows]


def set_natural_person(
    conn: Connection, record_ids: Sequence[int], natural_person: int, at: str, actor: str
) -> None:
    unlink(conn, record_ids)
    conn.execute(
        insert(person_links),
        [
            {"record_id": rid, "natural_person": natural_person, "linked_at": at, "actor": actor}
            for rid in record_ids
        ],
    )


def unlink(conn: Connection, record_ids: Sequence[int]) -> None:
    for chunk in _chunks(sorted(set(record_ids)), 900):
        conn.execute(delete(person_links).where(person_links.c.record_id.in_(chunk)))


# -- links to outside systems ------------------------------------------------------------------
def links_of(conn: Connection, hub_id: int) -> list[Link]:
    """Every link of one hub record, in every system."""
    rows = conn.execute(select(links).where(links.c.hub_id == hub_id).order_by(links.c.id))
    return [_row_to_link(row) for row in rows]


def repoint_link(conn: Connection, link_id: int, hub_id: int, at: str) -> None:
    conn.execute(update(links).where(links.c.id == link_id).values(hub_id=hub_id, updated_at=at))


def remove_link(conn: Connection, link_id: int) -> None:
    conn.execute(delete(links).where(links.c.id == link_id))


# -- account lookups ---------------------------------------------------------------------------
def contacts_of(conn: Connection, company_id: int) -> list[int]:
    """Live person records whose company is ``company_id``."""
    rows = conn.execute(
        select(records.c.id)
        .where(
            records.c.entity == "person",
            records.c.deleted.is_(False),
            records.c.data["company"].as_integer() == company_id,
        )
        .order_by(records.c.id)
    )
    return [int(row.id) for row in rows]


def accounts_with_code(conn: Connection, code: str) -> list[int]:
    """Live accounts (companies and person accounts) whose code is ``code``, any case."""
    rows = conn.execute(
        select(records.c.id).where(
            records.c.entity.in_(ACCOUNT_ENTITIES),
            records.c.deleted.is_(False),
            folded(records.c.code) == code.lower(),
        )
    )
    return [int(row.id) for row in rows]


def accounts_with_value(conn: Connection, field: str, value: str) -> list[int]:
    """Live accounts whose data field ``field`` equals ``value`` (debtor, creditor codes)."""
    rows = conn.execute(
        select(records.c.id).where(
            records.c.entity.in_(ACCOUNT_ENTITIES),
            records.c.deleted.is_(False),
            records.c.data[field].as_string() == value,
        )
    )
    return [int(row.id) for row in rows]


# -- merges ------------------------------------------------------------------------------------
def add_merge(
    conn: Connection,
    entity: str,
    survivor_id: int,
    loser_id: int,
    choices: dict[str, int],
    outcome: dict[str, Any],
    actor: str,
    at: str,
) -> int:
    result = conn.execute(
        insert(merges)
        .values(
            entity=entity,
            survivor_id=survivor_id,
            loser_id=loser_id,
            choices=choices,
            outcome=outcome,
            actor=actor,
            at=at,
        )
        .returning(merges.c.id)
    )
    return int(result.scalar_one())


def merges_of(conn: Connection, record_id: int) -> list[Any]:
    """Merges this record took part in, oldest first."""
    return list(
        conn.execute(
            select(merges)
            .where((merges.c.survivor_id == record_id) | (merges.c.loser_id == record_id))
            .order_by(merges.c.id)
        )
    )


# -- card layouts ------------------------------------------------------------------------------
def card_rows(conn: Connection, entity: str, roles: Sequence[str]) -> list[Any]:
    return list(
        conn.execute(
            select(card_fields)
            .where(card_fields.c.entity == entity, card_fields.c.role.in_(roles))
            .order_by(card_fields.c.position, card_fields.c.field)
        )
    )


def replace_card(conn: Connection, entity: str, role: str, rows: Sequence[dict[str, Any]]) -> None:
    conn.execute(
        delete(card_fields).where(card_fields.c.entity == entity, card_fields.c.role == role)
    )
    if rows:
        conn.execute(insert(card_fields), [{"entity": entity, "role": role, **row} for row in rows])


# -- finding people ----------------------------------------------------------------------------
def search_people(
    conn: Connection, text: str, kind: str | None, limit: int, *, by_code: bool = True
) -> list[Any]:
    """Live person records whose name (label) or (``by_code``) code contains ``text``,
    any case."""
    query = select(records.c.id, records.c.data, records.c.label).where(
        records.c.entity == "person", records.c.deleted.is_(False)
    )
    if text.strip():
        pattern = contains_pattern(text.strip())
        found = [folded(records.c.label).like(pattern, escape=LIKE_ESCAPE)]
        if by_code:
            found.append(folded(records.c.code).like(pattern, escape=LIKE_ESCAPE))
        query = query.where(or_(*found))
    if kind:
        query = query.where(records.c.data["kind"].as_string() == kind)
    return list(conn.execute(query.order_by(records.c.label, records.c.id).limit(limit)))


def move_activity(conn: Connection, from_id: int, to_id: int) -> dict[str, int]:
    """Move a merged-away customer's sales, orders and credit history to the survivor;
    how many rows of each moved."""
    moved: dict[str, int] = {}
    for table in (web_schema.transactions, web_schema.orders, web_schema.credit_entries):
        result = conn.execute(
            update(table).where(table.c.record_id == from_id).values(record_id=to_id)
        )
        moved[str(table.name)] = result.rowcount
    return moved


def move_photo(conn: Connection, from_id: int, to_id: int) -> str | None:
    """Give ``from_id``'s photo to ``to_id`` in place of its own (a customer has one);
    the photo's digest, or None when ``from_id`` has none (nothing changes then)."""
    photos = web_schema.photos
    digest = conn.execute(
        select(photos.c.digest).where(photos.c.record_id == from_id)
    ).scalar_one_or_none()
    if digest is None:
        return None
    conn.execute(delete(photos).where(photos.c.record_id == to_id))
    conn.execute(update(photos).where(photos.c.record_id == from_id).values(record_id=to_id))
    return str(digest)

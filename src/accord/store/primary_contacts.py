"""One primary contact per company: the rule every write of a person's ``is_primary`` keeps.

An ERP marks THE primary contact of an account (Exo's ``DR_CONTACTS.DEFCONTACT``) and
resets the others when a new one is chosen. The hub does the same, wherever the choice is
made (an edit, a new contact, a merge, a pull): the company's other primary contacts lose
the flag in the same transaction, as journaled writes of their own, which the push then
sends on (Exo: ``DEFCONTACT='N'``). People without a company (person accounts) are left
alone.

Which contact keeps the flag when a company has several:
1. one made primary by these writes (the flag set, or created or restored with it); of
   several, the newest (the flag's origin time; a tie goes to the later write);
2. otherwise one that already was (newest first);
3. last, one that came from another company with its flag (a move is not a choice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from accord.store.schema import records
from accord.store.types import ALL_FIELDS, HUB, RecordWrite

FLAG = "is_primary"
CHOSEN, KEPT, MOVED = 2, 1, 0


def _claim(write: RecordWrite) -> int | None:
    """How a write makes its person a primary contact of a company (None: it does not)."""
    data = write.new_data
    if write.entity != "person" or write.deleted or data.get(FLAG) is not True:
        return None
    if data.get("company") is None:
        return None
    if write.kind in ("create", "restore") or FLAG in write.changes:
        return CHOSEN
    return MOVED if "company" in write.changes else None


def _flag_time(provenance: dict[str, Any]) -> str:
    entry = provenance.get(FLAG) or provenance.get(ALL_FIELDS)
    return str(entry[2]) if entry else ""


def demotions(
    conn: Connection, writes: Sequence[RecordWrite], run_id: int | None, at: str
) -> list[RecordWrite]:
    """The writes that take the flag from the other primary contacts of the companies
    ``writes`` (already applied) gave a primary contact. Journaled as the hub's own
    edits, by the actor of the write that chose the new one."""
    claims: dict[int, tuple[int, str, int]] = {}  # record id -> (rank, time, order)
    actors: dict[int, str | None] = {}  # company -> who chose
    for order, write in enumerate(writes):
        rank = _claim(write)
        if rank is not None:
            claims[write.record_id] = (rank, _flag_time(write.new_provenance), order)
            actors.setdefault(int(write.new_data["company"]), write.actor)
    if not claims:
        return []
    crowded = [ids for ids in _primaries_of(conn, sorted(actors)).values() if len(ids) > 1]
    if not crowded:
        return []  # the usual case: each company's new primary is its only one
    primaries: dict[int, list[Any]] = {}
    for chunk in _chunks(sorted(rid for ids in crowded for rid in ids)):
        for row in conn.execute(select(records).where(records.c.id.in_(chunk))):
            primaries.setdefault(int(row.company), []).append(row)
    demoted: list[RecordWrite] = []
    for company, rows_of in primaries.items():
        keeper = max(
            rows_of,
            key=lambda r: (*claims.get(r.id, (KEPT, _flag_time(r.provenance), -1)), r.id),
        )
        demoted.extend(
            _demote(row, actors[company], run_id, at) for row in rows_of if row is not keeper
        )
    return demoted


def _primaries_of(conn: Connection, companies: list[int]) -> dict[int, list[int]]:
    """company -> its live primary contacts' ids."""
    found: dict[int, list[int]] = {}
    for chunk in _chunks(companies):
        # Only people have a company: the entity needs no condition (which would lead
        # SQLite to the entity's index instead of the company's).
        rows = conn.execute(
            select(records.c.id, records.c.company).where(
                records.c.company.in_(chunk),
                records.c.deleted.is_(False),
                records.c.data[FLAG].as_boolean().is_(True),
            )
        )
        for row in rows:
            found.setdefault(int(row.company), []).append(int(row.id))
    return found


def _chunks(items: list[int], size: int = 900) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _demote(row: Any, actor: str | None, run_id: int | None, at: str) -> RecordWrite:
    return RecordWrite(
        row.id,
        "person",
        "update",
        {FLAG: [True, False]},
        HUB,
        max(at, row.changed_at),
        {**row.data, FLAG: False},
        {**row.provenance, FLAG: [HUB, run_id, at]},
        deleted=False,
        expected_seq=row.seq,
        actor=actor,
    )

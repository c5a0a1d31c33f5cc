"""Hub records and the journal: every write to a record is one journal entry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select

from accord.errors import AccordError
from accord.model.entities import entity_spec
from accord.model.matching import match_key
from accord.store import primary_contacts
from accord.store.bulk import insert_many, update_many
from accord.store.counters import allocate
from accord.store.schema import journal, records
from accord.store.types import HubRecord, RecordWrite


class StaleRecordError(AccordError):
    """The hub record changed between reading it and writing it; the write was not made."""


def _row_to_record(row: Any, *, provenance: bool = True) -> HubRecord:
    return HubRecord(
        id=row.id,
        entity=row.entity,
        data=dict(row.data),
        provenance=dict(row.provenance) if provenance else {},
        deleted=row.deleted,
        seq=row.seq,
        changed_at=row.changed_at,
    )


def get_many(conn: Connection, ids: Iterable[int]) -> dict[int, HubRecord]:
    wanted = list(set(ids))
    found: dict[int, HubRecord] = {}
    for chunk in _chunks(wanted, 900):
        for row in conn.execute(select(records).where(records.c.id.in_(chunk))):
            found[row.id] = _row_to_record(row)
    return found


def get(conn: Connection, record_id: int) -> HubRecord | None:
    return get_many(conn, [record_id]).get(record_id)


def new_ids(conn: Connection, count: int) -> range:
    return allocate(conn, "record", count)


def derived_columns(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    """Columns kept beside the JSON data for lookups: label, code, match key, a person's
    company, active."""
    code, company = data.get("code"), data.get("company")
    return {
        "label": entity_spec(entity).label(data)[:256],
        "code": str(code)[:64] if code is not None else None,
        "match_key": (match_key(entity, data) or None),
        "company": company if entity == "person" and type(company) is int else None,
        "active": data.get("active") is not False,
    }


def apply_writes(
    conn: Connection,
    writes: Sequence[RecordWrite],
    run_id: int | None,
    at: str,
    *,
    demoted: list[RecordWrite] | None = None,
) -> list[int]:
    """Journal and apply ``writes``; returns their journal sequence numbers.

    Creates go in one multi-row insert. Updates check the record's sequence number so a
    record edited meanwhile (by the web app, say) is never overwritten with stale data:
    StaleRecordError is raised and the caller's transaction rolls back. A person made a
    company's primary contact takes the flag from the others (``primary_contacts``): their
    writes follow, journaled after these (the returned numbers are these writes' only),
    and are added to ``demoted`` if given.
    """
    if not writes:
        return []
    seqs = list(allocate(conn, "journal", len(writes)))
    insert_many(
        conn,
        journal,
        [
            {
                "seq": seq,
                "record_id": w.record_id,
                "entity": w.entity,
                "kind": w.kind,
                "changes": w.changes,
                "system": w.system,
                "run_id": run_id,
                "actor": w.actor,
                "at": at,
            }
            for seq, w in zip(seqs, writes, strict=True)
        ],
    )
    creates = [(s, w) for s, w in zip(seqs, writes, strict=True) if w.kind == "create"]
    if creates:
        insert_many(
            conn,
            records,
            [
                {
                    "id": w.record_id,
                    "entity": w.entity,
                    "data": w.new_data,
                    "provenance": w.new_provenance,
                    "deleted": w.deleted,
                    "seq": seq,
                    "changed_at": w.origin_time,
                    "created_at": at,
                    "updated_at": at,
                    **derived_columns(w.entity, w.new_data),
                }
                for seq, w in creates
            ],
        )
    # Updates in two statements (with and without a sequence number to check), each
    # executed for many rows: fewer rows matched than sent means one was stale.
    checked: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
    unchecked: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
    for seq, w in zip(seqs, writes, strict=True):
        if w.kind == "create":
            continue
        values = {
            "data": w.new_data,
            "provenance": w.new_provenance,
            "deleted": w.deleted,
            "seq": seq,
            "changed_at": w.origin_time,
            "updated_at": at,
            **derived_columns(w.entity, w.new_data),
        }
        if w.expected_seq is None:
            unchecked.append((values, (w.record_id,)))
        else:
            checked.append((values, (w.record_id, w.expected_seq)))
    for where, group in ((("id",), unchecked), (("id", "seq"), checked)):
        if group and update_many(conn, records, where, group) != len(group):
            _raise_stale(
                conn, [(w, s) for s, w in zip(seqs, writes, strict=True) if w.kind != "create"]
            )
    # A contact made primary takes the flag from its company's others, in this transaction.
    taken = primary_contacts.demotions(conn, writes, run_id, at)
    if demoted is not None:
        demoted.extend(taken)
    apply_writes(conn, taken, run_id, at)
    return seqs


def _raise_stale(conn: Connection, updates: Sequence[tuple[RecordWrite, int]]) -> None:
    """Name the record that changed (or went) while the sync was writing it."""
    now = {}
    for chunk in _chunks([w.record_id for w, _ in updates], 900):
        rows = conn.execute(select(records.c.id, records.c.seq).where(records.c.id.in_(chunk)))
        now.update({row.id: row.seq for row in rows})
    # After the updates, a record that was not stale holds its new sequence number; one
    # that was stale (or deleted meanwhile) does not.
    stale = next((w for w, seq in updates if now.get(w.record_id) != seq), updates[0][0])
    raise StaleRecordError(
        "hub record changed while the sync was writing it",
        entity=stale.entity,
        key=str(stale.record_id),
    )


def changed_since(
    conn: Connection, entity: str, after_seq: int, limit: int, before: int | None = None
) -> list[HubRecord]:
    """Records of ``entity`` whose last change is after ``after_seq`` (and before
    ``before``, if given), oldest change first.

    Provenance is left out (empty): sending a record never needs it, and decoding it
    costs as much as the data.
    """
    condition = and_(records.c.entity == entity, records.c.seq > after_seq)
    if before is not None:
        condition = and_(condition, records.c.seq < before)
    columns = [c for c in records.c if c.name != "provenance"]
    rows = conn.execute(select(*columns).where(condition).order_by(records.c.seq).limit(limit))
    return [_row_to_record(row, provenance=False) for row in rows]


def at_seqs(conn: Connection, entity: str, seqs: Sequence[int]) -> list[HubRecord]:
    """Records of ``entity`` whose last change is one of ``seqs`` (without provenance)."""
    columns = [c for c in records.c if c.name != "provenance"]
    found: list[HubRecord] = []
    for chunk in _chunks(sorted(seqs), 900):
        rows = conn.execute(
            select(*columns)
            .where(and_(records.c.entity == entity, records.c.seq.in_(chunk)))
            .order_by(records.c.seq)
        )
        found.extend(_row_to_record(row, provenance=False) for row in rows)
    return found


def find_by_match_keys(conn: Connection, entity: str, keys: Iterable[str]) -> dict[str, list[int]]:
    """Candidate hub records per match key, lowest id first (a deterministic choice).

    Deleted records are included: the caller decides (a deleted record may still own a
    create in flight to the system being read).
    """
    found: dict[str, list[int]] = {}
    for chunk in _chunks(sorted(set(keys)), 900):
        rows = conn.execute(
            select(records.c.id, records.c.match_key)
            .where(and_(records.c.entity == entity, records.c.match_key.in_(chunk)))
            .order_by(records.c.id)
        )
        for row in rows:
            found.setdefault(row.match_key, []).append(row.id)
    return found


def totals(conn: Connection) -> dict[str, int]:
    """Live (not deleted) records per entity."""
    rows = conn.execute(
        select(records.c.entity, func.count().label("n"))
        .where(records.c.deleted.is_(False))
        .group_by(records.c.entity)
    )
    return {str(row.entity): int(row.n) for row in rows}


def journal_of_run(conn: Connection, run_id: int) -> list[Any]:
    """The journal entries a run wrote, newest first."""
    return list(
        conn.execute(
            select(journal).where(journal.c.run_id == run_id).order_by(journal.c.seq.desc())
        )
    )


def history(conn: Connection, record_id: int) -> list[Any]:
    return list(
        conn.execute(
            select(journal).where(journal.c.record_id == record_id).order_by(journal.c.seq)
        )
    )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

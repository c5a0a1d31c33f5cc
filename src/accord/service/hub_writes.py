"""Journaled writes to hub records inside a caller's transaction.

``service.records`` opens a transaction per edit; operations on people (copy a change to
every linked record, merge two records) change several records and must do so all or
nothing, so they write through these functions within one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from accord.errors import AccordError, ValidationError
from accord.model.entities import entity_spec
from accord.model.normalise import normalise_value
from accord.store import records
from accord.store.types import ALL_FIELDS, HUB, HubRecord, RecordWrite


def normalised(entity: str, changes: dict[str, Any], region: str) -> dict[str, Any]:
    """Canonical values of a person's input; a bad value raises naming the field."""
    spec = entity_spec(entity)
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            clean[name] = normalise_value(spec.spec_for(name), value, region=region)
        except ValidationError as exc:
            exc.entity, exc.field = entity, name
            raise
    return clean


def load(conn: Connection, record_id: int, entity: str | None = None) -> HubRecord:
    """A live hub record (of ``entity`` when given), or an error naming it."""
    record = records.get(conn, record_id)
    if record is None or record.deleted:
        raise AccordError(f"no hub record {record_id}", key=str(record_id))
    if entity is not None and record.entity != entity:
        raise AccordError(
            f"no {entity} with hub id {record_id}: it is a {record.entity}", key=str(record_id)
        )
    return record


def create(conn: Connection, entity: str, data: dict[str, Any], *, actor: str, at: str) -> int:
    clean = {k: v for k, v in data.items() if v is not None}
    clean.setdefault("active", True)
    (record_id,) = records.new_ids(conn, 1)
    write = RecordWrite(
        record_id,
        entity,
        "create",
        {name: [None, value] for name, value in clean.items()},
        HUB,
        at,
        clean,
        {ALL_FIELDS: [HUB, None, at]},
        actor=actor,
    )
    records.apply_writes(conn, [write], None, at)
    return record_id


def update(
    conn: Connection,
    current: HubRecord,
    changes: dict[str, Any],
    *,
    actor: str,
    at: str,
    delete: bool = False,
) -> dict[str, list[Any]]:
    """Write the values that differ (and the soft delete); returns field -> [old, new].

    ``current`` must have been read in this transaction: its sequence number guards
    against a sync writing the record meanwhile (the transaction then rolls back).
    """
    diff = {k: [current.data.get(k), v] for k, v in changes.items() if current.data.get(k) != v}
    if delete and not current.deleted:
        diff["deleted"] = [False, True]
    if not diff:
        return {}
    provenance = dict(current.provenance)
    for name in diff:
        if name != "deleted":
            provenance[name] = [HUB, None, at]
    data = {**current.data, **{k: v for k, v in changes.items() if k in diff}}
    write = RecordWrite(
        current.id,
        current.entity,
        "delete" if delete else "update",
        diff,
        HUB,
        max(at, current.changed_at),
        data,
        provenance,
        deleted=current.deleted or delete,
        expected_seq=current.seq,
        actor=actor,
    )
    (seq,) = records.apply_writes(conn, [write], None, at)
    # Keep the caller's copy current, so it can be written again in this transaction.
    current.data, current.provenance, current.seq = data, provenance, seq
    current.deleted = current.deleted or delete
    return diff

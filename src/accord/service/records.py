"""Editing hub records as a person does (web app, API, CLI): validated, journaled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from accord.clock import Clock, SystemClock, to_iso
from accord.errors import AccordError, ValidationError
from accord.model.entities import entity_spec
from accord.model.normalise import normalise_value
from accord.service import hub_writes
from accord.store import HubStore, records
from accord.store.types import HUB, RecordWrite

# A check run in a write's transaction, given the values about to be written.
Guard = Callable[[Connection, dict[str, Any]], None]


def _normalised(entity: str, changes: dict[str, Any], region: str) -> dict[str, Any]:
    spec = entity_spec(entity)
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            clean[name] = normalise_value(spec.spec_for(name), value, region=region)
        except ValidationError as exc:
            exc.entity, exc.field = entity, name
            raise
    return clean


def create_record(
    store: HubStore,
    entity: str,
    data: dict[str, Any],
    *,
    actor: str = "user",
    clock: Clock | None = None,
    region: str = "NZ",
    guard: Guard | None = None,
) -> int:
    """``guard``: see ``edit_record``; it may also fill in values (a new account number)."""
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        clean = _normalised(entity, data, region)
        if guard is not None:
            guard(conn, clean)
        return hub_writes.create(conn, entity, clean, actor=actor, at=at)


def edit_record(
    store: HubStore,
    record_id: int,
    changes: dict[str, Any],
    *,
    actor: str = "user",
    clock: Clock | None = None,
    region: str = "NZ",
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    guard: Guard | None = None,
) -> dict[str, list[Any]]:
    """Apply a person's edit; returns the field changes actually made (old, new).

    ``derive``: fields worked out from the record as it will be (a display name from
    first and last name), from the data read in the same transaction as the write, so
    an edit made meanwhile by someone else is part of it.
    ``guard``: a check of the values to write (raise to refuse), run in the write's
    transaction, so what it checks (a code is free) still holds at the commit.
    """
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        current = records.get(conn, record_id)
        if current is None:
            raise AccordError(f"no hub record {record_id}")
        clean = _normalised(current.entity, changes, region)
        if derive is not None:
            clean = {**clean, **derive({**current.data, **clean})}
        if guard is not None:
            guard(conn, clean)
        diff = {k: [current.data.get(k), v] for k, v in clean.items() if current.data.get(k) != v}
        if not diff:
            return {}
        provenance = dict(current.provenance)
        for name in diff:
            provenance[name] = [HUB, None, at]
        write = RecordWrite(
            record_id,
            current.entity,
            "update",
            diff,
            HUB,
            max(at, current.changed_at),
            {**current.data, **clean},
            provenance,
            deleted=current.deleted,
            expected_seq=current.seq,
            actor=actor,
        )
        records.apply_writes(conn, [write], None, at)
    return diff


def delete_record(
    store: HubStore,
    record_id: int,
    *,
    entity: str | None = None,
    actor: str = "user",
    clock: Clock | None = None,
) -> str:
    """Soft delete: the record stays in the journal; links decide what the systems do
    (an Exo contact is deactivated, S000-07). ``entity`` given, a record of another
    entity is refused (a customer's id given to the people endpoint). Returns the
    record's label (its name), to say what was deleted."""
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        current = records.get(conn, record_id)
        if current is None:
            raise AccordError(f"no hub record {record_id}")
        if entity is not None and current.entity != entity:
            raise AccordError(f"no {entity} with hub id {record_id}: it is a {current.entity}")
        label = entity_spec(current.entity).label(current.data)
        if current.deleted:
            return label
        write = RecordWrite(
            record_id,
            current.entity,
            "delete",
            {"deleted": [False, True]},
            HUB,
            max(at, current.changed_at),
            current.data,
            current.provenance,
            deleted=True,
            expected_seq=current.seq,
            actor=actor,
        )
        records.apply_writes(conn, [write], None, at)
    return label


def undo_run(
    store: HubStore, run_id: int, *, actor: str = "user", clock: Clock | None = None
) -> tuple[int, list[str]]:
    """Put back the values a sync run overwrote in the hub, as new journaled edits.

    A field changed again since the run is left alone (and named in the skipped list):
    undoing must never destroy a later edit. The reverted values reach the systems
    through the normal push. Returns (fields reverted, skipped descriptions).
    """
    reverted, skipped = 0, []
    with store.transaction() as conn:
        entries = records.journal_of_run(conn, run_id)
    if not entries:
        raise AccordError(f"run {run_id} changed nothing in the hub (or does not exist)")
    for entry in entries:
        with store.transaction() as conn:
            current = records.get(conn, entry.record_id)
        if current is None:
            continue
        back: dict[str, Any] = {}
        for name, (old, new) in entry.changes.items():
            if name == "deleted":
                continue
            if current.data.get(name) == new:
                back[name] = old
            else:
                skipped.append(f"record {entry.record_id} field {name}: changed again since")
        if back:
            reverted += len(edit_record(store, entry.record_id, back, actor=actor, clock=clock))
    return reverted, skipped

"""The sync monitor: per record its links and sync state; resolving held conflicts;
retrying errors; restoring a value from a record's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select

from accord.clock import Clock, SystemClock, to_iso
from accord.config import Config
from accord.errors import AccordError, ValidationError
from accord.service import customers
from accord.service import records as record_service
from accord.service import sync as sync_service
from accord.service.accounts import ACCOUNT_CODE_FIELDS, check_codes_free
from accord.service.card_layout import (
    CARD_ENTITIES,
    CardLayout,
    FieldAccessError,
    layout_in,
    load_layout,
)
from accord.store import HubStore, bookkeeping, links
from accord.store import records as record_store
from accord.store.schema import conflicts, errors, journal
from accord.store.types import RecordWrite

SyncState = Literal["synced", "pending", "failed", "held", "off", "deleted"]


@dataclass(frozen=True)
class LinkState:
    system: str
    external_id: str | None
    state: SyncState
    reasons: tuple[str, ...]


def record_sync_state(
    store: HubStore, config: Config, record_id: int, role: str | None = None
) -> list[LinkState]:
    """Where the record stands with every configured system.

    ``role`` given, a held field its card layout hides is named without its values.
    """
    result: list[LinkState] = []
    with store.reading() as conn:
        record = record_store.get(conn, record_id)
        if record is None:
            raise AccordError(f"no hub record {record_id}")
        layout = (
            layout_in(conn, record.entity, role)
            if role is not None and record.entity in CARD_ENTITIES
            else None
        )
        for name, system in config.systems.items():
            link = links.by_hub(conn, name, record.entity, [record_id]).get(record_id)
            held = [
                _held_reason(row, name, layout)
                for row in conn.execute(
                    select(conflicts).where(
                        conflicts.c.record_id == record_id,
                        conflicts.c.system == name,
                        conflicts.c.status == "open",
                    )
                )
            ]
            failed = [
                f"{row.field or 'record'}: {row.message}"
                for row in conn.execute(
                    select(errors).where(
                        errors.c.record_id == record_id,
                        errors.c.system == name,
                        errors.c.status == "open",
                    )
                )
            ]
            _, push_seq = bookkeeping.get_cursor(conn, name, record.entity)
            external = link.external_id if link else None
            if link is not None and link.state == "tombstone":
                # Its policy may keep the hub's record (S000-06), but nothing reaches the
                # system's record any more: say so rather than "synced".
                why = f"deleted in {name}: hub edits are no longer sent there"
                result.append(LinkState(name, external, "deleted", (why,)))
            elif held:
                result.append(LinkState(name, external, "held", tuple(held)))
            elif failed:
                result.append(LinkState(name, external, "failed", tuple(failed)))
            elif system.sync == "off":
                result.append(LinkState(name, external, "off", ("sync is off for this system",)))
            elif system.sync == "import":
                # One-way import: nothing is sent, so there is nothing pending either.
                if link is not None and link.state == "active":
                    result.append(LinkState(name, external, "synced", ()))
                else:
                    why = "one-way import: hub records are not sent to this system"
                    result.append(LinkState(name, external, "off", (why,)))
            elif link is None or link.state == "pending" or record.seq > push_seq:
                why = (
                    "not yet in the system"
                    if link is None or link.state == "pending"
                    else "changed since the last push"
                )
                result.append(LinkState(name, external, "pending", (why,)))
            else:
                result.append(LinkState(name, external, "synced", ()))
    return result


def _held_reason(row: Any, system: str, layout: CardLayout | None) -> str:
    if layout is not None and layout.access(row.field) == "hidden":
        return f"{row.field}: held ({row.reason})"  # its values would show what the card hides
    return f"{row.field}: hub {row.hub_value!r} / {system} {row.system_value!r} ({row.reason})"


def resolve_conflict(
    store: HubStore,
    conflict_id: int,
    winner: Literal["hub", "system"],
    *,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
) -> Any:
    """A person picks the surviving value of a held conflict.

    The hub takes the chosen value (journaled). While the link holds the field, the
    conflict's system value is what the system held when last read (every pull refreshes
    it), so it becomes the base as the field is released: the next push sends the hub's
    value when the hub's side won, and nothing when the system's did. A field the link no
    longer holds keeps its base: the choice is then a hub edit like any other. It is an
    edit of the hub's record: ``role`` given, the card layout applies to the value it
    would change.

    A conflict no longer open is refused: one the two sides settled by agreeing again,
    or one resolved already.
    """
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        row = conn.execute(
            select(conflicts).where(conflicts.c.id == conflict_id).with_for_update()
        ).first()
        if row is None:
            raise AccordError(f"no conflict {conflict_id}")
        if row.status != "open":
            raise AccordError(_closed(row))
        current = record_store.get(conn, row.record_id)
        if current is None:
            raise AccordError(f"no hub record {row.record_id}")
        # The system's value is the latest a pull saw (it refreshes open conflicts); the
        # hub's is the one the hub holds now, whatever it held when the conflict was found.
        old = current.data.get(row.field)
        chosen = old if winner == "hub" else row.system_value
        if role is not None and current.entity in CARD_ENTITIES:
            layout = layout_in(conn, current.entity, role)
            if layout.access(row.field) != "edit":
                # Keeping the hub's value decides the field too: it is sent on, over the
                # system's, as the role's own edit of the field.
                raise FieldAccessError(
                    f"the {role} role may not edit {row.field} on a {current.entity} card",
                    entity=current.entity,
                    key=str(row.record_id),
                    field=row.field,
                )
            layout.check({row.field: chosen}, current.data, key=str(row.record_id))
        link = links.by_hub(conn, row.system, row.entity, [row.record_id]).get(row.record_id)
        if link is not None and row.field in link.held:
            link.held = [name for name in link.held if name != row.field]
            if link.state == "active":
                link.base = {**link.base, row.field: row.system_value}
            links.save(conn, [link], at)
        # Journaled even when the hub already holds the chosen value: the entry records the
        # decision and puts the record after the push position, so the value goes out.
        provenance = {**current.provenance, row.field: ["hub", None, at]}
        write = RecordWrite(
            current.id,
            current.entity,
            "update",
            {row.field: [old, chosen]},
            "hub",
            max(at, current.changed_at),
            {**current.data, row.field: chosen},
            provenance,
            deleted=current.deleted,
            expected_seq=current.seq,
            actor=actor,
        )
        record_store.apply_writes(conn, [write], None, at)
        bookkeeping.resolve_conflict(conn, conflict_id, winner, at)
        return conn.execute(select(conflicts).where(conflicts.c.id == conflict_id)).first()


def _closed(row: Any) -> str:
    """Why conflict ``row``, no longer open, cannot be resolved."""
    if row.winner == bookkeeping.AGREED:
        return (
            f"conflict {row.id} was settled: both sides hold the same value again, so"
            f" {row.field} has nothing left to resolve"
        )
    if row.winner == bookkeeping.SUPERSEDED:
        return (
            f"conflict {row.id} was closed: the system's record it compared with was deleted"
            f" and another one linked in its place"
        )
    return f"conflict {row.id} is already resolved ({row.winner} kept)"


def retry_error(
    store: HubStore, config: Config, error_id: int, *, clock: Clock | None = None
) -> bool:
    """Run the error's system now (open errors are retried on every run); True if it cleared."""
    with store.transaction() as conn:
        row = conn.execute(select(errors).where(errors.c.id == error_id)).first()
    if row is None:
        raise AccordError(f"no error {error_id}")
    if row.status != "open":
        return True
    sync_service.run(config, row.system, store=store, clock=clock)
    with store.transaction() as conn:
        status = conn.execute(select(errors.c.status).where(errors.c.id == error_id)).scalar_one()
    return bool(status != "open")


def restore_value(
    store: HubStore,
    record_id: int,
    seq: int,
    field: str,
    *,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
) -> dict[str, list[Any]]:
    """Set ``field`` back to the value the journal entry ``seq`` gave it (a new edit).

    It is an edit like any other: ``role`` given, the card layout applies; a record
    merged away or deleted is not edited; an account code must still be free.
    """
    with store.transaction() as conn:
        entry = conn.execute(
            select(journal).where(journal.c.seq == seq, journal.c.record_id == record_id)
        ).first()
        current = record_store.get(conn, record_id)
    if entry is None or field not in entry.changes or field == "deleted":
        raise AccordError(
            f"record {record_id} has no change of {field!r} at {seq}",
            key=str(record_id),
            field=field,
        )
    if current is None or current.deleted:
        raise AccordError(
            f"record {record_id} was deleted (or merged into another): restore it first",
            key=str(record_id),
            field=field,
        )
    value = entry.changes[field][1]
    if field == "photo_url" and not customers.photo_stored(store, record_id, value):
        raise ValidationError(
            "that photo is no longer stored (only the latest is kept): upload it again",
            entity=current.entity,
            key=str(record_id),
            field=field,
        )
    if role is not None and current.entity in CARD_ENTITIES:
        layout = load_layout(store, current.entity, role)
        layout.check({field: value}, current.data, key=str(record_id))

    def code_free(conn: Connection, values: dict[str, Any]) -> None:
        if field in ACCOUNT_CODE_FIELDS and field in values:
            check_codes_free(conn, {field: values[field]}, record_id)

    return record_service.edit_record(
        store, record_id, {field: value}, actor=actor, clock=clock, guard=code_free
    )

"""Runs, cursors, conflicts, errors and settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from accord.store.schema import conflicts, cursors, errors, runs, settings
from accord.store.types import ConflictEntry, ErrorEntry


def start_run(conn: Connection, system: str, dry_run: bool, at: str) -> int:
    result = conn.execute(
        insert(runs)
        .values(system=system, dry_run=dry_run, status="running", counts={}, started_at=at)
        .returning(runs.c.id)
    )
    return int(result.scalar_one())


def close_interrupted_runs(conn: Connection, system: str, at: str) -> None:
    """A run still marked running when a new one starts was killed; say so."""
    conn.execute(
        update(runs)
        .where(runs.c.system == system, runs.c.status == "running")
        .values(status="interrupted", finished_at=at, message="the process ended mid-run")
    )


def count_open(conn: Connection, system: str) -> tuple[int, int]:
    """Open conflicts and open errors of a system."""
    counted = [
        int(
            conn.execute(
                select(func.count()).where(table.c.system == system, table.c.status == "open")
            ).scalar_one()
        )
        for table in (conflicts, errors)
    ]
    return counted[0], counted[1]


def finish_run(
    conn: Connection, run_id: int, status: str, counts: dict[str, int], at: str, message: str = ""
) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, counts=counts, finished_at=at, message=message or None)
    )


def recent_runs(conn: Connection, limit: int = 20, system: str | None = None) -> list[Any]:
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if system:
        query = query.where(runs.c.system == system)
    return list(conn.execute(query))


def get_cursor(conn: Connection, system: str, entity: str) -> tuple[str | None, int]:
    row = conn.execute(
        select(cursors).where(and_(cursors.c.system == system, cursors.c.entity == entity))
    ).first()
    if row is None:
        return None, 0
    return row.pull_cursor, int(row.push_seq)


def set_cursor(
    conn: Connection,
    system: str,
    entity: str,
    *,
    pull_cursor: str | None = None,
    push_seq: int | None = None,
) -> None:
    current_pull, current_push = get_cursor(conn, system, entity)
    exists = conn.execute(
        select(cursors.c.system).where(and_(cursors.c.system == system, cursors.c.entity == entity))
    ).first()
    values = {
        "pull_cursor": pull_cursor if pull_cursor is not None else current_pull,
        "push_seq": push_seq if push_seq is not None else current_push,
    }
    if exists:
        conn.execute(
            update(cursors)
            .where(and_(cursors.c.system == system, cursors.c.entity == entity))
            .values(**values)
        )
    else:
        conn.execute(insert(cursors).values(system=system, entity=entity, **values))


def add_conflicts(
    conn: Connection, items: Sequence[ConflictEntry], run_id: int | None, at: str
) -> None:
    if not items:
        return
    conn.execute(
        insert(conflicts),
        [
            {
                **item.__dict__,
                "run_id": run_id,
                "status": "open" if item.winner is None else "resolved",
                "created_at": at,
                "resolved_at": at if item.winner is not None else None,
            }
            for item in items
        ],
    )


def refresh_open_conflicts(
    conn: Connection, system: str, entity: str, items: Sequence[tuple[int, str, Any, Any]]
) -> None:
    """Open conflicts of held fields take the values the two sides hold now:
    ``items`` are (hub id, field, hub value, system value)."""
    for record_id, name, hub_value, system_value in items:
        conn.execute(
            update(conflicts)
            .where(
                conflicts.c.system == system,
                conflicts.c.entity == entity,
                conflicts.c.record_id == record_id,
                conflicts.c.field == name,
                conflicts.c.status == "open",
            )
            .values(hub_value=hub_value, system_value=system_value)
        )


def move_open_conflicts(
    conn: Connection, system: str, entity: str, record_id: int, to: int, hub_values: dict[str, Any]
) -> dict[str, Any]:
    """Open conflicts of a link moved from hub record ``record_id`` to ``to`` (a merge)
    follow it, comparing the system's value with what ``to`` holds: ``hub_values``.
    Returns the system's value of each field moved."""
    rows = conn.execute(
        select(conflicts.c.id, conflicts.c.field, conflicts.c.system_value).where(
            conflicts.c.system == system,
            conflicts.c.entity == entity,
            conflicts.c.record_id == record_id,
            conflicts.c.status == "open",
        )
    ).all()
    if rows:
        conn.execute(
            update(conflicts)
            .where(conflicts.c.id == bindparam("moved_id"))
            .values(record_id=to, hub_value=bindparam("moved_value")),
            [{"moved_id": row.id, "moved_value": hub_values.get(row.field)} for row in rows],
        )
    return {row.field: row.system_value for row in rows}


AGREED = "agreed"  # the winner of a conflict the two sides settled by agreeing again
SETTLED_NOTE = "; settled: both sides hold the same value again"
# The winner of a conflict with a system record that was deleted, when another record of
# that system is linked in its place: what that one holds is compared afresh.
SUPERSEDED = "superseded"
SUPERSEDED_NOTE = "; closed: the system's record was deleted and another one linked instead"


def settle_conflicts(
    conn: Connection,
    system: str,
    entity: str,
    items: Sequence[tuple[int, str]],
    at: str,
    *,
    winner: str = AGREED,
    note: str = SETTLED_NOTE,
) -> None:
    """Close the open conflicts of held fields the two sides agree on again: ``items``
    are (hub id, field). Nobody picked a side, so the winner says they agreed (or, with
    ``SUPERSEDED``, that the other side's record is gone)."""
    if not items:
        return
    conn.execute(
        update(conflicts)
        .where(
            conflicts.c.system == system,
            conflicts.c.entity == entity,
            conflicts.c.record_id == bindparam("held_record"),
            conflicts.c.field == bindparam("held_field"),
            conflicts.c.status == "open",
        )
        .values(
            status="resolved",
            winner=winner,
            resolved_at=at,
            reason=conflicts.c.reason + note,
        ),
        [{"held_record": record_id, "held_field": name} for record_id, name in items],
    )


def open_conflicts(conn: Connection, system: str | None = None) -> list[Any]:
    query = select(conflicts).where(conflicts.c.status == "open").order_by(conflicts.c.id)
    if system:
        query = query.where(conflicts.c.system == system)
    return list(conn.execute(query))


def list_conflicts(conn: Connection, limit: int = 50, status: str | None = None) -> list[Any]:
    query = select(conflicts).order_by(conflicts.c.id.desc()).limit(limit)
    if status:
        query = query.where(conflicts.c.status == status)
    return list(conn.execute(query))


def resolve_conflict(conn: Connection, conflict_id: int, winner: str, at: str) -> None:
    conn.execute(
        update(conflicts)
        .where(conflicts.c.id == conflict_id)
        .values(status="resolved", winner=winner, resolved_at=at)
    )


def add_errors(conn: Connection, items: Sequence[ErrorEntry], run_id: int | None, at: str) -> None:
    """Record errors; one already open for the same record and field counts an attempt."""
    if not items:
        return
    open_now: dict[tuple[Any, ...], Any] = {}
    by_scope: dict[tuple[str, str, str], list[ErrorEntry]] = {}
    for item in items:
        by_scope.setdefault((item.system, item.entity, item.direction), []).append(item)
    for (system, entity, direction), group in by_scope.items():
        scope = and_(
            errors.c.system == system,
            errors.c.entity == entity,
            errors.c.direction == direction,
            errors.c.status == "open",
        )
        record_ids = [i.record_id for i in group if i.record_id is not None]
        external_ids = [i.external_id for i in group if i.record_id is None and i.external_id]
        for column, keys in (
            (errors.c.record_id, record_ids),
            (errors.c.external_id, external_ids),
        ):
            for start in range(0, len(keys), 900):
                chunk = keys[start : start + 900]
                rows = conn.execute(
                    select(
                        errors.c.id,
                        errors.c.attempts,
                        errors.c.record_id,
                        errors.c.external_id,
                        errors.c.field,
                    ).where(scope, column.in_(chunk))
                )
                for row in rows:
                    open_now[
                        _error_key(
                            system, entity, direction, row.record_id, row.external_id, row.field
                        )
                    ] = row
    fresh, again = [], []
    for item in items:
        key = _error_key(
            item.system, item.entity, item.direction, item.record_id, item.external_id, item.field
        )
        existing = open_now.get(key)
        if existing is None:
            fresh.append(
                {
                    **item.__dict__,
                    "run_id": run_id,
                    "status": "open",
                    "attempts": 1,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        else:
            again.append(
                {
                    "error_id": existing.id,
                    "attempts": existing.attempts + 1,
                    "message": item.message,
                    "run_id": run_id,
                    "updated_at": at,
                }
            )
    if fresh:
        conn.execute(insert(errors), fresh)
    if again:
        conn.execute(update(errors).where(errors.c.id == bindparam("error_id")), again)


def _error_key(
    system: str, entity: str, direction: str, record_id: Any, external_id: Any, field: Any
) -> tuple[Any, ...]:
    who = ("record", record_id) if record_id is not None else ("external", external_id)
    return (system, entity, direction, *who, field)


def open_errors(
    conn: Connection,
    system: str | None = None,
    entity: str | None = None,
    direction: str | None = None,
) -> list[Any]:
    query = select(errors).where(errors.c.status == "open").order_by(errors.c.id)
    if system:
        query = query.where(errors.c.system == system)
    if entity:
        query = query.where(errors.c.entity == entity)
    if direction:
        query = query.where(errors.c.direction == direction)
    return list(conn.execute(query))


def erring_keys(
    conn: Connection, system: str, entity: str, direction: str, external_ids: Sequence[str]
) -> set[str]:
    """Which of these external ids have an open error."""
    found: set[str] = set()
    for start in range(0, len(external_ids), 900):
        chunk = list(external_ids[start : start + 900])
        rows = conn.execute(
            select(errors.c.external_id).where(
                errors.c.system == system,
                errors.c.entity == entity,
                errors.c.direction == direction,
                errors.c.status == "open",
                errors.c.external_id.in_(chunk),
            )
        )
        found.update(row.external_id for row in rows)
    return found


def resolve_errors(
    conn: Connection,
    system: str,
    entity: str,
    direction: str,
    *,
    record_ids: Sequence[int] = (),
    external_ids: Sequence[str] = (),
    at: str,
    keep: set[tuple[Any, Any]] | None = None,
) -> None:
    """Close open errors of these records, except the (record key, field) pairs in ``keep``."""
    keep = keep or set()
    column = errors.c.record_id if record_ids else errors.c.external_id
    keys: Sequence[Any] = record_ids or external_ids
    if not keys:
        return
    rows = conn.execute(
        select(errors.c.id, column.label("key"), errors.c.field).where(
            and_(
                errors.c.system == system,
                errors.c.entity == entity,
                errors.c.direction == direction,
                errors.c.status == "open",
                column.in_(list(keys)),
            )
        )
    )
    done = [row.id for row in rows if (row.key, row.field) not in keep]
    if done:
        conn.execute(
            update(errors).where(errors.c.id.in_(done)).values(status="resolved", updated_at=at)
        )


def get_setting(conn: Connection, key: str, default: Any = None) -> Any:
    row = conn.execute(select(settings.c.value).where(settings.c.key == key)).first()
    return default if row is None else row.value


def set_setting(conn: Connection, key: str, value: Any) -> None:
    if conn.execute(select(settings.c.key).where(settings.c.key == key)).first():
        conn.execute(update(settings).where(settings.c.key == key).values(value=value))
    else:
        conn.execute(insert(settings).values(key=key, value=value))

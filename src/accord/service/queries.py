"""Read-only views of the hub for the faces: status, conflicts, errors, history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from accord.clock import SystemClock, to_iso
from accord.config import Config
from accord.errors import AccordError
from accord.jobs import state
from accord.service.card_layout import CARD_ENTITIES, hidden_fields, hidden_reason, load_layout
from accord.store import HubStore, bookkeeping, links, records


@dataclass
class SystemStatus:
    name: str
    sync: str
    schedule_push: str
    schedule_pull: str
    last_run: Any | None
    open_conflicts: int
    open_errors: int
    linked: int
    paused: bool = False
    next_push: str | None = None  # when the scheduler runs it next (None: not scheduled yet)
    next_pull: str | None = None
    lag_seconds: float | None = None  # since the last successful run
    pending_changes: int = 0  # hub changes from elsewhere not yet pushed


@dataclass
class LinkLag:
    system: str
    seconds: float | None
    pending_changes: int


def link_lags(store: HubStore, config: Config, now: datetime) -> list[LinkLag]:
    with store.reading() as conn:
        result = []
        for name, system in config.systems.items():
            if system.sync == "off":
                continue
            last = state.last_ok_finish(conn, name)
            seconds = (now - last).total_seconds() if last else None
            result.append(LinkLag(name, seconds, state.unpushed_changes(conn, name)))
    return result


@dataclass
class FieldChange:
    seq: int
    at: str
    kind: str
    field: str
    old: Any
    new: Any
    system: str
    run_id: int | None


def status(store: HubStore, config: Config) -> tuple[dict[str, int], list[SystemStatus]]:
    with store.reading() as conn:
        totals = records.totals(conn)
        result = []
        for name, system in config.systems.items():
            last = bookkeeping.recent_runs(conn, 1, name)
            open_conflicts, open_errors = bookkeeping.count_open(conn, name)
            result.append(
                SystemStatus(
                    name,
                    system.sync,
                    system.schedule.push,
                    system.schedule.pull,
                    last[0] if last else None,
                    open_conflicts,
                    open_errors,
                    links.count_active(conn, name),
                    paused=state.is_paused(conn, name),
                    next_push=_iso(state.next_due(conn, name, "push")),
                    next_pull=_iso(state.next_due(conn, name, "pull")),
                )
            )
    now = SystemClock().now()
    lags = {lag.system: lag for lag in link_lags(store, config, now)}
    for item in result:
        if item.name in lags:
            item.lag_seconds = lags[item.name].seconds
            item.pending_changes = lags[item.name].pending_changes
    return totals, result


def _iso(moment: datetime | None) -> str | None:
    return to_iso(moment) if moment else None


def find_record(store: HubStore, ref: str) -> int:
    """A record by hub id (``42``) or by a system's key (``erp:person:17@1003``)."""
    with store.reading() as conn:
        if ref.isdigit():
            if records.get(conn, int(ref)) is None:
                raise AccordError(f"no hub record {ref}")
            return int(ref)
        parts = ref.split(":", 2)
        if len(parts) != 3:
            raise AccordError(
                f"not a record reference: {ref!r} (use a hub id or system:entity:key)"
            )
        found = links.by_external(conn, parts[0], parts[1], [parts[2]])
        if parts[2] not in found:
            raise AccordError(f"{parts[0]} has no linked {parts[1]} with key {parts[2]}")
        return found[parts[2]].hub_id


def history(store: HubStore, record_id: int) -> tuple[Any, list[FieldChange]]:
    with store.reading() as conn:
        record = records.get(conn, record_id)
        changes = [
            FieldChange(
                row.seq, row.at, row.kind, name, old_new[0], old_new[1], row.system, row.run_id
            )
            for row in records.history(conn, record_id)
            for name, old_new in row.changes.items()
        ]
    return record, changes


def history_for(store: HubStore, record_id: int, role: str) -> tuple[Any, list[FieldChange]]:
    """``history`` as a role may see it: changes of fields its card layout hides are left
    out (their values would show what the card does not)."""
    record, changes = history(store, record_id)
    if record is not None and record.entity in CARD_ENTITIES:
        layout = load_layout(store, record.entity, role)
        changes = [c for c in changes if layout.access(c.field) != "hidden"]
    return record, changes


def open_conflicts(store: HubStore, system: str | None = None) -> list[Any]:
    with store.reading() as conn:
        return bookkeeping.open_conflicts(conn, system)


def recent_conflicts(store: HubStore, limit: int = 50) -> list[Any]:
    with store.reading() as conn:
        return bookkeeping.list_conflicts(conn, limit)


def conflicts_for(store: HubStore, rows: list[Any], role: str) -> list[Any]:
    """Conflict rows as a role may see them: the values of a field its card layout hides
    are left out (as ``history_for`` leaves its changes out); the conflict stays listed."""
    hidden = {"base_value": None, "hub_value": None, "system_value": None}
    return _masked(store, rows, role, lambda _row: hidden)


def open_errors(store: HubStore, system: str | None = None) -> list[Any]:
    with store.reading() as conn:
        return bookkeeping.open_errors(conn, system)


def errors_for(store: HubStore, rows: list[Any], role: str) -> list[Any]:
    """Error rows as a role may see them: the message of an error about a field its card
    layout hides (it may quote the value) is replaced; the error stays listed."""
    return _masked(store, rows, role, lambda row: {"message": hidden_reason(row.field)})


def _masked(
    store: HubStore, rows: list[Any], role: str, masking: Callable[[Any], dict[str, Any]]
) -> list[Any]:
    """``rows`` (with ``entity`` and ``field``), those about a field the role's card layout
    hides with ``masking(row)``'s values in place of their own."""
    hidden = hidden_fields(store, role)
    return [
        SimpleNamespace(
            **{**row._asdict(), **(masking(row) if hidden(row.entity, row.field) else {})}
        )
        for row in rows
    ]


def recent_runs(store: HubStore, limit: int = 20) -> list[Any]:
    with store.reading() as conn:
        return bookkeeping.recent_runs(conn, limit)

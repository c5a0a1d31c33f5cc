"""Plain values the store hands out and takes in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Data = dict[str, Any]
# field -> [system, run id, origin time]; the key "*" holds the entry for every field
# without one of its own (a record created in one go needs a single entry).
Provenance = dict[str, list[Any]]
ALL_FIELDS = "*"
HUB = "hub"  # the provenance source of edits made in the hub itself


@dataclass
class HubRecord:
    id: int
    entity: str
    data: Data
    provenance: Provenance
    deleted: bool
    seq: int
    changed_at: str

    def field_source(self, name: str) -> list[Any] | None:
        return self.provenance.get(name) or self.provenance.get(ALL_FIELDS)

    def field_time(self, name: str) -> str:
        entry = self.field_source(name)
        return str(entry[2]) if entry else ""


@dataclass
class Link:
    id: int | None
    system: str
    entity: str
    external_id: str | None
    hub_id: int
    state: str = "active"  # active | pending | tombstone
    base: Data = field(default_factory=dict)
    base_version: str | None = None
    held: list[str] = field(default_factory=list)
    marker: str | None = None
    sending: Data | None = None  # values in flight to the system (see schema.links)


@dataclass
class RecordWrite:
    """One change to one hub record, journaled as one entry."""

    record_id: int
    entity: str
    kind: str  # create | update | delete | restore
    changes: dict[str, list[Any]]  # field -> [old, new]
    system: str
    origin_time: str
    new_data: Data
    new_provenance: Provenance
    deleted: bool = False
    expected_seq: int | None = None  # None for creates
    actor: str | None = None


@dataclass
class ConflictEntry:
    system: str
    entity: str
    record_id: int
    external_id: str | None
    field: str
    base_value: Any
    hub_value: Any
    system_value: Any
    hub_time: str | None
    system_time: str | None
    policy: str
    winner: str | None
    reason: str


@dataclass
class ErrorEntry:
    system: str
    entity: str
    direction: str
    message: str
    record_id: int | None = None
    external_id: str | None = None
    field: str | None = None
    transient: bool = False

"""The connector protocol: what every outside system offers the engine.

Connectors speak their system's native field names and keys; mapping to canonical fields
is the mapping layer's job and merging is the engine's. A connector never decides.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

NativeValues = dict[str, Any]
OperationKind = Literal["create", "update", "deactivate", "delete"]


@dataclass(frozen=True)
class ExternalRecord:
    """One record as the outside system holds it now (or the news that it is gone)."""

    key: str
    values: NativeValues
    version: str | None = None  # what changes when the record changes (time, rowversion, hash)
    modified_at: str | None = None  # ISO UTC time of the last change, if the system keeps one
    deleted: bool = False
    marker: str | None = None  # the idempotency marker it was created with, if we made it


@dataclass(frozen=True)
class ChangeBatch:
    records: list[ExternalRecord]
    cursor: str | None  # where to resume after this batch has been committed
    # Groups of records the read listed whole, by key suffix: every key ending with the
    # suffix that exists now, changed or not (a customer read with all its contacts).
    # The engine reads a linked key of such a group that is not listed by key, and takes
    # it as deleted if the system confirms. For systems that cannot list every key cheaply.
    listed_whole: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    kind: OperationKind
    key: str | None  # None for create
    values: NativeValues = field(default_factory=dict)
    marker: str | None = None  # idempotency marker of a create
    expected_version: str | None = None  # refuse the write if the record moved on


@dataclass(frozen=True)
class OperationResult:
    ok: bool
    key: str | None = None
    version: str | None = None
    modified_at: str | None = None
    error: str | None = None
    field: str | None = None  # the field the system refused, when it says
    transient: bool = False
    stale: bool = False  # the record changed since it was read: nothing was written


@dataclass(frozen=True)
class Capabilities:
    create: bool = True
    update: bool = True
    delete: bool = True
    deactivate: bool = True
    idempotent_create: bool = False  # a create with a known marker returns the earlier record
    list_keys: bool = True  # can enumerate keys, so deletions can be detected
    modified_time: bool = True  # records carry a modification time
    conditional_update: bool = True  # honours expected_version


@runtime_checkable
class Connector(Protocol):
    name: str

    def entities(self) -> Sequence[str]:
        """The native entities (tables, resources) this connector serves."""
        ...

    def capabilities(self, entity: str) -> Capabilities: ...

    def read_changes(
        self, entity: str, cursor: str | None, batch_size: int
    ) -> Iterator[ChangeBatch]:
        """Records changed since ``cursor`` (all records when None), in batches."""
        ...

    def read_by_keys(self, entity: str, keys: Sequence[str]) -> list[ExternalRecord]:
        """The records with these keys; a missing key comes back with ``deleted=True``."""
        ...

    def list_keys(self, entity: str) -> Iterator[str]: ...

    def count(self, entity: str) -> int:
        """How many records ``list_keys`` would yield (cheap: it decides whether to)."""
        ...

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        """Apply a batch; one result per operation, in order. One bad record fails alone."""
        ...

    def refusals(
        self, entity: str, operations: Sequence[Operation]
    ) -> list[OperationResult | None]:
        """What ``apply`` would refuse before reaching the system (a value too long for its
        column, a missing key), one entry per operation (None: nothing to object), writing
        nothing: a dry run shows these. An API that only judges what it is sent has none."""
        ...

    def note_writes(
        self, entity: str, cursor: str | None, results: Sequence[OperationResult]
    ) -> str | None:
        """The pull cursor, told of our own writes (``apply``'s results that were kept).

        A connector that can later tell those rows apart, as long as nobody changed them,
        folds that into the cursor so ``read_changes`` may leave them out rather than
        return them for the engine to recognise. Returning ``cursor`` is always correct.
        """
        ...

    def full_read_cursor(self, entity: str, cursor: str | None) -> str | None:
        """Where a full re-read (`accord sync --full`) starts: every record again, but a
        part of ``cursor`` that cannot be read again from the start (a feed of deletions
        that starts at the first sync) kept. None: read everything."""
        ...

    def close(self) -> None: ...

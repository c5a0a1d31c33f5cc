"""An in-memory connector: a complete outside system in a dict, for tests and trials.

Versions are a per-system counter; modification times come from the clock it is given,
so tests control them. Fields can be declared refused (with a reason) to rehearse a
system that rejects values, and ``max_lengths`` behave like short SQL columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.clock import Clock, SystemClock, to_iso
from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    ExternalRecord,
    NativeValues,
    Operation,
    OperationResult,
)


@dataclass
class _Row:
    values: NativeValues
    version: int
    modified_at: str
    marker: str | None = None


@dataclass
class MemoryTable:
    rows: dict[str, _Row] = field(default_factory=dict)
    next_key: int = 1
    max_lengths: dict[str, int] = field(default_factory=dict)
    validators: dict[str, Callable[[Any], str | None]] = field(default_factory=dict)


class MemoryConnector:
    def __init__(
        self,
        name: str = "memory",
        entities: Sequence[str] = ("company", "person"),
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.clock = clock or SystemClock()
        self.tables: dict[str, MemoryTable] = {e: MemoryTable() for e in entities}
        self._version = 0
        self.calls: list[str] = []

    # -- what a user of the system would do directly (tests use these) -----------------
    def put(self, entity: str, key: str | None, values: NativeValues) -> str:
        table = self.tables[entity]
        if key is None:
            key = str(table.next_key)
            table.next_key += 1
        row = table.rows.get(key)
        merged = {**(row.values if row else {}), **values}
        table.rows[key] = _Row(
            merged, self._bump(), to_iso(self.clock.now()), row.marker if row else None
        )
        return key

    def remove(self, entity: str, key: str) -> None:
        del self.tables[entity].rows[key]

    def get(self, entity: str, key: str) -> NativeValues | None:
        row = self.tables[entity].rows.get(key)
        return dict(row.values) if row else None

    # -- the connector protocol ----------------------------------------------------------
    def entities(self) -> Sequence[str]:
        return list(self.tables)

    def capabilities(self, entity: str) -> Capabilities:
        return Capabilities(idempotent_create=True)

    def read_changes(
        self, entity: str, cursor: str | None, batch_size: int
    ) -> Iterator[ChangeBatch]:
        self.calls.append(f"read_changes {entity}")
        after = int(cursor) if cursor else 0
        changed = sorted(
            (
                (row.version, key)
                for key, row in self.tables[entity].rows.items()
                if row.version > after
            )
        )
        for start in range(0, len(changed), batch_size):
            chunk = changed[start : start + batch_size]
            records = [self._record(entity, key) for _, key in chunk]
            yield ChangeBatch(records, str(chunk[-1][0]))

    def read_by_keys(self, entity: str, keys: Sequence[str]) -> list[ExternalRecord]:
        self.calls.append(f"read_by_keys {entity}")
        return [self._record(entity, key) for key in keys]

    def list_keys(self, entity: str) -> Iterator[str]:
        yield from list(self.tables[entity].rows)

    def count(self, entity: str) -> int:
        return len(self.tables[entity].rows)

    def full_read_cursor(self, entity: str, cursor: str | None) -> str | None:
        return None  # every record, from the start

    def note_writes(
        self, entity: str, cursor: str | None, results: Sequence[OperationResult]
    ) -> str | None:
        return cursor  # reads return our own writes; the engine knows them by version

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        self.calls.append(f"apply {entity} {len(operations)}")
        return [self._apply_one(entity, op) for op in operations]

    def refusals(
        self, entity: str, operations: Sequence[Operation]
    ) -> list[OperationResult | None]:
        return [
            OperationResult(False, op.key, error=found[1], field=found[0])
            if (found := self._refusal(entity, op.values))
            else None
            for op in operations
        ]

    def close(self) -> None:
        return None

    # -- inside -----------------------------------------------------------------------------
    def _bump(self) -> int:
        self._version += 1
        return self._version

    def _record(self, entity: str, key: str) -> ExternalRecord:
        row = self.tables[entity].rows.get(key)
        if row is None:
            return ExternalRecord(key, {}, deleted=True)
        return ExternalRecord(
            key, dict(row.values), str(row.version), row.modified_at, marker=row.marker
        )

    def _refusal(self, entity: str, values: NativeValues) -> tuple[str, str] | None:
        table = self.tables[entity]
        for name, value in values.items():
            limit = table.max_lengths.get(name)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                return name, f"{name} is longer than {limit} characters"
            check = table.validators.get(name)
            reason = check(value) if check else None
            if reason:
                return name, reason
        return None

    def _apply_one(self, entity: str, op: Operation) -> OperationResult:
        table = self.tables[entity]
        refusal = self._refusal(entity, op.values)
        if refusal:
            return OperationResult(False, op.key, error=refusal[1], field=refusal[0])
        if op.kind == "create":
            if op.marker:
                for key, row in table.rows.items():
                    if row.marker == op.marker:
                        return OperationResult(True, key, str(row.version), row.modified_at)
            key = self.put(entity, None, op.values)
            table.rows[key].marker = op.marker
            row = table.rows[key]
            return OperationResult(True, key, str(row.version), row.modified_at)
        assert op.key is not None
        current = table.rows.get(op.key)
        if current is None:
            return OperationResult(False, op.key, error=f"no {entity} with key {op.key}")
        if op.expected_version is not None and str(current.version) != op.expected_version:
            return OperationResult(False, op.key, error="changed since read", stale=True)
        if op.kind == "delete":
            self.remove(entity, op.key)
            return OperationResult(True, op.key)
        self.put(entity, op.key, op.values)
        row = table.rows[op.key]
        return OperationResult(True, op.key, str(row.version), row.modified_at)

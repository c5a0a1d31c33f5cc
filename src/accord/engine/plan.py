"""What a run did, or in a dry run would do: counts and field-level changes per record."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedChange:
    direction: str  # "hub" (written to the hub) or "system" (written to the outside system)
    entity: str
    # create | update | deactivate | delete | restore | link | unlink | conflict | error
    action: str
    record: str  # a label people recognise
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (field, old, new)
    reason: str = ""
    field: str = ""  # the field an error is about, if one (its reason may quote the value)


@dataclass
class Plan:
    system: str
    dry_run: bool
    detail_limit: int = 1000  # keep memory flat on huge runs; counts stay exact
    counts: Counter[str] = field(default_factory=Counter)
    changes: list[PlannedChange] = field(default_factory=list)

    def add(self, change: PlannedChange) -> None:
        self.counts[f"{change.direction}.{change.entity}.{change.action}"] += 1
        if len(self.changes) < self.detail_limit:
            self.changes.append(change)

    def count_only(self, direction: str, entity: str, action: str) -> bool:
        """Count a change; True when its details are no longer kept (skip building them)."""
        if len(self.changes) < self.detail_limit:
            return False
        self.counts[f"{direction}.{entity}.{action}"] += 1
        return True

    def count(self, direction: str, entity: str, action: str) -> int:
        return self.counts[f"{direction}.{entity}.{action}"]

    def total(self, action: str) -> int:
        return sum(n for key, n in self.counts.items() if key.endswith(f".{action}"))

    @property
    def writes(self) -> int:
        """Writes to either side (conflicts and errors are not writes)."""
        return sum(
            n
            for key, n in self.counts.items()
            if key.rsplit(".", 1)[1] not in ("conflict", "error", "read")
        )

"""Mapping profiles: which native field is which canonical field, in which direction.

A profile is data (loadable from TOML); ``EntityMap.inbound`` and ``outbound`` are the
pure functions compiled from it. Policies for creating, deleting and conflicts live here
too, per entity, because they are part of how one system relates to the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from accord.errors import ConfigError, ValidationError
from accord.mapping.transforms import transform
from accord.model.entities import entity_spec
from accord.model.normalise import normalise_value

Direction = Literal["both", "in", "out", "none"]
CreatePolicy = Literal["auto", "never", "on_request"]
DeletePolicy = Literal["ignore", "deactivate", "delete"]
ConflictRule = Literal["record_lww", "field_lww", "priority", "hold"]


@dataclass(frozen=True)
class FieldMap:
    canonical: str
    native: str
    direction: Direction = "both"
    transform: str = "none"
    max_length: int | None = None
    only_on_create: bool = False  # sent when creating in the system, never on update

    @property
    def inbound(self) -> bool:
        return self.direction in ("both", "in")

    @property
    def outbound(self) -> bool:
        return self.direction in ("both", "out")


@dataclass(frozen=True)
class ConflictPolicy:
    rule: ConflictRule = "field_lww"
    # For "priority": per canonical field (or "*"), sides in order of precedence;
    # "hub" names the hub itself.
    priority: dict[str, list[str]] = field(default_factory=dict)
    # Who wins an exact tie of modification times: the decision must never depend on
    # the order records happened to be read in.
    tie_winner: Literal["hub", "system"] = "hub"


@dataclass
class EntityMap:
    entity: str  # canonical entity
    source: str  # the connector's native entity (table, resource)
    fields: list[FieldMap]
    create_in_hub: CreatePolicy = "auto"
    create_in_system: CreatePolicy = "auto"
    on_system_delete: DeletePolicy = "deactivate"
    on_hub_delete: DeletePolicy = "deactivate"
    conflict: ConflictPolicy = field(default_factory=ConflictPolicy)
    match: bool = True  # match before create
    pull: bool = True
    push: bool = True
    region: str = "NZ"  # default region for phone numbers without a country code
    hub_defaults: dict[str, Any] = field(default_factory=dict)  # set on records created in the hub
    # Fields without which a create in the system is refused (e.g. a contact's company).
    required_for_create: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        spec = entity_spec(self.entity)
        seen: set[str] = set()
        for item in self.fields:
            spec.spec_for(item.canonical)
            transform(item.transform)
            if item.canonical in seen:
                raise ConfigError(
                    f"field {item.canonical!r} is mapped twice",
                    entity=self.entity,
                    field=item.canonical,
                )
            seen.add(item.canonical)
        self._by_canonical = {f.canonical: f for f in self.fields}
        refs: dict[str, str] = {}
        for item in self.fields:
            kind = spec.spec_for(item.canonical)
            if kind.kind == "ref" and kind.ref_entity:
                refs[item.canonical] = kind.ref_entity
        self._refs = refs
        # The profile compiled once: (native, canonical, converter, field spec or None for
        # a reference). inbound() runs for every record read.
        self._inbound_plan = [
            (
                f.native,
                f.canonical,
                transform(f.transform)[0],
                None if f.canonical in refs else spec.spec_for(f.canonical),
            )
            for f in self.fields
            if f.inbound
        ]
        # canonical -> (native, converter, max length, only on create), for outbound().
        self._outbound_plan = {
            f.canonical: (f.native, transform(f.transform)[1], f.max_length, f.only_on_create)
            for f in self.fields
            if f.outbound
        }
        self._sent_on_create = frozenset(self._outbound_plan)
        self._sent_on_update = frozenset(
            name for name, plan in self._outbound_plan.items() if not plan[3]
        )

    @property
    def inbound_fields(self) -> list[FieldMap]:
        return [f for f in self.fields if f.inbound]

    @property
    def outbound_fields(self) -> list[FieldMap]:
        return [f for f in self.fields if f.outbound]

    @property
    def ref_fields(self) -> Mapping[str, str]:
        """Canonical reference fields -> the entity they point at."""
        return MappingProxyType(self._refs)

    def sent(self, *, creating: bool) -> frozenset[str]:
        """The canonical fields a create (or an update) may send to the system."""
        return self._sent_on_create if creating else self._sent_on_update

    def field(self, canonical: str) -> FieldMap | None:
        return self._by_canonical.get(canonical)

    def has_active_flag(self) -> bool:
        item = self._by_canonical.get("active")
        return item is not None and item.outbound

    def inbound(self, native: dict[str, Any]) -> tuple[dict[str, Any], list[ValidationError]]:
        """Native values -> canonical values; a bad value is left out and reported.

        Reference fields keep the system's key of the referenced record; the engine
        turns it into a hub id through the links.
        """
        values: dict[str, Any] = {}
        problems: list[ValidationError] = []
        region = self.region
        for native_name, canonical, convert, spec in self._inbound_plan:
            if native_name not in native:
                continue  # the system lacks this field: never blank it (S000-03)
            raw = convert(native[native_name])
            if spec is None:  # a reference: the system's key of the referenced record
                values[canonical] = None if raw in (None, "") else str(raw).strip()
                continue
            try:
                values[canonical] = normalise_value(spec, raw, region=region)
            except ValidationError as exc:
                exc.field = canonical
                problems.append(exc)
        return values, problems

    def outbound(
        self, canonical: dict[str, Any], *, creating: bool = False
    ) -> tuple[dict[str, Any], list[ValidationError]]:
        """Canonical values -> native values; a value the system cannot hold is reported."""
        values: dict[str, Any] = {}
        problems: list[ValidationError] = []
        plan = self._outbound_plan
        for name, value in canonical.items():
            step = plan.get(name)
            if step is None:
                continue
            native_name, convert, max_length, create_only = step
            if create_only and not creating:
                continue
            native = convert(value)
            if max_length is not None and isinstance(native, str) and len(native) > max_length:
                problems.append(
                    ValidationError(
                        f"{native_name} holds at most {max_length} characters, got {len(native)}",
                        field=name,
                    )
                )
                continue
            values[native_name] = native
        return values, problems


@dataclass
class Profile:
    """How one outside system maps to the hub: one EntityMap per canonical entity."""

    name: str
    entities: list[EntityMap]

    def entity_map(self, entity: str) -> EntityMap | None:
        for item in self.entities:
            if item.entity == entity:
                return item
        return None

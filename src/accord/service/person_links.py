"""Records that are one natural person (S003-02, S003-03).

Several person records (person accounts and contacts of companies) can be the same
natural person: ``person_links`` groups them, and they share the fixed fields (title,
first, middle and last name, initials, suffix, language, address). Linking two records
that fill these in differently asks, per field group, whose value survives; the survivors
are written on every linked record, journaled like any edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Connection

from accord.clock import Clock, SystemClock, to_iso
from accord.errors import ValidationError
from accord.model.entities import ADDRESS_PARTS, ADDRESS_TYPES
from accord.service import hub_writes
from accord.service.card_layout import layout_in, load_layout
from accord.store import HubStore, records
from accord.store import people as people_store
from accord.store.types import HubRecord

ADDRESS_FIELDS = tuple(f"address.{t}.{p}" for t in ADDRESS_TYPES for p in ADDRESS_PARTS)
# The fixed fields a natural person shares, in groups chosen as a whole (a title is the
# salutation; an address is never mixed line by line from two records).
FIXED_GROUPS: dict[str, tuple[str, ...]] = {
    "title": ("salutation",),
    "first_name": ("first_name",),
    "middle_name": ("middle_name",),
    "last_name": ("last_name",),
    "initials": ("initials",),
    "suffix": ("suffix",),
    "language": ("language",),
    "address": ADDRESS_FIELDS,
}


@dataclass
class FieldDifference:
    group: str
    fields: tuple[str, ...]
    values: dict[int, dict[str, Any]]  # record id -> the group's values


def differences_for(
    store: HubStore, entity: str, items: list[FieldDifference], role: str
) -> list[FieldDifference]:
    """``items`` as a role may see them: the values of fields its card layout hides are
    left out (S003-05); the groups stay, to be chosen by record."""
    layout = load_layout(store, entity, role)
    return [
        replace(d, values={rid: layout.visible(v) for rid, v in d.values.items()}) for d in items
    ]


@dataclass
class LinkOutcome:
    status: Literal["linked", "needs_choice", "already_linked"]
    natural_person: int | None = None
    differences: list[FieldDifference] = field(default_factory=list)
    changes: dict[int, dict[str, list[Any]]] = field(default_factory=dict)


def _now(clock: Clock | None) -> str:
    return to_iso((clock or SystemClock()).now())


def group_values(record: HubRecord, group: str) -> dict[str, Any]:
    return {name: record.data.get(name) for name in FIXED_GROUPS[group]}


def _filled(values: dict[str, Any]) -> bool:
    return any(v not in (None, "") for v in values.values())


def fixed_differences(a: HubRecord, b: HubRecord) -> list[FieldDifference]:
    """Fixed-field groups both records fill in, differently: a person must choose."""
    found = []
    for group, names in FIXED_GROUPS.items():
        va, vb = group_values(a, group), group_values(b, group)
        if _filled(va) and _filled(vb) and va != vb:
            found.append(FieldDifference(group, names, {a.id: va, b.id: vb}))
    return found


def resolve_choices(first: HubRecord, second: HubRecord, choices: dict[str, int]) -> dict[str, Any]:
    """The surviving fixed values: the chosen record's group, else the one filled in."""
    for group, chosen in choices.items():
        if group not in FIXED_GROUPS:
            raise ValidationError(
                f"unknown field group {group!r}; known: {', '.join(FIXED_GROUPS)}", field=group
            )
        if chosen not in (first.id, second.id):
            raise ValidationError(
                f"choose hub record {first.id} or {second.id}, not {chosen}", field=group
            )
    values: dict[str, Any] = {}
    for group in FIXED_GROUPS:
        source = first
        if group in choices:
            source = first if choices[group] == first.id else second
        elif not _filled(group_values(first, group)):
            source = second
        values.update(group_values(source, group))
    return values


def link_people(
    store: HubStore,
    first_id: int,
    second_id: int,
    *,
    choices: dict[str, int] | None = None,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
) -> LinkOutcome:
    """Link two person records as one natural person (S003-02, S003-03).

    Where both fill in a fixed field group differently, ``choices`` (group -> hub id)
    must name the record whose values survive; without it nothing is written and the
    differences are returned. The surviving values are written on every linked record.
    With ``role``, a value it would change on a record that its card layout does not let
    it edit is refused (FieldAccessError), as an edit would be.
    """
    if first_id == second_id:
        raise ValidationError("a record cannot be linked to itself", key=str(first_id))
    at = _now(clock)
    with store.transaction() as conn:
        first = hub_writes.load(conn, first_id, "person")
        second = hub_writes.load(conn, second_id, "person")
        groups = people_store.natural_persons(conn, [first_id, second_id])
        if first_id in groups and groups.get(first_id) == groups.get(second_id):
            return LinkOutcome("already_linked", groups[first_id])
        differences = fixed_differences(first, second)
        missing = [d for d in differences if d.group not in (choices or {})]
        if missing:
            return LinkOutcome("needs_choice", differences=missing)
        values = resolve_choices(first, second, choices or {})
        natural = groups.get(first_id) or groups.get(second_id) or first_id
        member_ids = {first_id, second_id}
        for rid in groups.values():
            member_ids.update(people_store.members(conn, rid))
        if role is not None:
            layout = layout_in(conn, "person", role)
            for member in records.get_many(conn, sorted(member_ids)).values():
                changed = {n: v for n, v in values.items() if member.data.get(n) != v}
                layout.check(changed, member.data, key=str(member.id))
        outcome = LinkOutcome("linked", natural)
        outcome.changes = write_natural_person(
            conn, sorted(member_ids), natural, values, actor=actor, at=at
        )
    return outcome


def write_natural_person(
    conn: Connection,
    member_ids: list[int],
    natural: int,
    values: dict[str, Any],
    *,
    actor: str,
    at: str,
) -> dict[int, dict[str, list[Any]]]:
    """Make ``member_ids`` one natural person carrying ``values``; journaled per record."""
    found = records.get_many(conn, member_ids)
    live = [rid for rid in member_ids if rid in found and not found[rid].deleted]
    people_store.set_natural_person(conn, live, natural, at, actor)
    changes: dict[int, dict[str, list[Any]]] = {}
    for rid in live:
        diff = hub_writes.update(
            conn, found[rid], {**values, "natural_person": natural}, actor=actor, at=at
        )
        if diff:
            changes[rid] = diff
    return changes


def unlink_person(
    store: HubStore, record_id: int, *, actor: str = "user", clock: Clock | None = None
) -> None:
    """Take a record out of its natural person; its values stay as they are."""
    at = _now(clock)
    with store.transaction() as conn:
        current = hub_writes.load(conn, record_id, "person")
        people_store.unlink(conn, [record_id])
        hub_writes.update(conn, current, {"natural_person": None}, actor=actor, at=at)

"""Merging two records into one (S003-03 people, S003-04 accounts).

The survivor takes, per field group, the value of the record the user chose (by default
its own, with its blanks filled from the other); every record linked to the same natural
person shows the merged fixed fields. The loser's links to outside systems move to the
survivor where the survivor has no live one in that system, so the system's record now
carries the survivor (and is updated by the next push); the fields such a link holds for
review go with it, their conflicts now the survivor's. A survivor's retired link there (its
record deleted in the system) gives way, named in the merge's record (``replaced``). Where
both are linked, the loser keeps its link and is soft-deleted: each system's delete policy
(usually: deactivate) tells it. A company's contacts move to the surviving company.
Nothing is lost: every overwritten value is in the journal, the loser stays as a deleted
record naming its survivor (``merged_into``), and the merge is recorded with its choices
and what moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from accord.clock import Clock, SystemClock, to_iso
from accord.errors import ValidationError
from accord.model.entities import ADDRESS_TYPES, entity_spec
from accord.service import card_layout, customers, hub_writes
from accord.service.accounts import is_account
from accord.service.person_links import (
    ADDRESS_FIELDS,
    FIXED_GROUPS,
    FieldDifference,
    differences_for,
    resolve_choices,
    write_natural_person,
)
from accord.store import HubStore, bookkeeping, links
from accord.store import people as people_store
from accord.store.types import HubRecord, Link

# Never taken from the loser: who the record is (kind, company) and its state. A code is
# taken only into a survivor without one, and is never a choice (owning systems decide it).
_KEPT = ("kind", "company", "active")
_NOT_CHOSEN = (*_KEPT, "code")


@dataclass
class MergeResult:
    survivor_id: int
    loser_id: int
    merge_id: int
    changes: dict[int, dict[str, list[Any]]] = field(default_factory=dict)
    repointed: list[str] = field(default_factory=list)  # "system:entity:key" now on the survivor
    # "system:entity:key" of the survivor's retired links that gave way to the loser's live ones
    replaced: list[str] = field(default_factory=list)
    told: list[str] = field(
        default_factory=list
    )  # systems whose loser record the delete policy handles
    contacts_moved: list[int] = field(default_factory=list)
    activity_moved: dict[str, int] = field(default_factory=dict)  # table -> rows moved


def groups_for(entity: str) -> dict[str, tuple[str, ...]]:
    """Field groups a merge chooses between: a person's fixed fields, an account's fields."""
    if entity == "person":
        return FIXED_GROUPS
    groups: dict[str, tuple[str, ...]] = {
        name: (name,)
        for name in entity_spec(entity).fields
        if not name.startswith("address.") and name not in _NOT_CHOSEN
    }
    groups["address"] = ADDRESS_FIELDS
    return groups


def merge_preview(
    store: HubStore, survivor_id: int, loser_id: int, *, role: str | None = None
) -> list[FieldDifference]:
    """Both records' values per field group, for a side-by-side choice (every group).

    ``role`` given, the values its card layout hides are left out.
    """
    with store.transaction() as conn:
        survivor, loser = _pair(conn, survivor_id, loser_id)
    result = []
    for group, names in groups_for(survivor.entity).items():
        values = {r.id: {n: r.data.get(n) for n in names} for r in (survivor, loser)}
        if any(v not in (None, "") for vals in values.values() for v in vals.values()):
            result.append(FieldDifference(group, names, values))
    if role is not None:
        result = differences_for(store, survivor.entity, result, role)
    return result


def _pair(conn: Connection, survivor_id: int, loser_id: int) -> tuple[HubRecord, HubRecord]:
    if survivor_id == loser_id:
        raise ValidationError("a record cannot be merged with itself", key=str(survivor_id))
    survivor = hub_writes.load(conn, survivor_id)
    loser = hub_writes.load(conn, loser_id, survivor.entity)
    return survivor, loser


def merge_people(
    store: HubStore,
    survivor_id: int,
    loser_id: int,
    choices: dict[str, int] | None = None,
    *,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
) -> MergeResult:
    """Merge two person records that are the same person (S003-03). With ``role``, a
    choice of the loser's value for a field the role's card layout does not let it edit
    is refused."""
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        survivor, loser = _pair(conn, survivor_id, loser_id)
        if survivor.entity != "person":
            raise ValidationError(f"hub record {survivor_id} is not a person; merge accounts")
        fixed = resolve_choices(survivor, loser, choices or {})
        _check_choices(conn, survivor, loser, choices or {}, fixed, role)
        values = {**_blanks_filled(survivor, loser), **fixed, **_refs(survivor, loser)}
        return _merge(conn, survivor, loser, values, choices or {}, actor=actor, at=at)


def merge_accounts(
    store: HubStore,
    survivor_id: int,
    loser_id: int,
    choices: dict[str, int] | None = None,
    *,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
) -> MergeResult:
    """Merge two accounts (companies, or person accounts) (S003-04). ``role``: as for
    ``merge_people``."""
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        survivor, loser = _pair(conn, survivor_id, loser_id)
        for record in (survivor, loser):
            if not is_account(record):
                raise ValidationError(
                    f"hub record {record.id} is a contact person, not an account",
                    key=str(record.id),
                )
        if survivor.entity == "person":
            fixed = resolve_choices(survivor, loser, choices or {})
            _check_choices(conn, survivor, loser, choices or {}, fixed, role)
            values = {**_blanks_filled(survivor, loser), **fixed, **_refs(survivor, loser)}
        else:
            chosen = _chosen(survivor, loser, choices or {})
            _check_choices(conn, survivor, loser, choices or {}, chosen, role)
            values = {**_blanks_filled(survivor, loser), **chosen}
            # The name shown is derived from the names chosen, as an edit derives it.
            name = customers.display_name({**survivor.data, **values})
            if name:
                values["name"] = name
        return _merge(conn, survivor, loser, values, choices or {}, actor=actor, at=at)


def _check_choices(
    conn: Connection,
    survivor: HubRecord,
    loser: HubRecord,
    choices: dict[str, int],
    values: dict[str, Any],
    role: str | None,
) -> None:
    """Refuse (FieldAccessError) taking the loser's value of a field ``role`` may not edit.

    Only what the person chose is judged: the blanks a merge fills from the loser, and the
    survivor's own values, change nothing the role sees as an edit of its own."""
    if role is None or not any(chosen == loser.id for chosen in choices.values()):
        return
    groups = groups_for(survivor.entity)
    taken = [n for g, chosen in choices.items() if chosen == loser.id for n in groups[g]]
    changed = {n: values.get(n) for n in taken if values.get(n) != survivor.data.get(n)}
    card_layout.layout_in(conn, survivor.entity, role).check(
        changed, survivor.data, key=str(survivor.id)
    )


def _blanks_filled(survivor: HubRecord, loser: HubRecord) -> dict[str, Any]:
    """The survivor's empty fields take the loser's values (an address only as a whole)."""
    values: dict[str, Any] = {}
    for name in entity_spec(survivor.entity).fields:
        if name in _KEPT or name.startswith("address."):
            continue
        if name == "is_primary":
            # The same person of the same company: the survivor takes the loser's place as
            # its primary contact (the loser, merged away, then loses the flag). Of another
            # company, the flag is that company's business.
            same = survivor.data.get("company") == loser.data.get("company")
            if same and loser.data.get(name) is True and survivor.data.get(name) is not True:
                values[name] = True
            continue
        if survivor.data.get(name) in (None, "") and loser.data.get(name) not in (None, ""):
            values[name] = loser.data[name]
    for kind in ADDRESS_TYPES:
        names = [n for n in ADDRESS_FIELDS if n.startswith(f"address.{kind}.")]
        if not any(survivor.data.get(n) for n in names) and any(loser.data.get(n) for n in names):
            values.update({n: loser.data.get(n) for n in names})
    return values


def _photo_taken(
    conn: Connection, survivor: HubRecord, loser: HubRecord, values: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """A photo URL taken from the loser names the loser's photo: the photo moves to the
    survivor in place of its own (a customer has one) and the URL becomes the survivor's,
    so it still serves the photo. The photo of a URL not taken stays where it is.
    Returns the URL to write (if it changes) and how many photos moved."""
    url = values.get("photo_url")
    if not isinstance(url, str) or url.partition("?")[0] != customers.photo_path(loser.id):
        return {}, 0
    digest = people_store.move_photo(conn, loser.id, survivor.id)
    if digest is None:  # the loser's photo is gone: its URL would serve nothing
        return {"photo_url": survivor.data.get("photo_url")}, 0
    return {"photo_url": customers.photo_url(survivor.id, digest)}, 1


def _chosen(survivor: HubRecord, loser: HubRecord, choices: dict[str, int]) -> dict[str, Any]:
    groups = groups_for(survivor.entity)
    values: dict[str, Any] = {}
    for group, chosen in choices.items():
        if group not in groups:
            raise ValidationError(
                f"unknown field {group!r} for a {survivor.entity} merge", field=group
            )
        if chosen not in (survivor.id, loser.id):
            raise ValidationError(
                f"choose hub record {survivor.id} or {loser.id}, not {chosen}", field=group
            )
        source = survivor if chosen == survivor.id else loser
        values.update({n: source.data.get(n) for n in groups[group]})
    return values


def _refs(survivor: HubRecord, loser: HubRecord) -> dict[str, Any]:
    refs = list(survivor.data.get("external_refs") or [])
    extra = [r for r in loser.data.get("external_refs") or [] if r not in refs]
    return {"external_refs": refs + extra} if extra else {}


def _merge(
    conn: Connection,
    survivor: HubRecord,
    loser: HubRecord,
    values: dict[str, Any],
    choices: dict[str, int],
    *,
    actor: str,
    at: str,
) -> MergeResult:
    result = MergeResult(survivor.id, loser.id, 0)
    mine = people_store.links_of(conn, survivor.id)
    own = {(link.system, link.entity) for link in mine if link.state != "tombstone"}
    retired = {(link.system, link.entity): link for link in mine if link.state == "tombstone"}
    repointed: list[Link] = []
    for link in people_store.links_of(conn, loser.id):
        if link.state == "active" and (link.system, link.entity) not in own and link.id:
            gone = retired.get((link.system, link.entity))
            if gone is not None:
                _give_way(conn, gone, at)
                result.replaced.append(f"{gone.system}:{gone.entity}:{gone.external_id or ''}")
            people_store.repoint_link(conn, link.id, survivor.id, at)
            link.hub_id = survivor.id
            repointed.append(link)
            result.repointed.append(f"{link.system}:{link.entity}:{link.external_id}")
        elif link.state != "tombstone":
            result.told.append(link.system)
    merged_from = [*(survivor.data.get("merged_from") or []), loser.id]
    photo, photos_moved = _photo_taken(conn, survivor, loser, values)
    # Written after the links moved, so the push sees the survivor as changed and sends
    # it to every system it is now linked to.
    diff = hub_writes.update(
        conn, survivor, {**values, **photo, "merged_from": merged_from}, actor=actor, at=at
    )
    result.changes[survivor.id] = diff
    if survivor.entity == "person":
        _merge_natural_persons(conn, survivor, loser, values, result, actor=actor, at=at)
    else:
        for contact_id in people_store.contacts_of(conn, loser.id):
            contact = hub_writes.load(conn, contact_id, "person")
            moved = hub_writes.update(conn, contact, {"company": survivor.id}, actor=actor, at=at)
            result.changes[contact_id] = moved
            result.contacts_moved.append(contact_id)
    _carry_conflicts(conn, repointed, loser.id, hub_writes.load(conn, survivor.id), at)
    # Sales history, orders, credit (money) and the photo belong to the customer that stays.
    result.activity_moved = people_store.move_activity(conn, loser.id, survivor.id)
    result.activity_moved[people_store.PHOTOS] = photos_moved
    # Read again: a survivor made its company's primary contact took the loser's flag.
    loser = hub_writes.load(conn, loser.id)
    result.changes[loser.id] = hub_writes.update(
        conn, loser, {"merged_into": survivor.id}, actor=actor, at=at, delete=True
    )
    outcome = {
        "repointed": result.repointed,
        "replaced": result.replaced,
        "told": result.told,
        "contacts_moved": result.contacts_moved,
        "activity_moved": result.activity_moved,
        "updated": sorted(result.changes),
    }
    result.merge_id = people_store.add_merge(
        conn, survivor.entity, survivor.id, loser.id, choices, outcome, actor, at
    )
    return result


def _give_way(conn: Connection, retired: Link, at: str) -> None:
    """Remove the survivor's retired link (one per system and record) for the loser's live
    one. What it held for review compared the hub with a record deleted since: closed, as
    when a pull links another record in its place."""
    held = [(retired.hub_id, name) for name in retired.held]
    bookkeeping.settle_conflicts(
        conn,
        retired.system,
        retired.entity,
        held,
        at,
        winner=bookkeeping.SUPERSEDED,
        note=bookkeeping.SUPERSEDED_NOTE,
    )
    if retired.id is not None:  # a stored link always has one
        people_store.remove_link(conn, retired.id)


def _carry_conflicts(
    conn: Connection, repointed: list[Link], loser_id: int, survivor: HubRecord, at: str
) -> None:
    """The fields a moved link holds stay held, their open conflicts now the survivor's
    (a person resolving one releases the field). Where the survivor holds what the system
    holds, the two sides agree again: released and closed, as a pull would."""
    for link in repointed:
        system_values = bookkeeping.move_open_conflicts(
            conn, link.system, link.entity, loser_id, survivor.id, survivor.data
        )
        agreed = [
            name
            for name in link.held
            if name in system_values and survivor.data.get(name) == system_values[name]
        ]
        if not agreed:
            continue
        link.held = [name for name in link.held if name not in agreed]
        link.base = {**link.base, **{name: system_values[name] for name in agreed}}
        links.save(conn, [link], at)
        held = [(survivor.id, name) for name in agreed]
        bookkeeping.settle_conflicts(conn, link.system, link.entity, held, at)


def _merge_natural_persons(
    conn: Connection,
    survivor: HubRecord,
    loser: HubRecord,
    values: dict[str, Any],
    result: MergeResult,
    *,
    actor: str,
    at: str,
) -> None:
    """The loser's linked records join the survivor's natural person, with its fixed fields."""
    groups = people_store.natural_persons(conn, [survivor.id, loser.id])
    members = {survivor.id}
    for natural in set(groups.values()):
        members.update(people_store.members(conn, natural))
    members.discard(loser.id)
    people_store.unlink(conn, [loser.id])
    if len(members) == 1 and not groups:
        return  # neither was linked to anybody: no natural person to keep
    natural = groups.get(survivor.id) or groups.get(loser.id) or survivor.id
    fixed = {n: values[n] for names in FIXED_GROUPS.values() for n in names if n in values}
    changed = write_natural_person(conn, sorted(members), natural, fixed, actor=actor, at=at)
    for rid, diff in changed.items():
        result.changes.setdefault(rid, {}).update(diff)

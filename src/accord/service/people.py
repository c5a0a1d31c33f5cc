"""People (S003): person accounts, contact persons, natural persons, external references.

A person record is either a *person account* (``kind = "account"``: a private customer,
prospect or supplier, with an account code of its own) or a *contact person* of a company
account (``kind = "contact"``, ``company`` = the company's hub id). Several such records
can be the same natural person (linked by ``service.person_links``): an edit of email,
mobile, phone or fax on one of them offers to copy the change to all the others.

Every change is a journaled hub edit, so it reaches the outside systems through the
normal push. Fields the services keep for themselves (``natural_person``,
``external_refs``, ``merged_into``, ``merged_from``) are not canonical fields: no system
maps them and the generic record edit refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection

from accord.clock import Clock, SystemClock, to_iso
from accord.errors import AccordError, ValidationError
from accord.model.entities import entity_spec
from accord.model.normalise import normalise_email
from accord.service import hub_writes
from accord.service.accounts import ACCOUNT_CODE_FIELDS, check_codes_free
from accord.service.card_layout import load_layout
from accord.store import HubStore, records
from accord.store import people as people_store
from accord.store.types import HubRecord

ACCOUNT_TYPES = ("customer", "prospect", "supplier")
# Edited on one linked record, these are offered for copying to every linked record.
COPIED_FIELDS = ("email", "mobile", "phone", "fax")
REFERENCE_KINDS = (
    "blogger",
    "email",
    "facebook",
    "gtalk",
    "linkedin",
    "msn",
    "office_communicator",
    "skype",
    "twitter",
    "other",
)
# Set only by these services; a person's edit of them is refused.
SERVICE_FIELDS = ("kind", "natural_person", "external_refs", "merged_into", "merged_from")


@dataclass
class LinkedRecord:
    id: int
    kind: str
    label: str
    company: int | None
    values: dict[str, Any]  # the copied fields as they are now


@dataclass
class EditOutcome:
    """What an edit did: applied, or waiting for "copy to all linked records?", or aborted."""

    status: Literal["applied", "needs_confirmation", "aborted"]
    # record id -> field -> [old, new]
    changes: dict[int, dict[str, list[Any]]] = field(default_factory=dict)
    linked: list[LinkedRecord] = field(default_factory=list)  # records the copy changes


def _now(clock: Clock | None) -> str:
    return to_iso((clock or SystemClock()).now())


def _user_fields(changes: dict[str, Any], record: str | None) -> None:
    for name in changes:
        if name in SERVICE_FIELDS or (name == "company" and record is not None):
            raise ValidationError(
                f"{name} is set by its own action, not by an edit",
                entity="person",
                key=record,
                field=name,
            )


# -- creating ------------------------------------------------------------------------------
def create_person_account(
    store: HubStore,
    data: dict[str, Any],
    *,
    account_type: str = "customer",
    role: str | None = None,
    actor: str = "user",
    clock: Clock | None = None,
    region: str = "NZ",
) -> int:
    """A person account: a private customer, prospect or supplier (S003-01)."""
    if account_type not in ACCOUNT_TYPES:
        raise ValidationError(
            f"account type must be one of {', '.join(ACCOUNT_TYPES)}", field="account_type"
        )
    _user_fields({k: v for k, v in data.items() if k != "company"}, None)
    if data.get("company") is not None:
        raise ValidationError(
            "a person account belongs to no company; add a contact person instead",
            field="company",
        )
    return _create(
        store, data, {"kind": "account", "account_type": account_type}, role, actor, clock, region
    )


def create_contact(
    store: HubStore,
    company_id: int,
    data: dict[str, Any],
    *,
    role: str | None = None,
    actor: str = "user",
    clock: Clock | None = None,
    region: str = "NZ",
) -> int:
    """A contact person of a company account (S003-01)."""
    _user_fields(data, None)
    for name in ("code", "account_type", "debtor_code", "creditor_code"):
        if data.get(name) not in (None, ""):
            raise ValidationError(
                f"a contact person has no {name}: that belongs to an account", field=name
            )
    return _create(
        store, data, {"kind": "contact", "company": company_id}, role, actor, clock, region
    )


def _create(
    store: HubStore,
    data: dict[str, Any],
    fixed: dict[str, Any],
    role: str | None,
    actor: str,
    clock: Clock | None,
    region: str,
) -> int:
    clean = hub_writes.normalised("person", data, region)
    if role is not None:
        load_layout(store, "person", role).check(clean, None)
    with store.transaction() as conn:
        if fixed.get("company") is not None:
            hub_writes.load(conn, fixed["company"], "company")  # exists, and is a company
        check_codes_free(conn, clean, None)
        return hub_writes.create(conn, "person", {**clean, **fixed}, actor=actor, at=_now(clock))


# -- editing, with the copy to linked records -------------------------------------------------
def edit_person(
    store: HubStore,
    record_id: int,
    changes: dict[str, Any],
    *,
    copy_to_linked: bool | None = None,
    role: str | None = None,
    actor: str = "user",
    clock: Clock | None = None,
    region: str = "NZ",
) -> EditOutcome:
    """Edit a person record (S003-02).

    When email, mobile, phone or fax change and linked records hold other values, nothing
    is written until the caller answers: ``copy_to_linked=None`` returns the linked records
    the copy would change ("needs_confirmation"); True writes the edit and the copies in
    one transaction; False aborts the edit.
    """
    _user_fields(changes, str(record_id))
    clean = hub_writes.normalised("person", changes, region)
    layout = load_layout(store, "person", role) if role is not None else None
    at = _now(clock)
    with store.transaction() as conn:
        current = hub_writes.load(conn, record_id, "person")
        if layout is not None:
            layout.check(clean, current.data, key=str(record_id))
        _check_account_fields(current, clean)
        copied = {
            name: clean[name]
            for name in COPIED_FIELDS
            if name in clean and clean[name] != current.data.get(name)
        }
        others = _linked(conn, record_id, copied) if copied else []
        if others and copy_to_linked is None:
            return EditOutcome("needs_confirmation", linked=[_describe(r) for r in others])
        if others and copy_to_linked is False:
            return EditOutcome("aborted", linked=[_describe(r) for r in others])
        outcome = EditOutcome("applied", linked=[_describe(r) for r in others])
        diff = hub_writes.update(conn, current, clean, actor=actor, at=at)
        if diff:
            outcome.changes[record_id] = diff
        for other in others:
            # Read again: the edit may have made a contact primary, taking others' flags.
            other = hub_writes.load(conn, other.id)
            copy = hub_writes.update(conn, other, copied, actor=actor, at=at)
            if copy:
                outcome.changes[other.id] = copy
    return outcome


def _check_account_fields(current: HubRecord, clean: dict[str, Any]) -> None:
    """Codes change through their own actions (uniqueness, owning systems); a type only
    on a person account."""
    key = str(current.id)
    for name in ACCOUNT_CODE_FIELDS:
        if name in clean and clean[name] != current.data.get(name):
            action = "change code" if name == "code" else "debtor and creditor codes"
            raise ValidationError(
                f"{name} changes through its own action ({action}), not by an edit",
                entity="person",
                key=key,
                field=name,
            )
    kind = clean.get("account_type")
    if kind is not None and kind != current.data.get("account_type"):
        if current.data.get("kind") != "account":
            raise ValidationError(
                "a contact person has no account type",
                entity="person",
                key=key,
                field="account_type",
            )
        if kind not in ACCOUNT_TYPES:
            raise ValidationError(
                f"account type must be one of {', '.join(ACCOUNT_TYPES)}",
                entity="person",
                key=key,
                field="account_type",
            )


def _linked(conn: Connection, record_id: int, values: dict[str, Any]) -> list[HubRecord]:
    """The live records linked to ``record_id`` holding other values for these fields."""
    group = people_store.natural_persons(conn, [record_id]).get(record_id)
    if group is None:
        return []
    ids = [rid for rid in people_store.members(conn, group) if rid != record_id]
    found = records.get_many(conn, ids)
    return [
        found[rid]
        for rid in ids
        if rid in found
        and not found[rid].deleted
        and any(found[rid].data.get(k) != v for k, v in values.items())
    ]


def _describe(record: HubRecord) -> LinkedRecord:
    return LinkedRecord(
        record.id,
        str(record.data.get("kind") or ""),
        entity_spec("person").label(record.data),
        record.data.get("company"),
        {name: record.data.get(name) for name in COPIED_FIELDS},
    )


def linked_records(store: HubStore, record_id: int) -> list[LinkedRecord]:
    """The other live records of the natural person this record is (S003-02)."""
    with store.transaction() as conn:
        hub_writes.load(conn, record_id, "person")
        group = people_store.natural_persons(conn, [record_id]).get(record_id)
        if group is None:
            return []
        ids = [rid for rid in people_store.members(conn, group) if rid != record_id]
        found = records.get_many(conn, ids)
    return [_describe(found[rid]) for rid in ids if rid in found and not found[rid].deleted]


@dataclass
class PersonSummary:
    id: int
    kind: str
    label: str
    code: str | None
    company: int | None
    email: str | None


def search_people(
    store: HubStore,
    text: str = "",
    *,
    kind: str | None = None,
    limit: int = 50,
    role: str | None = None,
) -> list[PersonSummary]:
    """People by name or account code (``kind``: "account" or "contact" only).

    ``role`` given (a list shown to a person), the code and email its person card layout
    hides are left blank, and a hidden code is not searched (S003-05).
    """
    layout = load_layout(store, "person", role) if role is not None else None
    by_code = layout is None or layout.access("code") != "hidden"
    with store.transaction() as conn:
        rows = people_store.search_people(conn, text, kind, limit, by_code=by_code)

    def shown(name: str, value: Any) -> Any:
        return None if layout is not None and layout.access(name) == "hidden" else value

    return [
        PersonSummary(
            row.id,
            str(row.data.get("kind") or ""),
            row.label,
            shown("code", row.data.get("code")),
            row.data.get("company"),
            shown("email", row.data.get("email")),
        )
        for row in rows
    ]


def get_person(store: HubStore, record_id: int) -> HubRecord:
    with store.transaction() as conn:
        return hub_writes.load(conn, record_id, "person")


def company_label(store: HubStore, company_id: int) -> str:
    """The name of a contact person's company, for showing beside the contact."""
    with store.transaction() as conn:
        return entity_spec("company").label(hub_writes.load(conn, company_id, "company").data)


# -- external references (S003-06) -------------------------------------------------------------
def external_references(store: HubStore, record_id: int) -> list[dict[str, str]]:
    with store.transaction() as conn:
        return list(hub_writes.load(conn, record_id, "person").data.get("external_refs") or [])


def add_external_reference(
    store: HubStore,
    record_id: int,
    kind: str,
    value: str,
    *,
    actor: str = "user",
    clock: Clock | None = None,
) -> list[dict[str, str]]:
    """Add a social-media or other reference (Skype name, LinkedIn page, ...) to a person."""
    kind, value = kind.strip().lower(), value.strip()
    key = str(record_id)
    if kind not in REFERENCE_KINDS:
        raise ValidationError(
            f"unknown reference kind {kind!r}; known: {', '.join(REFERENCE_KINDS)}",
            entity="person",
            key=key,
            field="external_refs",
        )
    if not value:
        raise ValidationError(
            "a reference needs a value", entity="person", key=key, field="external_refs"
        )
    if kind == "email":
        value = normalise_email(value, "external_refs")
    at = _now(clock)
    with store.transaction() as conn:
        current = hub_writes.load(conn, record_id, "person")
        refs = list(current.data.get("external_refs") or [])
        if {"kind": kind, "value": value} in refs:
            raise ValidationError(
                f"{kind} {value} is already listed", entity="person", key=key, field="external_refs"
            )
        refs.append({"kind": kind, "value": value})
        hub_writes.update(conn, current, {"external_refs": refs}, actor=actor, at=at)
    return refs


def remove_external_reference(
    store: HubStore,
    record_id: int,
    kind: str,
    value: str,
    *,
    actor: str = "user",
    clock: Clock | None = None,
) -> list[dict[str, str]]:
    at = _now(clock)
    with store.transaction() as conn:
        current = hub_writes.load(conn, record_id, "person")
        refs = list(current.data.get("external_refs") or [])
        kept = [r for r in refs if not (r["kind"] == kind and r["value"] == value)]
        if len(kept) == len(refs):
            raise AccordError(
                f"hub record {record_id} has no {kind} reference {value!r}",
                entity="person",
                key=str(record_id),
                field="external_refs",
            )
        hub_writes.update(conn, current, {"external_refs": kept}, actor=actor, at=at)
    return kept

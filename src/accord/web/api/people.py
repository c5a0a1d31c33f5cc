"""People, merges, account codes and card layouts (S003) in the REST API.

Every change goes through the people services, so it is journaled and reaches the
outside systems through the normal sync. A field the caller's role may not edit on the
card is refused with 403; a bad or missing value with 422, naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from accord.model.entities import entity_spec
from accord.service import accounts, card_layout, merges, people, person_links
from accord.service import records as record_service
from accord.service.card_layout import FieldAccessError, FieldRule
from accord.web.auth import Identity, api_admin, api_editor, api_viewer
from accord.web.params import HubId, Position
from accord.web.state import WebState, web_state

router = APIRouter(tags=["people"])


@contextmanager
def _field_rights() -> Iterator[None]:
    try:
        yield
    except FieldAccessError as exc:
        raise HTTPException(403, str(exc)) from exc


# -- shapes ------------------------------------------------------------------------------------
class PersonSummaryOut(BaseModel):
    id: int
    kind: str
    label: str
    code: str | None
    company: int | None
    email: str | None


class LinkedOut(BaseModel):
    id: int
    kind: str
    label: str
    company: int | None
    values: dict[str, Any]


class ReferenceIn(BaseModel):
    kind: str = Field(examples=["linkedin"])
    value: str = Field(examples=["linkedin.com/in/ana-ngata"])


class PersonOut(BaseModel):
    id: int
    fields: dict[str, Any]  # the fields this role sees (card customisation)
    read_only: list[str]  # shown fields this role may not edit
    mandatory: list[str]
    natural_person: int | None
    linked: list[LinkedOut]
    external_refs: list[ReferenceIn]
    seq: int


class PersonAccountIn(BaseModel):
    account_type: Literal["customer", "prospect", "supplier"] = "customer"
    fields: dict[str, Any] = Field(examples=[{"first_name": "Ana", "last_name": "Ngata"}])


class ContactIn(BaseModel):
    company_id: HubId
    fields: dict[str, Any] = Field(examples=[{"first_name": "Rua", "job_title": "Buyer"}])


class PersonEdit(BaseModel):
    fields: dict[str, Any]
    # Answer to "copy this change to all linked records?": None asks, True copies, False aborts.
    copy_to_linked: bool | None = None


class EditOutcomeOut(BaseModel):
    status: Literal["applied", "needs_confirmation", "aborted"]
    changes: dict[int, dict[str, list[Any]]]
    linked: list[LinkedOut]


class LinkIn(BaseModel):
    other_id: HubId
    choices: dict[str, int] | None = None  # field group -> hub id whose values survive


class DifferenceOut(BaseModel):
    group: str
    fields: list[str]
    values: dict[int, dict[str, Any]]


class LinkOutcomeOut(BaseModel):
    status: Literal["linked", "needs_choice", "already_linked"]
    natural_person: int | None
    differences: list[DifferenceOut]
    changes: dict[int, dict[str, list[Any]]]


class MergeIn(BaseModel):
    loser_id: HubId
    choices: dict[str, int] = Field(default_factory=dict, examples=[{"first_name": 42}])


class MergeOut(BaseModel):
    survivor_id: int
    loser_id: int
    merge_id: int
    changes: dict[int, dict[str, list[Any]]]
    repointed: list[str]
    told: list[str]
    contacts_moved: list[int]


class CodeIn(BaseModel):
    code: str


class AccountCodesIn(BaseModel):
    """Only the codes given change; null clears one."""

    debtor_code: str | None = None
    creditor_code: str | None = None


class Changed(BaseModel):
    changed: dict[str, list[Any]]


class RuleIO(BaseModel):
    field: str
    access: Literal["edit", "show", "hidden"] = "edit"
    mandatory: bool = False
    position: Position = 0


class CardOut(BaseModel):
    entity: str
    role: str
    saved: list[RuleIO]  # rows saved for exactly this role ("*": every role)
    effective: list[RuleIO]  # what the role gets: its rows over the "*" rows


class IdOut(BaseModel):
    id: int


def _linked(item: people.LinkedRecord, layout: card_layout.CardLayout) -> LinkedOut:
    return LinkedOut(
        id=item.id,
        kind=item.kind,
        label=item.label,
        company=item.company,
        values=layout.visible(item.values),  # what the role may not see stays out here too
    )


def _differences(items: list[person_links.FieldDifference]) -> list[DifferenceOut]:
    return [DifferenceOut(group=d.group, fields=list(d.fields), values=d.values) for d in items]


def _person(state: WebState, record_id: int, role: str) -> PersonOut:
    record = people.get_person(state.store, record_id)
    layout = card_layout.load_layout(state.store, "person", role)
    names = [*entity_spec("person").fields]
    return PersonOut(
        id=record.id,
        fields=layout.visible(record.data),
        read_only=[n for n in names if layout.access(n) == "show"],
        mandatory=layout.mandatory(),
        natural_person=record.data.get("natural_person"),
        linked=[_linked(r, layout) for r in people.linked_records(state.store, record_id)],
        external_refs=[ReferenceIn(**r) for r in record.data.get("external_refs") or []],
        seq=record.seq,
    )


# -- people ------------------------------------------------------------------------------------
@router.get("/people", response_model=list[PersonSummaryOut])
def list_people(
    q: str = "",
    kind: Literal["account", "contact"] | None = None,
    limit: int = Query(50, ge=1, le=500),
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> list[PersonSummaryOut]:
    found = people.search_people(state.store, q, kind=kind, limit=limit, role=identity.user.role)
    return [PersonSummaryOut(**vars(p)) for p in found]


@router.post("/people/accounts", response_model=IdOut, status_code=201)
def create_person_account(
    body: PersonAccountIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> IdOut:
    with _field_rights():
        new_id = people.create_person_account(
            state.store,
            body.fields,
            account_type=body.account_type,
            role=identity.user.role,
            actor=identity.user.name,
            clock=state.clock,
        )
    return IdOut(id=new_id)


@router.post("/people/contacts", response_model=IdOut, status_code=201)
def create_contact(
    body: ContactIn, identity: Identity = Depends(api_editor), state: WebState = Depends(web_state)
) -> IdOut:
    with _field_rights():
        new_id = people.create_contact(
            state.store,
            body.company_id,
            body.fields,
            role=identity.user.role,
            actor=identity.user.name,
            clock=state.clock,
        )
    return IdOut(id=new_id)


@router.get("/people/{person_id}", response_model=PersonOut)
def get_person(
    person_id: HubId, identity: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> PersonOut:
    return _person(state, person_id, identity.user.role)


@router.patch("/people/{person_id}", response_model=EditOutcomeOut)
def edit_person(
    person_id: HubId,
    body: PersonEdit,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> EditOutcomeOut:
    with _field_rights():
        outcome = people.edit_person(
            state.store,
            person_id,
            body.fields,
            copy_to_linked=body.copy_to_linked,
            role=identity.user.role,
            actor=identity.user.name,
            clock=state.clock,
        )
    layout = card_layout.load_layout(state.store, "person", identity.user.role)
    return EditOutcomeOut(
        status=outcome.status,
        changes=outcome.changes,
        linked=[_linked(r, layout) for r in outcome.linked],
    )


@router.delete("/people/{person_id}", status_code=204)
def delete_person(
    person_id: HubId, identity: Identity = Depends(api_editor), state: WebState = Depends(web_state)
) -> None:
    """Delete a person (soft: the journal keeps it). Each system's policy says what
    happens there: Exo's contact is deactivated, never deleted (S000-07)."""
    record_service.delete_record(
        state.store, person_id, entity="person", actor=identity.user.name, clock=state.clock
    )


@router.get("/people/{person_id}/linked", response_model=list[LinkedOut])
def linked_records(
    person_id: HubId, identity: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[LinkedOut]:
    layout = card_layout.load_layout(state.store, "person", identity.user.role)
    return [_linked(r, layout) for r in people.linked_records(state.store, person_id)]


@router.post("/people/{person_id}/links", response_model=LinkOutcomeOut)
def link_people(
    person_id: HubId,
    body: LinkIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> LinkOutcomeOut:
    outcome = person_links.link_people(
        state.store,
        person_id,
        body.other_id,
        choices=body.choices,
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )
    return LinkOutcomeOut(
        status=outcome.status,
        natural_person=outcome.natural_person,
        differences=_differences(
            person_links.differences_for(
                state.store, "person", outcome.differences, identity.user.role
            )
        ),
        changes=outcome.changes,
    )


@router.delete("/people/{person_id}/links", status_code=204)
def unlink_person(
    person_id: HubId, identity: Identity = Depends(api_editor), state: WebState = Depends(web_state)
) -> Response:
    person_links.unlink_person(state.store, person_id, actor=identity.user.name, clock=state.clock)
    return Response(status_code=204)


@router.get("/people/{person_id}/references", response_model=list[ReferenceIn])
def list_references(
    person_id: HubId, _: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[ReferenceIn]:
    return [ReferenceIn(**r) for r in people.external_references(state.store, person_id)]


@router.post("/people/{person_id}/references", response_model=list[ReferenceIn], status_code=201)
def add_reference(
    person_id: HubId,
    body: ReferenceIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> list[ReferenceIn]:
    refs = people.add_external_reference(
        state.store, person_id, body.kind, body.value, actor=identity.user.name, clock=state.clock
    )
    return [ReferenceIn(**r) for r in refs]


@router.delete("/people/{person_id}/references", response_model=list[ReferenceIn])
def remove_reference(
    person_id: HubId,
    kind: str,
    value: str,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> list[ReferenceIn]:
    refs = people.remove_external_reference(
        state.store, person_id, kind, value, actor=identity.user.name, clock=state.clock
    )
    return [ReferenceIn(**r) for r in refs]


# -- merges ------------------------------------------------------------------------------------
def _merge_out(result: merges.MergeResult) -> MergeOut:
    return MergeOut(**vars(result))


@router.get("/merges/preview", response_model=list[DifferenceOut])
def merge_preview(
    survivor: HubId,
    loser: HubId,
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> list[DifferenceOut]:
    return _differences(merges.merge_preview(state.store, survivor, loser, role=identity.user.role))


@router.post("/people/{person_id}/merge", response_model=MergeOut)
def merge_people(
    person_id: HubId,
    body: MergeIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> MergeOut:
    result = merges.merge_people(
        state.store,
        person_id,
        body.loser_id,
        body.choices,
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )
    return _merge_out(result)


@router.post("/accounts/{account_id}/merge", response_model=MergeOut)
def merge_accounts(
    account_id: HubId,
    body: MergeIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> MergeOut:
    result = merges.merge_accounts(
        state.store,
        account_id,
        body.loser_id,
        body.choices,
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )
    return _merge_out(result)


# -- account codes -----------------------------------------------------------------------------
@router.put("/accounts/{account_id}/code", response_model=Changed)
def change_code(
    account_id: HubId,
    body: CodeIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> Changed:
    with _field_rights():
        changed = accounts.change_code(
            state.store,
            state.config,
            account_id,
            body.code,
            role=identity.user.role,
            actor=identity.user.name,
            clock=state.clock,
        )
    return Changed(changed=changed)


@router.put("/accounts/{account_id}/codes", response_model=Changed)
def set_account_codes(
    account_id: HubId,
    body: AccountCodesIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> Changed:
    given = body.model_dump(exclude_unset=True)
    with _field_rights():
        changed = accounts.set_account_codes(
            state.store,
            account_id,
            role=identity.user.role,
            actor=identity.user.name,
            clock=state.clock,
            **given,
        )
    return Changed(changed=changed)


# -- card customisation ------------------------------------------------------------------------
def _rules(rules: list[FieldRule]) -> list[RuleIO]:
    return [RuleIO(**vars(r)) for r in rules]


def _card(state: WebState, entity: str, role: str) -> CardOut:
    effective = card_layout.load_layout(state.store, entity, role)
    return CardOut(
        entity=entity,
        role=role,
        saved=_rules(card_layout.saved_rules(state.store, entity, role)),
        effective=_rules(list(effective.rules.values())),
    )


@router.get("/cards/{entity}/{role}", response_model=CardOut)
def get_card(
    entity: str, role: str, _: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> CardOut:
    return _card(state, entity, role)


@router.put("/cards/{entity}/{role}", response_model=CardOut)
def save_card(
    entity: str,
    role: str,
    body: list[RuleIO],
    _: Identity = Depends(api_admin),
    state: WebState = Depends(web_state),
) -> CardOut:
    rules = [FieldRule(r.field, r.access, r.mandatory, r.position) for r in body]
    card_layout.save_layout(state.store, entity, role, rules)
    return _card(state, entity, role)

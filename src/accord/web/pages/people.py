"""People pages (S003): list, person card with linked records and references, the
"copy this change to all linked records?" step, side-by-side merges, card customisation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from accord.errors import AccordError, RecordError, ValidationError
from accord.model.entities import entity_spec
from accord.service import accounts, card_layout, contact_sending, merges, people, person_links
from accord.service.accounts import ACCOUNT_CODE_FIELDS
from accord.service.card_layout import Access, FieldAccessError, FieldRule
from accord.service.hub_writes import load
from accord.web import forms
from accord.web.auth import Identity, page_admin, page_editor, page_viewer
from accord.web.pages.deleting import delete_confirmed
from accord.web.params import HubId, form_id, form_position, known_id
from accord.web.state import WebState, web_state
from accord.web.templating import render

router = APIRouter(include_in_schema=False)

# Fields edited on the card; the kind, the company and the codes (their own actions) not.
CARD_FIELDS = [
    name
    for name in entity_spec("person").fields
    if name not in ("kind", "company", *ACCOUNT_CODE_FIELDS)
    and not name.startswith("address.delivery.")
]
LABELS = {"salutation": "Title", "code": "Account code", "is_primary": "Primary contact"}
CHOICE_LABELS = {"title": "Title", "address": "Address"}


def label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    if name.startswith("address."):
        _, kind, part = name.split(".")
        return f"{kind.title()} {part}"
    return name.replace("_", " ").capitalize()


@router.get("/people")
def person_list(
    request: Request,
    q: str = "",
    kind: str = "",
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    found = people.search_people(
        state.store,
        q,
        kind=kind if kind in ("account", "contact") else None,
        limit=100,
        role=identity.user.role,
    )
    return render(
        request,
        "people/list.html",
        identity,
        found=found,
        q=q,
        kind=kind,
        types=people.ACCOUNT_TYPES,
        title="People",
    )


@router.post("/people")
async def create_account(
    request: Request,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    values = forms.posted(form, ["first_name", "last_name", "email"])
    try:
        new_id = people.create_person_account(
            state.store,
            values,
            account_type=str(form.get("account_type") or "customer"),
            role=identity.user.role,
            actor=identity.user.name,
            clock=state.clock,
        )
    except RecordError as exc:
        found = people.search_people(state.store, limit=100, role=identity.user.role)
        return render(
            request,
            "people/list.html",
            identity,
            status_code=_status(exc),
            found=found,
            q="",
            kind="",
            types=people.ACCOUNT_TYPES,
            error=exc,
            title="People",
        )
    return RedirectResponse(f"/people/{new_id}", status_code=303)


def _status(exc: AccordError) -> int:
    return 403 if isinstance(exc, FieldAccessError) else 422


def _card(
    request: Request, identity: Identity, state: WebState, person_id: int, **extra: Any
) -> Response:
    record = people.get_person(state.store, person_id)
    layout = card_layout.load_layout(state.store, "person", identity.user.role)
    names = [n for n in CARD_FIELDS if n != "account_type" or record.data.get("kind") == "account"]
    order = list(layout.visible(dict.fromkeys(names)))
    company = None
    if record.data.get("company") is not None:
        try:
            company = people.company_label(state.store, int(record.data["company"]))
        except AccordError:
            company = None
    context: dict[str, Any] = {
        "record": record,
        "values": record.data,
        "rendered": {},  # the form's values are the ones it was rendered with
        "fields": [(n, label(n), layout.access(n)) for n in order],
        "mandatory": set(layout.mandatory()),
        "linked": [
            replace(r, values=layout.visible(r.values))
            for r in people.linked_records(state.store, person_id)
        ],
        "refs": record.data.get("external_refs") or [],
        "reference_kinds": people.REFERENCE_KINDS,
        "company": company,
        "codes": [(n, label(n), layout.access(n)) for n in ACCOUNT_CODE_FIELDS],
        "account_types": people.ACCOUNT_TYPES,
        "send_options": (
            contact_sending.send_options(state.config, state.store, person_id)
            if record.data.get("kind") == "contact"
            else []
        ),
        "error": None,
        "title": record.data.get("first_name") or f"Person {person_id}",
    }
    context.update(extra)
    status_code = _status(context["error"]) if context["error"] else 200
    return render(request, "people/card.html", identity, status_code=status_code, **context)


@router.get("/people/{person_id}")
def card(
    request: Request,
    person_id: HubId,
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    return _card(request, identity, state, person_id)


@router.post("/people/{person_id}")
async def edit(
    request: Request,
    person_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    layout = card_layout.load_layout(state.store, "person", identity.user.role)
    editable = [n for n in CARD_FIELDS if layout.access(n) == "edit"]
    typed = forms.posted(form, editable)
    # Only what the user changed: a field changed by someone else since the card was
    # opened keeps their value unless the user changed it too.
    rendered = forms.rendered(form, editable)
    values = forms.changed(typed, rendered)
    answer = form.get("copy_to_linked")
    copy = {"yes": True, "no": False}.get(answer) if isinstance(answer, str) else None
    try:
        outcome = people.edit_person(
            state.store,
            person_id,
            values,
            copy_to_linked=copy,
            role=identity.user.role,
            actor=identity.user.name,
            clock=state.clock,
        )
    except RecordError as exc:
        current = people.get_person(state.store, person_id).data
        return _card(
            request,
            identity,
            state,
            person_id,
            values={**current, **typed},
            rendered=rendered,
            error=exc,
        )
    if outcome.status == "needs_confirmation":
        record = people.get_person(state.store, person_id)
        copied = {
            n: values[n]
            for n in people.COPIED_FIELDS
            if n in values and values[n] != (record.data.get(n) or "")
        }
        return render(
            request,
            "people/confirm_copy.html",
            identity,
            record=record,
            values=values,
            copied=copied,
            linked=outcome.linked,
            title="Copy to linked records?",
        )
    note = "Cancelled: nothing was changed." if outcome.status == "aborted" else "Saved."
    return RedirectResponse(f"/people/{person_id}?{urlencode({'message': note})}", status_code=303)


@router.post("/people/{person_id}/send/{system}")
def send_to_system(
    request: Request,
    person_id: HubId,
    system: str,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    """The "send to ERP" action (S001-02): create the contact there now, then show its state."""
    people.get_person(state.store, person_id)
    if system not in state.config.systems:
        raise HTTPException(404, f"no system named {system!r}")
    try:
        sent = contact_sending.send_contact(
            state.config, system, person_id, store=state.store, clock=state.clock
        )
    except AccordError as exc:  # refused, or the link is busy with another run
        return _card(request, identity, state, person_id, error=exc)
    note = f"Sent to {system}: {sent.state}."
    if sent.errors:
        note += " " + "; ".join(f"{name or 'record'}: {message}" for name, message in sent.errors)
    return RedirectResponse(
        f"/people/{person_id}?{urlencode({'message': note})}#send", status_code=303
    )


@router.post("/people/{person_id}/delete")
async def delete_person(
    request: Request,
    person_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    try:
        return delete_confirmed(form, state, identity, person_id, "person", "/people")
    except ValidationError as error:
        return _card(request, identity, state, person_id, error=error)


@router.post("/people/{person_id}/codes")
async def change_codes(
    request: Request,
    person_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    """A person account's code (checked against the systems owning codes) and its debtor and
    creditor codes, each unique."""
    form = await request.form()
    names = list(ACCOUNT_CODE_FIELDS)
    # Only the codes the user changed: one changed by someone else meanwhile is kept.
    given = forms.changed(forms.posted(form, names), forms.rendered(form, names))
    current = people.get_person(state.store, person_id).data
    role, actor = identity.user.role, identity.user.name
    try:
        code = given.get("code", "").strip()
        if code and code != current.get("code"):
            accounts.change_code(
                state.store,
                state.config,
                person_id,
                code,
                role=role,
                actor=actor,
                clock=state.clock,
            )
        others = {
            n: given[n].strip() or None
            for n in ("debtor_code", "creditor_code")
            if n in given and (given[n].strip() or None) != current.get(n)
        }
        if others:
            accounts.set_account_codes(
                state.store, person_id, role=role, actor=actor, clock=state.clock, **others
            )
    except RecordError as exc:
        return _card(request, identity, state, person_id, error=exc)
    return RedirectResponse(
        f"/people/{person_id}?{urlencode({'message': 'Codes saved.'})}", status_code=303
    )


@router.post("/people/{person_id}/references")
async def add_reference(
    request: Request,
    person_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    try:
        people.add_external_reference(
            state.store,
            person_id,
            str(form.get("kind") or ""),
            str(form.get("value") or ""),
            actor=identity.user.name,
            clock=state.clock,
        )
    except ValidationError as exc:
        return _card(request, identity, state, person_id, error=exc)
    return RedirectResponse(f"/people/{person_id}#references", status_code=303)


@router.post("/people/{person_id}/references/remove")
async def remove_reference(
    request: Request,
    person_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    people.remove_external_reference(
        state.store,
        person_id,
        str(form.get("kind") or ""),
        str(form.get("value") or ""),
        actor=identity.user.name,
        clock=state.clock,
    )
    return RedirectResponse(f"/people/{person_id}#references", status_code=303)


# -- linking and merging -----------------------------------------------------------------------
def _choices(form: FormData, first: int, second: int) -> dict[str, int]:
    chosen: dict[str, int] = {}
    for key, value in form.multi_items():
        picked = (
            int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None
        )
        if key.startswith("choice.") and picked in (first, second) and picked is not None:
            chosen[key.removeprefix("choice.")] = picked
    return chosen


def _other_id(form: FormData) -> int:
    text = str(form.get("other") or "").strip()
    if not (text.isascii() and text.isdigit()):
        raise ValidationError("give the hub id of the other record", field="other")
    return known_id(int(text))


@router.post("/people/{person_id}/link")
async def link(
    request: Request,
    person_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    try:
        other = _other_id(form)
        chosen = _choices(form, person_id, other)
        outcome = person_links.link_people(
            state.store,
            person_id,
            other,
            choices=chosen or None,
            actor=identity.user.name,
            clock=state.clock,
            role=identity.user.role,
        )
    except AccordError as exc:
        return _card(request, identity, state, person_id, error=exc)
    if outcome.status == "needs_choice":
        return _merge_page(request, identity, state, person_id, other, "link", outcome.differences)
    return RedirectResponse(
        f"/people/{person_id}?{urlencode({'message': 'Linked.'})}", status_code=303
    )


def _merge_page(
    request: Request,
    identity: Identity,
    state: WebState,
    first: HubId,
    second: HubId,
    mode: str,
    groups: list[person_links.FieldDifference],
    error: AccordError | None = None,
) -> Response:
    with state.store.transaction() as conn:
        left, right = load(conn, first), load(conn, second)
    groups = person_links.differences_for(state.store, left.entity, groups, identity.user.role)
    rows = [
        (
            g.group,
            CHOICE_LABELS.get(g.group) or label(g.group),
            _shown(g.values[first]),
            _shown(g.values[second]),
        )
        for g in groups
    ]
    return render(
        request,
        "people/merge.html",
        identity,
        status_code=_status(error) if error else 200,
        left=left,
        right=right,
        rows=rows,
        mode=mode,
        error=error,
        entity_label=entity_spec(left.entity).label,
        title="Link people" if mode == "link" else "Merge records",
    )


def _shown(values: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in values.values() if v not in (None, "")) or "—"


@router.get("/merge")
def merge_form(
    request: Request,
    survivor: HubId,
    loser: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    groups = merges.merge_preview(state.store, survivor, loser)
    return _merge_page(request, identity, state, survivor, loser, "merge", groups)


@router.post("/merge")
async def merge(
    request: Request,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    survivor, loser = form_id(form.get("survivor"), "survivor"), form_id(form.get("loser"), "loser")
    chosen = _choices(form, survivor, loser)
    with state.store.transaction() as conn:
        entity = load(conn, survivor).entity
    merge = merges.merge_people if entity == "person" else merges.merge_accounts
    try:
        merge(
            state.store,
            survivor,
            loser,
            chosen,
            actor=identity.user.name,
            clock=state.clock,
            role=identity.user.role,
        )
    except (ValidationError, FieldAccessError) as exc:
        groups = merges.merge_preview(state.store, survivor, loser)
        return _merge_page(request, identity, state, survivor, loser, "merge", groups, exc)
    target = f"/people/{survivor}" if entity == "person" else f"/customers/{survivor}"
    return RedirectResponse(f"{target}?{urlencode({'message': 'Merged.'})}", status_code=303)


# -- card customisation ------------------------------------------------------------------------
@router.get("/cards/{entity}")
def layout_form(
    request: Request,
    entity: str,
    role: str = "editor",
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    return _layout_page(request, identity, state, entity, role, None)


def _layout_page(
    request: Request,
    identity: Identity,
    state: WebState,
    entity: str,
    role: str,
    error: AccordError | None,
) -> Response:
    saved = {r.field: r for r in card_layout.saved_rules(state.store, entity, role)}
    rows = [
        (n, label(n), saved.get(n) or FieldRule(n, position=i))
        for i, n in enumerate(entity_spec(entity).fields)
    ]
    return render(
        request,
        "people/card_layout.html",
        identity,
        status_code=422 if error else 200,
        entity=entity,
        role=role,
        roles=(*card_layout.ROLES, card_layout.EVERY_ROLE),
        rows=rows,
        saved=bool(request.query_params.get("saved")),
        error=error,
        title=f"Customise the {entity} card",
    )


@router.post("/cards/{entity}")
async def save_layout(
    request: Request,
    entity: str,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    role = str(form.get("role") or "")
    rules = []
    for index, name in enumerate(entity_spec(entity).fields):
        raw = form.get(f"access.{name}")
        access: Access = next((a for a in card_layout.ACCESS if a == raw), "edit")
        position = form_position(form.get(f"position.{name}"), index)
        rules.append(FieldRule(name, access, form.get(f"mandatory.{name}") == "on", position))
    if form.get("reset"):
        rules = []
    try:
        card_layout.save_layout(state.store, entity, role, rules)
    except ValidationError as exc:
        return _layout_page(request, identity, state, entity, role, exc)
    return RedirectResponse(
        f"/cards/{entity}?{urlencode({'role': role, 'saved': 1})}", status_code=303
    )

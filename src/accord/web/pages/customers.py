"""Customer pages: the list with live search, the record card and its tabs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile
from starlette.responses import Response

from accord.errors import AccordError, ValidationError
from accord.model.entities import entity_spec
from accord.service import customers, monitor, people
from accord.service.card_layout import load_layout
from accord.service.unleashed import allowed_account_managers
from accord.web import forms
from accord.web.auth import Identity, page_editor, page_viewer
from accord.web.pages.deleting import delete_confirmed
from accord.web.params import HubId
from accord.web.state import WebState, web_state
from accord.web.templating import render

router = APIRouter(prefix="/customers", include_in_schema=False)
TABS = ("details", "contacts", "history", "orders", "credit", "sync")
FIELDS = [n for n, _ in (*customers.BASIC_FIELDS, *customers.SETTINGS_FIELDS)]
FLAGS = [name for name, _ in customers.FLAG_FIELDS]
CONTACT_FIELDS = [name for name, _ in customers.CONTACT_FIELDS]


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    month: str
    cents: int


def chart_bars(monthly: list[tuple[str, int]], width: int = 600, height: int = 160) -> list[Bar]:
    """Bars of an inline SVG chart of net sales per month (returns drawn as zero)."""
    if not monthly:
        return []
    top = max(max(c for _, c in monthly), 1)
    step = width // len(monthly)
    bars = []
    for i, (month, cents) in enumerate(monthly):
        h = int(max(cents, 0) / top * (height - 20))
        bars.append(Bar(i * step + 4, height - h, h, month, cents))
    return bars


def _editable_flags(state: WebState, identity: Identity) -> list[str]:
    # An unticked box is not sent at all: only flags the role may change are read as
    # "off" when absent; the others are left as they are.
    layout = load_layout(state.store, "company", identity.user.role)
    return [name for name in FLAGS if layout.access(name) == "edit"]


def _parse_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("")
def customer_list(
    request: Request,
    q: str = "",
    page: int = 1,
    inactive: bool = False,
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    found = customers.search_customers(
        state.store, q, page=page, include_inactive=inactive, role=identity.user.role
    )
    if found.page > found.pages:  # past the end (an old link, a number typed in): the last
        found = customers.search_customers(
            state.store, q, page=found.pages, include_inactive=inactive, role=identity.user.role
        )
    template = (
        "customers/_rows.html" if request.headers.get("hx-request") else "customers/list.html"
    )
    return render(
        request, template, identity, found=found, q=q, inactive=inactive, title="Customers"
    )


@router.get("/new")
def new_form(
    request: Request,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    return render(
        request,
        "customers/new.html",
        identity,
        values={"active": True, "price_level": "A"},
        error=None,
        title="New customer",
        **_field_lists(state, identity.user.role),
    )


def _field_lists(state: WebState, role: str) -> dict[str, Any]:
    # With account-manager sync on, only sales people the ERP knows are offered (S001-04).
    managers, narrowed_by = allowed_account_managers(state.config, state.store)
    # The company card layout (S003-05): hidden fields are left out, shown ones read-only.
    layout = load_layout(state.store, "company", role)

    def shown(fields: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(n, label) for n, label in fields if layout.access(n) != "hidden"]

    every = (*customers.BASIC_FIELDS, *customers.SETTINGS_FIELDS, *customers.FLAG_FIELDS)
    return {
        "managers": [(c.record_id, c.name) for c in managers],
        "managers_narrowed_by": narrowed_by,
        "basic_fields": shown(customers.BASIC_FIELDS),
        "settings_fields": shown(customers.SETTINGS_FIELDS),
        "flag_fields": shown(customers.FLAG_FIELDS),
        "read_only": {n for n, _ in every if layout.access(n) == "show"},
        # What the card shows outside the form (code, photo, credit) follows the layout too.
        "hidden": {n for n in entity_spec("company").fields if layout.access(n) == "hidden"},
        "required": {name for name, _ in customers.REQUIRED} | set(layout.mandatory()),
        "price_levels": customers.PRICE_LEVELS,
        "ar_types": customers.AR_ACCOUNT_TYPES,
    }


@router.post("/new")
async def create(
    request: Request,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    values = forms.posted(form, FIELDS, _editable_flags(state, identity))
    try:
        new_id = customers.create_customer(
            state.store,
            values,
            actor=identity.user.name,
            clock=state.clock,
            config=state.config,
            role=identity.user.role,
        )
    except ValidationError as exc:
        return render(
            request,
            "customers/new.html",
            identity,
            status_code=422,
            values=values,
            error=exc,
            title="New customer",
            **_field_lists(state, identity.user.role),
        )
    return RedirectResponse(f"/customers/{new_id}", status_code=303)


def _card_values(data: dict[str, Any]) -> dict[str, Any]:
    # A record from a system with one name field shows that name as the company.
    if not any(data.get(f) for f in ("first_name", "last_name", "company_name")) and data.get(
        "name"
    ):
        return {**data, "company_name": data["name"]}
    return data


def _card(
    request: Request, identity: Identity, state: WebState, customer_id: int, tab: str, **extra: Any
) -> Response:
    record = customers.get_customer(state.store, customer_id)
    tab = tab if tab in TABS else "details"
    context: dict[str, Any] = {
        "record": record,
        "values": extra.pop("values", _card_values(record.data)),
        "rendered": {},  # the form's values are the ones it was rendered with
        "stats": customers.stats(state.store, customer_id),
        "tab": tab,
        "tabs": TABS,
        "title": record.data.get("name") or f"Customer {customer_id}",
        "error": None,
        **_field_lists(state, identity.user.role),
    }
    if tab == "contacts":
        # The person card layout (S003-05): hidden fields are not shown, and only the ones
        # the role may edit are offered in the form (an input left blank would clear one).
        layout = load_layout(state.store, "person", identity.user.role)
        fields = customers.CONTACT_FIELDS
        context["contacts"] = customers.contacts(state.store, customer_id)
        context["contact_fields"] = [(n, t) for n, t in fields if layout.access(n) != "hidden"]
        context["contact_inputs"] = [(n, t) for n, t in fields if layout.access(n) == "edit"]
    elif tab == "history":
        start = _parse_day(request.query_params.get("start"))
        end = _parse_day(request.query_params.get("end"))
        rows = customers.history(state.store, customer_id, start, end)
        context.update(
            transactions=rows, start=start, end=end, bars=chart_bars(customers.monthly_totals(rows))
        )
    elif tab == "orders":
        context.update(
            orders=customers.orders_of(state.store, customer_id), order_types=customers.ORDER_TYPES
        )
    elif tab == "credit":
        entries, balance = customers.credit_history(state.store, customer_id)
        context.update(entries=entries, balance=balance, credit_kinds=customers.CREDIT_KINDS)
    elif tab == "sync":
        context["links"] = monitor.record_sync_state(
            state.store, state.config, customer_id, identity.user.role
        )
    context.update(extra)
    status_code = 422 if context.get("error") else 200
    return render(request, "customers/card.html", identity, status_code=status_code, **context)


@router.get("/{customer_id}")
def card(
    request: Request,
    customer_id: HubId,
    tab: str = "details",
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    return _card(request, identity, state, customer_id, tab)


@router.post("/{customer_id}")
async def update(
    request: Request,
    customer_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    values = forms.posted(form, FIELDS, _editable_flags(state, identity))
    # Only what the user changed: a field changed by someone else since the form was
    # opened keeps their value unless the user changed it too.
    rendered = forms.rendered(form, [*FIELDS, *FLAGS])
    try:
        customers.update_customer(
            state.store,
            customer_id,
            forms.changed(values, rendered),
            actor=identity.user.name,
            clock=state.clock,
            config=state.config,
            role=identity.user.role,
        )
    except ValidationError as exc:
        current = customers.get_customer(state.store, customer_id).data
        return _card(
            request,
            identity,
            state,
            customer_id,
            "details",
            values={**current, **values},
            rendered=rendered,
            error=exc,
        )
    return RedirectResponse(f"/customers/{customer_id}?saved=1", status_code=303)


@router.post("/{customer_id}/delete")
async def delete(
    request: Request,
    customer_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    try:
        return delete_confirmed(form, state, identity, customer_id, "company", "/customers")
    except ValidationError as error:
        return _card(request, identity, state, customer_id, "details", error=error)


@router.post("/{customer_id}/photo")
async def upload_photo(
    request: Request,
    customer_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    photo = form.get("photo")
    try:
        if not isinstance(photo, UploadFile):
            raise ValidationError(
                "choose a photo to upload",
                entity="company",
                key=str(customer_id),
                field="photo_url",
            )
        content = await photo.read(customers.MAX_PHOTO_BYTES + 1)
        customers.set_photo(
            state.store,
            customer_id,
            content,
            photo.content_type or "",
            actor=identity.user.name,
            clock=state.clock,
            role=identity.user.role,
        )
    except ValidationError as exc:
        return _card(request, identity, state, customer_id, "details", error=exc)
    finally:
        await form.close()  # the upload's spooled file
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


@router.get("/{customer_id}/photo")
def photo(
    customer_id: HubId,
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    found = customers.get_photo(state.store, customer_id)
    layout = load_layout(state.store, "company", identity.user.role)
    if found is None or layout.access("photo_url") == "hidden":  # as the card hides it
        return Response(status_code=404)
    return Response(
        found[0], media_type=found[1], headers={"Cache-Control": "private, max-age=86400"}
    )


@router.post("/{customer_id}/contacts")
async def add_contact(
    request: Request,
    customer_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    values = forms.posted(form, CONTACT_FIELDS)
    contact_id = form.get("contact_id")
    answer = form.get("copy_to_linked")
    copy = {"yes": True, "no": False}.get(answer) if isinstance(answer, str) else None
    try:
        if isinstance(contact_id, str) and contact_id.isascii() and contact_id.isdigit():
            if int(contact_id) not in {c.id for c in customers.contacts(state.store, customer_id)}:
                raise AccordError(f"customer {customer_id} has no contact {contact_id}")
            # The form is not filled in with the chosen contact's values: a blank input
            # leaves the value as it is (a field is cleared on the contact's own card).
            values = {name: value for name, value in values.items() if value.strip()}
            outcome = customers.edit_contact(
                state.store,
                int(contact_id),
                values,
                actor=identity.user.name,
                clock=state.clock,
                role=identity.user.role,
                copy_to_linked=copy,
            )
            if outcome.status == "needs_confirmation":  # S003-02: ask, as the person card does
                contact = people.get_person(state.store, int(contact_id))
                return render(
                    request,
                    "people/confirm_copy.html",
                    identity,
                    record=contact,
                    values={**values, "contact_id": contact_id},
                    copied={
                        n: values[n]
                        for n in people.COPIED_FIELDS
                        if n in values and values[n] != (contact.data.get(n) or "")
                    },
                    linked=outcome.linked,
                    action=f"/customers/{customer_id}/contacts",
                    title="Copy to linked records?",
                )
        else:
            customers.add_contact(
                state.store,
                customer_id,
                values,
                actor=identity.user.name,
                clock=state.clock,
                role=identity.user.role,
            )
    except ValidationError as exc:
        shown = {**values, "contact_id": contact_id if isinstance(contact_id, str) else ""}
        return _card(
            request, identity, state, customer_id, "contacts", error=exc, contact_values=shown
        )
    return RedirectResponse(f"/customers/{customer_id}?tab=contacts", status_code=303)


@router.post("/{customer_id}/orders")
async def add_order(
    request: Request,
    customer_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    try:
        amount = float(str(form.get("amount_due") or 0))
    except ValueError:
        amount = -1
    try:
        if amount < 0:
            raise ValidationError(
                "not an amount", entity="company", key=str(customer_id), field="amount_due"
            )
        customers.add_order(
            state.store,
            customer_id,
            number=str(form.get("number") or ""),
            order_type=str(form.get("order_type") or ""),
            status=str(form.get("status") or "pending"),
            location=str(form.get("location") or "") or None,
            amount_due_cents=customers.to_cents(amount, customer_id, "amount_due"),
            clock=state.clock,
        )
    except ValidationError as exc:
        return _card(request, identity, state, customer_id, "orders", error=exc)
    return RedirectResponse(f"/customers/{customer_id}?tab=orders", status_code=303)


@router.post("/{customer_id}/credit")
async def add_credit(
    request: Request,
    customer_id: HubId,
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    try:
        try:
            amount = float(str(form.get("amount") or ""))
        except ValueError:
            raise ValidationError(
                "not an amount", entity="company", key=str(customer_id), field="amount"
            ) from None
        customers.add_credit_entry(
            state.store,
            customer_id,
            kind=str(form.get("kind") or ""),
            amount_cents=customers.to_cents(amount, customer_id, "amount"),
            reference=str(form.get("reference") or "") or None,
            note=str(form.get("note") or "") or None,
            clock=state.clock,
        )
    except ValidationError as exc:
        return _card(request, identity, state, customer_id, "credit", error=exc)
    return RedirectResponse(f"/customers/{customer_id}?tab=credit", status_code=303)

"""Customer records (S002) in the REST API."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from accord.service import customers
from accord.service import records as record_service
from accord.service.card_layout import load_layout
from accord.store.types import HubRecord
from accord.web.auth import Identity, api_editor, api_viewer
from accord.web.params import HubId
from accord.web.state import WebState, web_state

router = APIRouter(prefix="/customers", tags=["customers"])


class CustomerSummary(BaseModel):
    id: int
    account_number: str | None
    name: str
    phone: str | None
    email: str | None
    city: str | None
    active: bool


class CustomerList(BaseModel):
    items: list[CustomerSummary]
    total: int
    page: int
    size: int


class StatsOut(BaseModel):
    sales: int
    returns: int
    visits: int
    campaign_points: int
    spent: float


class Customer(BaseModel):
    id: int
    fields: dict[str, Any]
    stats: StatsOut
    seq: int


class CustomerIn(BaseModel):
    """Card fields by canonical name (``code`` is the account number; empty: next in sequence).

    For a customer, ``name`` (the name it is returned under) is taken as ``company_name``.
    """

    fields: dict[str, Any] = Field(
        examples=[
            {
                "first_name": "Ana",
                "last_name": "Ngata",
                "home_location": "Main St",
                "location_group": "All",
            }
        ]
    )


class Changed(BaseModel):
    changed: dict[str, list[Any]]


class ContactEdit(CustomerIn):
    # S003-02: when email or phones change and linked records of the same person hold
    # other values, the edit answers 409 listing them until this says yes (copy) or no.
    copy_to_linked: bool | None = None


class ContactOut(BaseModel):
    id: int
    fields: dict[str, Any]


class TransactionOut(BaseModel):
    id: int
    number: str
    kind: str
    amount: float
    points: int
    location: str | None
    at: str
    date: str  # the shop's calendar date of the sale (YYYY-MM-DD)


class History(BaseModel):
    items: list[TransactionOut]
    monthly: list[tuple[str, float]]


class OrderIn(BaseModel):
    number: str
    order_type: str
    status: str = "pending"
    location: str | None = None
    amount_due: float = 0
    placed_at: str | None = None
    closed_at: str | None = None


class OrderOut(BaseModel):
    id: int
    number: str
    order_type: str
    status: str
    location: str | None
    amount_due: float
    placed_at: str
    closed_at: str | None


class CreditIn(BaseModel):
    kind: str
    amount: float
    reference: str | None = None
    note: str | None = None


class CreditEntryOut(BaseModel):
    id: int
    kind: str
    amount: float
    reference: str | None
    note: str | None
    at: str


class Credit(BaseModel):
    balance: float
    credit_limit: float | None
    ar_account_type: str | None
    items: list[CreditEntryOut]


class IdOut(BaseModel):
    id: int


def _customer(state: WebState, record: HubRecord, role: str) -> Customer:
    s = customers.stats(state.store, record.id)
    return Customer(
        id=record.id,
        # The card layout's hidden fields for this role are left out (S003-05).
        fields=load_layout(state.store, "company", role).visible(record.data),
        seq=record.seq,
        stats=StatsOut(
            sales=s.sales,
            returns=s.returns,
            visits=s.visits,
            campaign_points=s.points,
            spent=s.spent_cents / 100,
        ),
    )


@router.get("", response_model=CustomerList)
def list_customers(
    q: str = "",
    page: int = Query(1, ge=1),
    size: int = Query(25, ge=1, le=200),
    include_inactive: bool = False,
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> CustomerList:
    found = customers.search_customers(
        state.store,
        q,
        page=page,
        size=size,
        include_inactive=include_inactive,
        role=identity.user.role,
    )
    return CustomerList(
        items=[
            CustomerSummary(
                id=r.id,
                account_number=r.code,
                name=r.name,
                phone=r.phone,
                email=r.email,
                city=r.city,
                active=r.active,
            )
            for r in found.items
        ],
        total=found.total,
        page=found.page,
        size=found.size,
    )


@router.post("", response_model=Customer, status_code=201)
def create_customer(
    body: CustomerIn, identity: Identity = Depends(api_editor), state: WebState = Depends(web_state)
) -> Customer:
    new_id = customers.create_customer(
        state.store,
        body.fields,
        actor=identity.user.name,
        clock=state.clock,
        config=state.config,
        role=identity.user.role,
    )
    return _customer(state, customers.get_customer(state.store, new_id), identity.user.role)


@router.get("/{customer_id}", response_model=Customer)
def get_customer(
    customer_id: HubId,
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> Customer:
    record = customers.get_customer(state.store, customer_id)
    return _customer(state, record, identity.user.role)


@router.patch("/{customer_id}", response_model=Changed)
def update_customer(
    customer_id: HubId,
    body: CustomerIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> Changed:
    changed = customers.update_customer(
        state.store,
        customer_id,
        body.fields,
        actor=identity.user.name,
        clock=state.clock,
        config=state.config,
        role=identity.user.role,
    )
    return Changed(changed=changed)


@router.delete("/{customer_id}", status_code=204)
def delete_customer(
    customer_id: HubId,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> None:
    """Delete a customer (soft: the journal keeps it); each system's policy says what
    happens there (usually: deactivated)."""
    record_service.delete_record(
        state.store, customer_id, entity="company", actor=identity.user.name, clock=state.clock
    )


@router.put("/{customer_id}/photo", response_model=Changed)
async def upload_photo(
    customer_id: HubId,
    photo: UploadFile = File(...),
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> Changed:
    content = await photo.read(customers.MAX_PHOTO_BYTES + 1)
    url = customers.set_photo(
        state.store,
        customer_id,
        content,
        photo.content_type or "",
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )
    return Changed(changed={"photo_url": [None, url]})


@router.get(
    "/{customer_id}/photo", response_class=Response, responses={200: {"content": {"image/*": {}}}}
)
def get_photo(
    customer_id: HubId,
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    found = customers.get_photo(state.store, customer_id)
    layout = load_layout(state.store, "company", identity.user.role)
    if found is None or layout.access("photo_url") == "hidden":  # as the card hides it
        raise HTTPException(404, f"customer {customer_id} has no photo")
    content, content_type = found
    return Response(
        content, media_type=content_type, headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get("/{customer_id}/contacts", response_model=list[ContactOut])
def list_contacts(
    customer_id: HubId,
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> list[ContactOut]:
    customers.get_customer(state.store, customer_id)
    layout = load_layout(state.store, "person", identity.user.role)
    return [
        ContactOut(id=c.id, fields=layout.visible(c.data))
        for c in customers.contacts(state.store, customer_id)
    ]


@router.post("/{customer_id}/contacts", response_model=IdOut, status_code=201)
def add_contact(
    customer_id: HubId,
    body: CustomerIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> IdOut:
    return IdOut(
        id=customers.add_contact(
            state.store,
            customer_id,
            body.fields,
            actor=identity.user.name,
            clock=state.clock,
            role=identity.user.role,
        )
    )


@router.patch("/{customer_id}/contacts/{contact_id}", response_model=Changed)
def edit_contact(
    customer_id: HubId,
    contact_id: HubId,
    body: ContactEdit,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> Changed:
    if contact_id not in {c.id for c in customers.contacts(state.store, customer_id)}:
        raise HTTPException(404, f"customer {customer_id} has no contact {contact_id}")
    outcome = customers.edit_contact(
        state.store,
        contact_id,
        body.fields,
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
        copy_to_linked=body.copy_to_linked,
    )
    if outcome.status == "needs_confirmation":
        linked = ", ".join(f"{r.label} (record {r.id})" for r in outcome.linked)
        raise HTTPException(
            409,
            f"contact {contact_id} is the same person as {linked}: copy the change to them"
            " (copy_to_linked: true) or cancel it (false)",
        )
    return Changed(changed=outcome.changes.get(contact_id, {}))


@router.get("/{customer_id}/history", response_model=History)
def customer_history(
    customer_id: HubId,
    start: date | None = None,
    end: date | None = None,
    _: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> History:
    customers.get_customer(state.store, customer_id)
    rows = customers.history(state.store, customer_id, start, end)
    return History(
        items=[
            TransactionOut(
                id=r.id,
                number=r.number,
                kind=r.kind,
                amount=r.amount_cents / 100,
                points=r.points,
                location=r.location,
                at=r.at,
                date=r.local_date,
            )
            for r in rows
        ],
        monthly=[(month, cents / 100) for month, cents in customers.monthly_totals(rows)],
    )


def _order(r: Any) -> OrderOut:
    return OrderOut(
        id=r.id,
        number=r.number,
        order_type=r.order_type,
        status=r.status,
        location=r.location,
        amount_due=r.amount_due_cents / 100,
        placed_at=r.placed_at,
        closed_at=r.closed_at,
    )


@router.get("/{customer_id}/orders", response_model=list[OrderOut])
def list_orders(
    customer_id: HubId, _: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[OrderOut]:
    customers.get_customer(state.store, customer_id)
    return [_order(r) for r in customers.orders_of(state.store, customer_id)]


@router.post("/{customer_id}/orders", response_model=IdOut, status_code=201)
def add_order(
    customer_id: HubId,
    body: OrderIn,
    _: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> IdOut:
    new_id = customers.add_order(
        state.store,
        customer_id,
        number=body.number,
        order_type=body.order_type,
        status=body.status,
        location=body.location,
        amount_due_cents=customers.to_cents(body.amount_due, customer_id, "amount_due"),
        placed_at=body.placed_at,
        closed_at=body.closed_at,
        clock=state.clock,
    )
    return IdOut(id=new_id)


@router.get("/{customer_id}/credit", response_model=Credit)
def credit(
    customer_id: HubId,
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> Credit:
    record = customers.get_customer(state.store, customer_id)
    rows, balance = customers.credit_history(state.store, customer_id)
    # The card layout's hidden fields stay out here as on the card (S003-05).
    shown = load_layout(state.store, "company", identity.user.role).visible(record.data)
    limit = shown.get("credit_limit")
    return Credit(
        balance=balance / 100,
        credit_limit=float(limit) if limit is not None else None,
        ar_account_type=shown.get("ar_account_type"),
        items=[
            CreditEntryOut(
                id=r.id,
                kind=r.kind,
                amount=r.amount_cents / 100,
                reference=r.reference,
                note=r.note,
                at=r.at,
            )
            for r in rows
        ],
    )


@router.post("/{customer_id}/credit", response_model=IdOut, status_code=201)
def add_credit(
    customer_id: HubId,
    body: CreditIn,
    _: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> IdOut:
    new_id = customers.add_credit_entry(
        state.store,
        customer_id,
        kind=body.kind,
        amount_cents=customers.to_cents(body.amount, customer_id, "amount"),
        reference=body.reference,
        note=body.note,
        clock=state.clock,
    )
    return IdOut(id=new_id)

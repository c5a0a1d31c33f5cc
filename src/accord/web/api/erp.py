"""What a person asks of the ERP from the hub, in the REST API: sending a contact on
request (S001-02) and the account managers a company may be given (S001-04)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from accord.service import contact_sending
from accord.service.contact_sending import ContactSyncState
from accord.service.hub_writes import load
from accord.service.unleashed import allowed_account_managers
from accord.web.auth import Identity, api_editor, api_viewer
from accord.web.params import HubId
from accord.web.state import WebState, web_state

router = APIRouter(tags=["sync"])


class ContactStateOut(BaseModel):
    record_id: int
    system: str
    state: str  # "not sent" | "sending" | "synced"
    external_id: str | None
    errors: list[dict[str, str | None]]


class SendOptionOut(BaseModel):
    system: str
    state: ContactStateOut
    can_send: bool
    refusal: str | None


class AccountManagerOut(BaseModel):
    id: int
    name: str
    email: str | None


class AccountManagers(BaseModel):
    items: list[AccountManagerOut]
    # Systems with account-manager sync on: only their matching sales people are offered.
    narrowed_by: list[str]


def _state(state: ContactSyncState) -> ContactStateOut:
    return ContactStateOut(
        record_id=state.record_id,
        system=state.system,
        state=state.state,
        external_id=state.external_id,
        errors=[{"field": name, "message": message} for name, message in state.errors],
    )


def _contact(state: WebState, person_id: int) -> None:
    with state.store.transaction() as conn:
        load(conn, person_id, "person")


@router.get("/people/{person_id}/send", response_model=list[SendOptionOut])
def send_options(
    person_id: HubId, _: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[SendOptionOut]:
    """The systems this contact can be sent to, its state there, and why not when refused."""
    _contact(state, person_id)
    return [
        SendOptionOut(
            system=o.system, state=_state(o.state), can_send=o.refusal is None, refusal=o.refusal
        )
        for o in contact_sending.send_options(state.config, state.store, person_id)
    ]


@router.post("/people/{person_id}/send/{system}", response_model=ContactStateOut)
def send_contact(
    person_id: HubId,
    system: str,
    _: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> ContactStateOut:
    """Create the contact in ``system`` now ("send to ERP"); 422 with the reason when refused."""
    if system not in state.config.systems:
        raise HTTPException(404, f"no system named {system!r}")
    _contact(state, person_id)
    sent = contact_sending.send_contact(
        state.config, system, person_id, store=state.store, clock=state.clock
    )
    return _state(sent)


@router.get("/account-managers", response_model=AccountManagers)
def account_managers(
    _: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> AccountManagers:
    """The sales people a company's account manager may be set to."""
    allowed, systems = allowed_account_managers(state.config, state.store)
    return AccountManagers(
        items=[AccountManagerOut(id=c.record_id, name=c.name, email=c.email) for c in allowed],
        narrowed_by=systems,
    )
